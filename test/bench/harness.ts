import v8 from 'node:v8';
import vm from 'node:vm';
import { allocRecordColumns } from '../../src/schema/waveform.ts';
import type { SegmentContent } from '../../src/storage/segment.ts';
/** Small helpers shared by the benchmarks: medians over repeated runs and a printed table. */

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Runs `fn` `reps` times (after `warmup` discarded runs) and returns each result. */
export async function repeat<T>(reps: number, fn: (i: number) => Promise<T> | T, warmup = 1): Promise<T[]> {
  for (let i = 0; i < warmup; i++) await fn(-1 - i);
  const out: T[] = [];
  for (let i = 0; i < reps; i++) out.push(await fn(i));
  return out;
}

export interface Row {
  measure: string;
  value: string;
  reference: string;
  ratio?: string;
  goal?: string;
}

/** Prints a Markdown table (pasteable into README). */
export function printTable(title: string, rows: Row[]): void {
  const date = new Date().toISOString().slice(0, 10);
  console.log(`\n### ${title} (${date}, medians)\n`);
  console.log('| measure | value | reference (same run) | ratio | goal |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.measure} | ${r.value} | ${r.reference} | ${r.ratio ?? ''} | ${r.goal ?? ''} |`);
}

/**
 * Rate of a counter that advances in steps (acknowledgments released a segment at a time), from
 * samples `[ms, count]` taken every few milliseconds over a window: the count between the first
 * and the last step inside the window, over the time between them — whole step cycles only, so a
 * step just inside or just outside either end of the window does not move the figure by one
 * step's worth (with a 6 s window and 1.6 M-point segments, 0.27 M/s). `null` with fewer than two
 * steps (then only the whole window's count over its length is left: {@link windowRate}).
 */
export function stepAlignedRate(samples: ReadonlyArray<readonly [number, number]>): { perS: number; steps: number; spanMs: number } | null {
  let first = -1;
  let last = -1;
  let steps = 0;
  for (let k = 1; k < samples.length; k++) {
    if (samples[k]![1] === samples[k - 1]![1]) continue;
    if (first < 0) first = k;
    last = k;
    steps++;
  }
  if (steps < 2) return null;
  const [t0, a0] = samples[first]!;
  const [t1, a1] = samples[last]!;
  return { perS: ((a1 - a0) / (t1 - t0)) * 1000, steps: steps - 1, spanMs: t1 - t0 };
}

/** The whole window's count over its length (samples `[ms, count]`, first and last). */
export function windowRate(samples: ReadonlyArray<readonly [number, number]>): number {
  const [t0, a0] = samples[0]!;
  const [t1, a1] = samples[samples.length - 1]!;
  return ((a1 - a0) / (t1 - t0)) * 1000;
}

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/**
 * A full GC, then a pause for V8's background sweeper to unmap what it freed: before each timed
 * measurement, so that the garbage of the one before (hundreds of MB of fresh output) is not
 * freed inside it and charged to it.
 */
export async function settle(): Promise<void> {
  gc();
  await new Promise((r) => setTimeout(r, 100));
}

export const envInt = (name: string, dflt: number): number => (process.env[name] ? Number(process.env[name]) : dflt);

/**
 * A segment's content of `events` fixed-length waveforms back to back (timestamps 1 µs apart,
 * 8 channels, pseudo-random samples): the wave-pool fixture of the HDF5 and query benchmarks.
 */
export function fixedWaveContent(events: number, length: number, index = 0, t0UnixNs = 0n): SegmentContent {
  const r = allocRecordColumns(events);
  const samples = new Uint16Array(events * length);
  for (let i = 0; i < samples.length; i++) samples[i] = (i * 2654435761) >>> 18;
  for (let i = 0; i < events; i++) {
    r.timestamp[i] = BigInt(i) * 1_000_000n;
    r.channel[i] = i % 8;
    r.baseline[i] = 1000;
    r.event_id[i] = BigInt(i);
    r.dt[i] = 4;
    r.wave_offset[i] = BigInt(i * length);
    r.event_length[i] = length;
    r.time[i] = t0UnixNs + BigInt(i) * 1000n;
  }
  return { runId: 'b', index, software: 'bench', configJson: '{}', lineageJson: '{}', t0UnixNs, walSeqLast: 0n, scalars: [], waves: [{ stream: 'records', primary: true, dtNs: 4, records: r, samples, globalSampleOffset: 0n }], tables: [] };
}
