/**
 * Bench helper process: N live viewers of URL, each on its own WebSocket. Reads lines on stdin:
 * "on" subscribes every viewer (the bench's trend view), "off" unsubscribes them (their sockets
 * stay open); at end of stdin prints the frames received and exits. Prints "ready" on stderr
 * once every viewer has had a frame (this process's start-up is then over).
 */
import WebSocket from 'ws';

const [url, n] = [process.argv[2]!, Number(process.argv[3] ?? 1)];
const wsUrl = `${url.replace(/^http/, 'ws')}/live`;
const view = JSON.stringify({ type: 'subscribe', streams: ['plant.tags'], tags: ['tag1', 'tag2', 'tag3'], intervalMs: 100 });
const off = JSON.stringify({ type: 'subscribe', streams: [] });
let frames = 0;
const seen = new Set<number>();
const sockets = Array.from({ length: n }, (_, k) => {
  const ws = new WebSocket(wsUrl);
  ws.on('open', () => ws.send(view));
  ws.on('message', (_data, isBinary) => {
    if (!isBinary) return;
    frames++;
    if (!seen.has(k)) {
      seen.add(k);
      if (seen.size === n) process.stderr.write('ready\n');
    }
  });
  ws.on('error', (err) => {
    process.stderr.write(`viewer ${k}: ${err.message}\n`);
    process.exit(1);
  });
  return ws;
});
let buf = '';
process.stdin.on('data', (d: Buffer) => {
  buf += String(d);
  let i: number;
  while ((i = buf.indexOf('\n')) >= 0) {
    const line = buf.slice(0, i).trim();
    buf = buf.slice(i + 1);
    if (line === 'on' || line === 'off') for (const ws of sockets) ws.send(line === 'on' ? view : off);
  }
});
process.stdin.on('end', () => {
  for (const ws of sockets) ws.terminate();
  process.stdout.write(`${frames}\n`);
  process.exit(0);
});
