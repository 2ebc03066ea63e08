/**
 * Prints live statistics from a running daemon: frames and points per second per stream, and the
 * latest min/max of each watched tag.
 *
 *   npx daq run                                   # in one terminal
 *   node bin/run-ts.js examples/live-client/live-stats.ts http://127.0.0.1:7420 plant.tags tag0,tag1
 */
import { connectLive } from '../../src/index.ts';

const [url = 'http://127.0.0.1:7420', stream = 'plant.tags', tags = 'tag0,tag1'] = process.argv.slice(2);
const counts = new Map<string, { frames: number; points: number }>();
const latest = new Map<string, string>();

const sub = connectLive(url, {
  streams: [stream],
  tags: tags.split(','),
  intervalMs: 250,
  onState: (s, attempt) => console.error(`${new Date().toISOString()} ${s}${attempt ? ` (attempt ${attempt})` : ''}`),
}).subscribe({
  next: ({ stream: name, kind, batch }) => {
    const c = counts.get(name) ?? { frames: 0, points: 0 };
    c.frames++;
    c.points += batch.numRows;
    counts.set(name, c);
    if (kind === 'trend' && batch.numRows > 0) {
      const tag = batch.getChild('tag')!.toArray() as Uint32Array;
      const min = batch.getChild('min')!.toArray() as Float64Array;
      const max = batch.getChild('max')!.toArray() as Float64Array;
      for (let i = 0; i < tag.length; i++) latest.set(`tag#${tag[i]}`, `${min[i]!.toFixed(3)}..${max[i]!.toFixed(3)}`);
    }
  },
  error: (err: Error) => {
    console.error(err.message);
    process.exit(1);
  },
});

const timer = setInterval(() => {
  for (const [name, c] of counts) console.log(`${name}: ${c.frames} frames/s, ${c.points} points/s`);
  for (const [tag, range] of latest) console.log(`  ${tag} last bucket ${range}`);
  counts.clear();
}, 1000);

process.on('SIGINT', () => {
  clearInterval(timer);
  sub.unsubscribe();
});
