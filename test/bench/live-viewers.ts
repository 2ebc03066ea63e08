/** Bench helper process: N live viewers on URL until stdin closes; prints frames received. */
import { connectLive } from '../../src/live/client.ts';

const [url, n] = [process.argv[2]!, Number(process.argv[3] ?? 1)];
let frames = 0;
const seen = new Set<number>();
// "ready" once every viewer has its first frame: the bench measures only after this process's
// start-up (node, tsx, imports) is over, so it does not compete with the measured ingest.
const subs = Array.from({ length: n }, (_, k) =>
  connectLive(url, { streams: ['plant.tags'], tags: ['tag1', 'tag2', 'tag3'], intervalMs: 100 }).subscribe(() => {
    frames++;
    if (!seen.has(k)) {
      seen.add(k);
      if (seen.size === n) process.stderr.write('ready\n');
    }
  }),
);
process.stdin.resume();
process.stdin.on('end', () => {
  subs.forEach((s) => s.unsubscribe());
  process.stdout.write(`${frames}\n`);
  process.exit(0);
});
