import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { timingSafeEqual } from 'node:crypto';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import type { Subscription } from 'rxjs';
import { DaqError } from '../errors.ts';
import type { LiveFrame, LiveHub, LiveViewOptions } from './live-hub.ts';
import { FrameEncoder } from './ipc.ts';

export interface LiveServerOptions {
  /** Bind address. Anything but loopback requires `token`. Default 127.0.0.1. */
  host?: string;
  /** Port; 0 picks a free one. Default 7420. */
  port?: number;
  /** Shared secret (≥ 16 chars): `Authorization: Bearer <token>` or `?token=<token>`. */
  token?: string;
  hub: LiveHub;
  status: () => unknown;
  metrics: () => Promise<string> | string;
  /** Bytes a viewer may have unsent before its updates are dropped (default 4 MiB). */
  maxClientBufferBytes?: number;
}

export interface LiveServer {
  url: string;
  port: number;
  /** Per-viewer counters. */
  stats(): { clients: number; sent_frames: number; dropped_frames: number };
  close(): Promise<void>;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/** Every file the server will ever send: nothing outside this map is reachable (no path traversal). */
function assets(): Map<string, { file: string; type: string }> {
  // Package entry points (their export maps hide package.json): apache-arrow's sits at its root,
  // uplot's in dist/.
  const arrowDir = path.dirname(require.resolve('apache-arrow'));
  const uplotDir = path.dirname(path.dirname(require.resolve('uplot')));
  return new Map([
    ['/', { file: path.join(here, 'web/index.html'), type: 'text/html; charset=utf-8' }],
    ['/assets/app.js', { file: path.join(here, 'web/app.js'), type: 'text/javascript; charset=utf-8' }],
    ['/assets/style.css', { file: path.join(here, 'web/style.css'), type: 'text/css; charset=utf-8' }],
    ['/assets/arrow.js', { file: path.join(arrowDir, 'Arrow.es2015.min.js'), type: 'text/javascript; charset=utf-8' }],
    ['/assets/uplot.js', { file: path.join(uplotDir, 'dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' }],
    ['/assets/uplot.css', { file: path.join(uplotDir, 'dist/uPlot.min.css'), type: 'text/css; charset=utf-8' }],
  ]);
}

/**
 * `payload` as one WebSocket message from a server (RFC 6455 §5.2: FIN, binary opcode, unmasked):
 * the header (2, 4 or 10 bytes) and the payload in one buffer, one copy per frame.
 */
export function wsBinaryMessage(payload: Uint8Array): Buffer {
  const n = payload.byteLength;
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(head + n);
  out[0] = 0x82; // FIN + opcode 2 (binary)
  if (head === 2) out[1] = n;
  else if (head === 4) {
    out[1] = 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = 127;
    out.writeBigUInt64BE(BigInt(n), 2);
  }
  out.set(payload, head);
  return out;
}

/** The parts of a ws WebSocket that sendFrame relies on (ws 8 internals). */
interface WsInternals {
  _socket?: { writable: boolean; write(b: Uint8Array): boolean } | null;
  _sender?: { _state?: number; _queue?: unknown[] } | null;
  extensions: string;
}

/**
 * Sends a message framed by wsBinaryMessage to an open viewer. ws.send(payload) would frame it
 * again for every viewer and write header and payload as two chunks (a writev through Node's
 * corked stream): 65 µs per 67 KB frame on this VM against 40 µs for one write of the framed bytes,
 * which over ten viewers is most of a tick's serving time. So, while ws's sender is idle (it
 * queues only while compressing or reading a Blob; the server negotiates no compression), the
 * framed bytes go straight to the socket, in order with anything ws writes (both synchronous);
 * otherwise, or if ws's internals are not as expected, through ws.send.
 */
export function sendFrame(ws: WebSocket, message: Buffer): void {
  const w = ws as unknown as WsInternals;
  const socket = w._socket;
  const sender = w._sender;
  if (socket && socket.writable && sender && sender._state === 0 && sender._queue?.length === 0 && w.extensions === '') {
    socket.write(message);
    return;
  }
  const head = message[1]! === 127 ? 10 : message[1]! === 126 ? 4 : 2;
  ws.send(message.subarray(head));
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

function tokenOk(expected: string | undefined, req: http.IncomingMessage, url: URL): boolean {
  if (!expected) return true;
  const auth = req.headers.authorization;
  const given = auth?.startsWith('Bearer ') ? auth.slice(7) : url.searchParams.get('token') ?? '';
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A subscribe message from a viewer. */
interface SubscribeMsg extends LiveViewOptions {
  type: 'subscribe';
  streams: string[];
}

/**
 * The daemon's HTTP server: `/` the live page, `/assets/*` its bundled files (an allow-list;
 * works offline), `/status` JSON, `/metrics` Prometheus text, `/streams` the watchable streams,
 * and `/live`, a WebSocket carrying Arrow IPC. Protocol: the client sends
 * `{"type":"subscribe","streams":[...],"tags":[...],"pixels":800,"intervalMs":250}` (again to
 * change it); the server sends binary frames, each one self-contained Arrow IPC stream (schema +
 * one batch) whose schema metadata names `stream` and `kind` (`trend`: tag, t_ms, min, max;
 * `scope`: channel, x_ns, min, max), and text frames `{"type":"error","message":...}`.
 * A viewer whose socket has more than `maxClientBufferBytes` unsent loses that update (counted):
 * a slow or stalled viewer costs only its own frames.
 */
export async function startServer(opts: LiveServerOptions): Promise<LiveServer> {
  const host = opts.host ?? '127.0.0.1';
  if (!isLoopback(host) && !opts.token) {
    throw new DaqError('DAQ_ERR_LIVE_AUTH', `http.host is "${host}", beyond loopback: set http.token (16+ characters) so that viewers must authenticate`, {
      details: { field: 'http.token' },
    });
  }
  const files = assets();
  const maxBuffer = opts.maxClientBufferBytes ?? 4 * 1024 * 1024;
  let sent = 0;
  let dropped = 0;

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (!tokenOk(opts.token, req, url)) {
      res.writeHead(401, { 'content-type': 'text/plain' }).end('DAQ_ERR_LIVE_AUTH: a valid token is required (Authorization: Bearer or ?token=)\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    try {
      if (url.pathname === '/status') {
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(opts.status(), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
        return;
      }
      if (url.pathname === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(await opts.metrics());
        return;
      }
      if (url.pathname === '/streams') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(opts.hub.streams()));
        return;
      }
      const asset = files.get(url.pathname);
      if (!asset) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      const body = await fs.promises.readFile(asset.file);
      res.writeHead(200, { 'content-type': asset.type, 'content-length': body.length, 'cache-control': 'no-cache' }).end(req.method === 'HEAD' ? undefined : body);
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`);
    }
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false });
  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/live' || !tokenOk(opts.token, req, url)) {
      socket.end(url.pathname !== '/live' ? 'HTTP/1.1 404 Not Found\r\n\r\n' : 'HTTP/1.1 401 Unauthorized\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => serveViewer(ws));
  });

  // A frame shared by several viewers (same view, same data) is encoded once, and framed as one
  // WebSocket message once: each viewer then gets one socket write of the same bytes (see sendFrame).
  const encoded = new WeakMap<LiveFrame, Buffer>();
  const encoder = new FrameEncoder();
  const framedMessage = (frame: LiveFrame): Buffer => {
    let bytes = encoded.get(frame);
    if (!bytes) encoded.set(frame, (bytes = wsBinaryMessage(frame.ipc ?? encoder.encode(frame.batch))));
    return bytes;
  };
  const viewers = new Set<WebSocket>();
  const serveViewer = (ws: WebSocket) => {
    viewers.add(ws);
    let subs: Subscription[] = [];
    const unsubscribe = () => {
      subs.forEach((s) => s.unsubscribe());
      subs = [];
    };
    ws.on('message', (data, isBinary) => {
      let msg: SubscribeMsg;
      try {
        if (isBinary) throw new Error('expected a JSON text message');
        msg = JSON.parse(String(data)) as SubscribeMsg;
        if (msg.type !== 'subscribe' || !Array.isArray(msg.streams)) throw new Error('expected {"type":"subscribe","streams":[...]}');
      } catch (err) {
        ws.send(JSON.stringify({ type: 'error', message: (err as Error).message }));
        return;
      }
      unsubscribe();
      for (const name of msg.streams) {
        try {
          const o: LiveViewOptions = {};
          if (msg.tags) o.tags = msg.tags;
          if (msg.pixels) o.pixels = msg.pixels;
          if (msg.intervalMs) o.intervalMs = msg.intervalMs;
          subs.push(
            opts.hub.stream$(name, o).subscribe((frame) => {
              if (ws.readyState !== ws.OPEN) return;
              if (ws.bufferedAmount > maxBuffer) {
                dropped++;
                return;
              }
              sent++;
              sendFrame(ws, framedMessage(frame));
            }),
          );
        } catch (err) {
          ws.send(JSON.stringify({ type: 'error', message: (err as Error).message }));
        }
      }
    });
    ws.on('close', () => {
      unsubscribe();
      viewers.delete(ws);
    });
    ws.on('error', () => ws.terminate());
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(new DaqError('DAQ_ERR_USAGE', `cannot listen on ${host}:${opts.port ?? 7420}: ${err.message} (use --port to choose another)`, { cause: err })),
    );
    server.listen(opts.port ?? 7420, host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}`,
    port,
    stats: () => ({ clients: viewers.size, sent_frames: sent, dropped_frames: dropped }),
    async close() {
      for (const ws of viewers) ws.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
