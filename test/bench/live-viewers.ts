/** Bench helper process: N live viewers on URL until stdin closes; prints frames received. */
import { connectLive } from '../../src/live/client.ts';

const [url, n] = [process.argv[2]!, Number(process.argv[3] ?? 1)];
let frames = 0;
const subs = Array.from({ length: n }, () =>
  connectLive(url, { streams: ['plant.tags'], tags: ['tag1', 'tag2', 'tag3'], intervalMs: 100 }).subscribe(() => frames++),
);
process.stdin.resume();
process.stdin.on('end', () => {
  subs.forEach((s) => s.unsubscribe());
  process.stdout.write(`${frames}\n`);
  process.exit(0);
});
