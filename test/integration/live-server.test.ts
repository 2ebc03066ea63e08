import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { firstValueFrom, filter, take, toArray } from 'rxjs';
import * as wsModule from 'ws';
import WebSocket, { WebSocketServer } from 'ws';
import { sendFrame, startServer, wsBinaryMessage } from '../../src/live/server.ts';
import type { LiveServer } from '../../src/live/server.ts';
import { connectLive } from '../../src/live/client.ts';
import { isDaqError } from '../../src/errors.ts';
import { feedHub, pushScalars, pushWaves } from '../helpers/live-feed.ts';

let server: LiveServer | null = null;
let timer: ReturnType<typeof setInterval> | null = null;
afterEach(async () => {
  if (timer) clearInterval(timer);
  await server?.close();
  server = null;
});

const status = () => ({ run_id: 'r', state: 'running' });

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const r = await fetch(url, { headers });
  return { status: r.status, body: await r.text() };
}

/** Raw HTTP request without URL normalisation (fetch would resolve `..`). */
function rawGet(port: number, target: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let out = '';
    s.on('data', (d) => (out += d));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

describe('live server', () => {
  it('streams decimated Arrow frames whose values match what was pushed', async () => {
    const hub = feedHub();
    server = await startServer({ port: 0, hub, status, metrics: () => '# none\n' });
    let step = 0;
    const t0 = Date.now();
    timer = setInterval(() => {
      pushScalars(hub, step++, t0);
      pushWaves(hub, 2000);
    }, 5);
    const frames = await firstValueFrom(
      connectLive(server.url, { streams: ['p.tags', 'records'], tags: ['t2'], pixels: 100, intervalMs: 50 }).pipe(take(6), toArray()),
    );
    const trend = frames.filter((f) => f.kind === 'trend');
    const scope = frames.filter((f) => f.kind === 'scope');
    expect(trend.length).toBeGreaterThan(0);
    expect(scope.length).toBeGreaterThan(0);
    const last = trend.at(-1)!.batch;
    const tags = last.getChild('tag')!.toArray() as Uint32Array;
    const max = last.getChild('max')!.toArray() as Float64Array;
    const min = last.getChild('min')!.toArray() as Float64Array;
    expect(new Set(tags)).toEqual(new Set([2]));
    expect(tags.length).toBeLessThanOrEqual(100);
    // t2 at step k is 2000 + k: every bucket lies within what was pushed.
    expect(Math.min(...min)).toBeGreaterThanOrEqual(2000);
    expect(Math.max(...max)).toBeLessThan(2000 + step);
    const sc = scope.at(-1)!.batch;
    const ch = sc.getChild('channel')!.toArray() as Int16Array;
    const smax = sc.getChild('max')!.toArray() as Float64Array;
    expect(Math.max(...smax.filter((_, i) => ch[i] === 0))).toBe(2000); // the triangle's peak survives decimation
    expect(ch.filter((c) => c === 0).length).toBe(100);
  });

  it('frames every payload size as ws does (2, 4 and 10 byte headers)', () => {
    // ws's own framing (Sender.frame: exported by ws, not in its type declarations) as the reference.
    const frame = (wsModule as unknown as { Sender: { frame(d: Buffer, o: object): Buffer[] } }).Sender.frame;
    for (const n of [0, 1, 125, 126, 1000, 65_535, 65_536, 200_000]) {
      const payload = Buffer.alloc(n, n & 0xff);
      const want = Buffer.concat(frame(payload, { fin: true, rsv1: false, opcode: 2, mask: false, readOnly: true }));
      expect(wsBinaryMessage(payload).equals(want)).toBe(true);
    }
  });

  it('several viewers of one view get the same frames, small and over 64 KiB, each with the values pushed', async () => {
    const hub = feedHub();
    server = await startServer({ port: 0, hub, status, metrics: () => '' });
    const t0 = Date.now();
    let step = 0;
    // 1 tag x 100 pixels: a frame under 64 KiB; 3 tags x 1200 pixels (1200 points each): over.
    const views = [
      { tags: ['t2'], pixels: 100, rows: 100 },
      { tags: ['t0', 't1', 't2'], pixels: 1200, rows: 3600 },
    ];
    for (const v of views) {
      const got = Promise.all(
        [0, 1, 2].map(() =>
          firstValueFrom(connectLive(server!.url, { streams: ['p.tags'], tags: v.tags, pixels: v.pixels, intervalMs: 20 }).pipe(filter((f) => f.batch.numRows === v.rows))),
        ),
      );
      await new Promise((r) => setTimeout(r, 100)); // subscribed: rings exist
      const first = step;
      for (let k = 0; k < 1200; k++) pushScalars(hub, step++, t0);
      const frames = await got;
      const ipcBytes = frames.map((f) => f.batch.getChild('max')!.toArray() as Float64Array);
      for (const b of ipcBytes) expect([...b]).toEqual([...ipcBytes[0]!]);
      const b = frames[0]!.batch;
      const tag = b.getChild('tag')!.toArray() as Uint32Array;
      const min = b.getChild('min')!.toArray() as Float64Array;
      const max = b.getChild('max')!.toArray() as Float64Array;
      for (const name of v.tags) {
        const id = Number(name.slice(1));
        const mins = [...min].filter((_, i) => tag[i] === id);
        const maxs = [...max].filter((_, i) => tag[i] === id);
        expect(mins.length).toBe(v.pixels);
        // Tag i at step k is i*1000 + k: the buckets cover steps first .. first+1199 in order.
        expect(mins[0]).toBe(id * 1000 + first);
        expect(maxs.at(-1)).toBe(id * 1000 + first + 1199);
        for (let i = 1; i < mins.length; i++) expect(mins[i]).toBeGreaterThan(maxs[i - 1]!);
      }
    }
  });

  it('sendFrame falls back to ws.send while ws is not idle', async () => {
    const hub = feedHub();
    server = await startServer({ port: 0, hub, status, metrics: () => '' });
    const wss = new WebSocketServer({ port: 0 });
    await new Promise((r) => wss.once('listening', r));
    const port = (wss.address() as { port: number }).port;
    const got = new Promise<Buffer>((resolve) => {
      const c = new WebSocket(`ws://127.0.0.1:${port}`);
      c.on('message', (d: Buffer) => {
        resolve(d);
        c.close();
      });
    });
    const sock = await new Promise<WebSocket>((r) => wss.on('connection', r));
    const payload = Buffer.from('abcdefghij'.repeat(20));
    const sender = (sock as unknown as { _sender: { _state: number } })._sender;
    sender._state = 1; // as while ws compresses: sendFrame must not write past ws's queue
    const sent: unknown[] = [];
    const orig = sock.send.bind(sock);
    sock.send = ((d: unknown) => sent.push(d)) as typeof sock.send;
    sendFrame(sock, wsBinaryMessage(payload));
    expect(sent.length).toBe(1);
    expect(Buffer.from(sent[0] as Uint8Array).equals(payload)).toBe(true);
    sender._state = 0;
    sendFrame(sock, wsBinaryMessage(payload)); // idle: straight to the socket, framed as ws would
    expect(sent.length).toBe(1);
    expect((await got).equals(payload)).toBe(true);
    sock.send = orig;
    await new Promise<void>((r) => wss.close(() => r()));
  });

  it('serves /status, /metrics and only allow-listed files (no path traversal)', async () => {
    server = await startServer({ port: 0, hub: feedHub(), status, metrics: () => 'daq_up 1\n' });
    expect(JSON.parse((await get(`${server.url}/status`)).body)).toEqual({ run_id: 'r', state: 'running' });
    expect((await get(`${server.url}/metrics`)).body).toBe('daq_up 1\n');
    expect((await get(`${server.url}/`)).body).toContain('<title>daq');
    expect((await get(`${server.url}/assets/uplot.js`)).status).toBe(200);
    for (const target of ['/assets/../package.json', '/assets/..%2f..%2fpackage.json', '/assets/%2e%2e/%2e%2e/package.json', '//etc/passwd', '/assets//etc/passwd', '/src/live/server.ts', '/node_modules/uplot/package.json']) {
      const res = await rawGet(server.port, target);
      expect(res, target).toMatch(/^HTTP\/1\.1 404/);
      expect(res).not.toContain('"name"');
    }
  });

  it('requires a token beyond loopback, and checks it on every route and the WebSocket', async () => {
    await expect(startServer({ host: '0.0.0.0', port: 0, hub: feedHub(), status, metrics: () => '' })).rejects.toSatisfy((e) => isDaqError(e, 'DAQ_ERR_LIVE_AUTH'));
    const token = 'sixteen-chars-secret';
    server = await startServer({ host: '0.0.0.0', port: 0, token, hub: feedHub(), status, metrics: () => '' });
    const base = `http://127.0.0.1:${server.port}`;
    expect((await get(`${base}/status`)).status).toBe(401);
    expect((await get(`${base}/`)).status).toBe(401);
    expect((await get(`${base}/status?token=wrong-token-of-16`)).status).toBe(401);
    expect((await get(`${base}/status?token=${token}`)).status).toBe(200);
    expect((await get(`${base}/metrics`, { authorization: `Bearer ${token}` })).status).toBe(200);
    const upgrade = await rawGet(server.port, '/live');
    expect(upgrade).toMatch(/^HTTP\/1\.1 (401|400|426)/);
    const hub = feedHub();
    await server.close();
    server = await startServer({ host: '0.0.0.0', port: 0, token, hub, status, metrics: () => '' });
    timer = setInterval(() => pushWaves(hub, 500), 10);
    const frame = await firstValueFrom(connectLive(`http://127.0.0.1:${server.port}`, { streams: ['records'], token, intervalMs: 30 }));
    expect(frame.kind).toBe('scope');
  });

  it('a stalled viewer only loses its own frames: drops counted, memory bounded, the pusher unaffected', async () => {
    const hub = feedHub();
    server = await startServer({ port: 0, hub, status, metrics: () => '', maxClientBufferBytes: 256 * 1024 });
    // A raw WebSocket client that subscribes and then never reads.
    const sock = net.connect(server.port, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write(['GET /live HTTP/1.1', 'Host: x', 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13', '', ''].join('\r\n'));
    await new Promise<void>((r) => sock.once('data', () => r()));
    const payload = Buffer.from(JSON.stringify({ type: 'subscribe', streams: ['records'], pixels: 10000, intervalMs: 20 }));
    const mask = Buffer.from([1, 2, 3, 4]);
    const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
    sock.write(Buffer.concat([Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 255]), mask, masked]));
    sock.pause();
    // A healthy viewer beside it.
    const healthy: number[] = [];
    const sub = connectLive(server.url, { streams: ['records'], pixels: 10000, intervalMs: 20 })
      .pipe(filter((f) => f.kind === 'scope'))
      .subscribe(() => healthy.push(Date.now()));
    const before = process.memoryUsage().rss;
    let pushes = 0;
    const t = Date.now();
    await new Promise<void>((resolve) => {
      timer = setInterval(() => {
        pushWaves(hub, 1000 + (pushes++ % 100), 200_000);
        if (Date.now() - t > 2500) resolve();
      }, 5);
    });
    const stats = server.stats();
    expect(stats.dropped_frames).toBeGreaterThan(10);
    // The healthy viewer kept receiving while the stalled one was dropped.
    expect(healthy.length).toBeGreaterThan(5);
    // Every push was taken by the hub at once (push never waits for a viewer): none blocked or lost.
    expect(pushes).toBeGreaterThan(20);
    expect(hub.pushedBatches).toBe(pushes);
    // Bounded: the stalled socket's backlog is capped, so memory does not grow with frames sent.
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * 1024 * 1024);
    sub.unsubscribe();
    sock.destroy();
  });
});
