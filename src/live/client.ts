import { Observable } from 'rxjs';
import { tableFromIPC } from 'apache-arrow';
import type { LiveFrame, LiveViewOptions } from './live-hub.ts';

export interface ConnectLiveOptions extends LiveViewOptions {
  streams: string[];
  token?: string;
  /** First reconnect delay (ms), doubled after each failure up to `maxBackoffMs`. Default 250. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Called on each (re)connection attempt outcome, for logging. */
  onState?: (state: 'open' | 'closed', attempt: number) => void;
}

interface WsLike {
  binaryType: string;
  readyState: number;
  send(data: string): void;
  close(): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
}

async function webSocketClass(): Promise<new (url: string) => WsLike> {
  const g = (globalThis as { WebSocket?: new (url: string) => WsLike }).WebSocket;
  if (g) return g;
  const ws = await import('ws');
  return ws.default as unknown as new (url: string) => WsLike;
}

function toBytes(data: unknown): Uint8Array | null {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data as Buffer[]));
  return null;
}

/**
 * Subscribes to a running daemon's live view (`ws://host:port/live`, or the `http://` URL of the
 * daemon): an Observable of display frames (Arrow RecordBatches, min/max decimated), in Node (via
 * `ws`) and in the browser. It reconnects with exponential backoff until unsubscribed.
 *
 * ```ts
 * connectLive('http://127.0.0.1:7420', { streams: ['plant.tags'], tags: ['tag0'] })
 *   .subscribe(({ stream, kind, batch }) => console.log(stream, kind, batch.numRows));
 * ```
 */
export function connectLive(url: string, opts: ConnectLiveOptions): Observable<LiveFrame> {
  const wsUrl = new URL(url);
  if (wsUrl.protocol === 'http:') wsUrl.protocol = 'ws:';
  if (wsUrl.protocol === 'https:') wsUrl.protocol = 'wss:';
  if (wsUrl.pathname === '/' || wsUrl.pathname === '') wsUrl.pathname = '/live';
  if (opts.token) wsUrl.searchParams.set('token', opts.token);
  const base = opts.backoffMs ?? 250;
  const cap = opts.maxBackoffMs ?? 10_000;

  return new Observable<LiveFrame>((subscriber) => {
    let ws: WsLike | null = null;
    let stopped = false;
    let attempt = 0;
    let timer: ReturnType<typeof setTimeout> | null = null;

    const connect = async () => {
      const WS = await webSocketClass();
      if (stopped) return;
      const sock = new WS(wsUrl.toString());
      ws = sock;
      sock.binaryType = 'arraybuffer';
      sock.onopen = () => {
        attempt = 0;
        opts.onState?.('open', attempt);
        const msg: Record<string, unknown> = { type: 'subscribe', streams: opts.streams };
        if (opts.tags) msg['tags'] = opts.tags;
        if (opts.pixels) msg['pixels'] = opts.pixels;
        if (opts.intervalMs) msg['intervalMs'] = opts.intervalMs;
        sock.send(JSON.stringify(msg));
      };
      sock.onmessage = (ev) => {
        const bytes = toBytes(ev.data);
        if (!bytes) {
          const m = JSON.parse(String(ev.data)) as { type: string; message?: string };
          if (m.type === 'error') subscriber.error(new Error(`live view: ${m.message}`));
          return;
        }
        const table = tableFromIPC(bytes);
        const stream = table.schema.metadata.get('stream') ?? '';
        const kind = (table.schema.metadata.get('kind') ?? 'trend') as LiveFrame['kind'];
        for (const batch of table.batches) subscriber.next({ stream, kind, batch });
      };
      sock.onerror = () => undefined;
      sock.onclose = () => {
        opts.onState?.('closed', attempt);
        if (stopped) return;
        const delay = Math.min(cap, base * 2 ** attempt++);
        timer = setTimeout(() => void connect(), delay);
      };
    };
    void connect();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      ws?.close();
    };
  });
}
