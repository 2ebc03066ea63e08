/**
 * Trace chunk iteration vs a plain sequential fs read of the same file, same run.
 *
 *   node bin/run-ts.js test/bench/trace.bench.ts
 *   TRACE_BENCH_GB=8 RUNS=3 node bin/run-ts.js test/bench/trace.bench.ts
 *
 * The file (default 2 GiB float32 .npy) is generated once in os.tmpdir() and deleted at the end.
 * Page cache: the file was just written, so on a machine with more free RAM than the file every
 * measurement reads from the page cache, not the disk — both columns measure the same thing and
 * the order of raw/iter alternates each run so neither is favoured. With a file larger than RAM
 * both become disk-bound.
 */
import { closeSync, fsyncSync, openSync, read, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTrace } from '../../src/query/trace.ts';
import { npyHeaderBytes } from '../../src/query/loaders/npy-format.ts';

const GIB = 1024 ** 3;
const bytes = Math.round(Number(process.env.TRACE_BENCH_GB ?? 2) * GIB / 4) * 4;
const runs = Number(process.env.RUNS ?? 5);
const CHUNK = 1 << 20; // samples (4 MiB of float32)
const file = join(tmpdir(), `daq-trace-bench-${process.pid}.npy`);

function generate(): void {
  const fd = openSync(file, 'w');
  writeSync(fd, npyHeaderBytes('<f4', [bytes / 4]));
  const piece = new Float32Array(4 << 20);
  for (let i = 0; i < piece.length; i++) piece[i] = Math.sin(i / 100);
  for (let done = 0; done < bytes; done += piece.byteLength) {
    writeSync(fd, piece, 0, Math.min(piece.byteLength, bytes - done));
  }
  fsyncSync(fd); // so write-back does not run during the measurements
  closeSync(fd);
}

let peakRss = 0;
const sampleRss = (): void => { peakRss = Math.max(peakRss, process.memoryUsage.rss()); };

async function rawRead(): Promise<number> {
  const fd = openSync(file, 'r');
  const buf = new Uint8Array(CHUNK * 4);
  let pos = 128;
  let sink = 0;
  for (;;) {
    const n = await new Promise<number>((res, rej) => read(fd, buf, 0, buf.length, pos, (e, k) => (e ? rej(e) : res(k))));
    if (n === 0) break;
    sink += buf[0]!;
    pos += n;
    sampleRss();
  }
  closeSync(fd);
  return sink;
}

async function iterate(overlap: number): Promise<number> {
  const trace = await loadTrace(file, { sampleRate: 1e9 });
  let sink = 0;
  for await (const { data } of trace.iterChunks(CHUNK, { overlap })) {
    sink += data[0] as number;
    sampleRss();
  }
  await trace.close();
  return sink;
}

async function time(fn: () => Promise<number>): Promise<{ mbps: number; rssMiB: number }> {
  peakRss = process.memoryUsage.rss();
  const t0 = process.hrtime.bigint();
  await fn();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return { mbps: bytes / 1e6 / s, rssMiB: peakRss / 2 ** 20 };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const rss0 = process.memoryUsage.rss() / 2 ** 20;
  const t0 = Date.now();
  generate();
  console.log(`RSS before generating: ${rss0.toFixed(0)} MiB, after: ${(process.memoryUsage.rss() / 2 ** 20).toFixed(0)} MiB`);
  console.log(`generated ${(bytes / GIB).toFixed(2)} GiB in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${file}`);
  const cases: [string, () => Promise<number>][] = [
    ['raw fs.read 4 MiB sequential (reference)', rawRead],
    ['trace.iterChunks(1Mi) overlap 0', () => iterate(0)],
    ['trace.iterChunks(1Mi) overlap 512Ki', () => iterate(CHUNK / 2)],
  ];
  const results = new Map<string, { mbps: number[]; rss: number[] }>(cases.map(([n]) => [n, { mbps: [], rss: [] }]));
  try {
    await rawRead(); // warm: make sure the whole file is equally cached for every case
    for (let r = 0; r < runs; r++) {
      const order = r % 2 === 0 ? cases : [...cases].reverse();
      for (const [name, fn] of order) {
        const { mbps, rssMiB } = await time(fn);
        results.get(name)!.mbps.push(mbps);
        results.get(name)!.rss.push(rssMiB);
      }
    }
  } finally {
    rmSync(file, { force: true });
  }
  console.log(`\nmedians of ${runs} runs, ${(bytes / GIB).toFixed(2)} GiB file (page cache, see header)`);
  console.log('case'.padEnd(44) + 'MB/s'.padStart(10) + 'peak RSS MiB'.padStart(15) + '  vs raw');
  const ref = median(results.get(cases[0]![0])!.mbps);
  for (const [name] of cases) {
    const { mbps, rss } = results.get(name)!;
    console.log(name.padEnd(44) + median(mbps).toFixed(0).padStart(10) + median(rss).toFixed(0).padStart(15) + `  ${(median(mbps) / ref).toFixed(2)}×`);
  }
  for (const [name] of cases) console.log(name, results.get(name)!.mbps.map((x) => x.toFixed(0)).join(" "));
  console.log(`process max RSS over the whole run: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
}

await main();
