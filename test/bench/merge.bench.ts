/**
 * StreamingMerge throughput: k = 2, 8, 64 inputs over N records in total (BENCH_RECORDS, default
 * 10 M), records/s merged and GB/s of samples moved, beside a plain TypedArray.set copy of the same
 * bytes (samples + record columns) measured in the same run.
 * `node bin/run-ts.js test/bench/merge.bench.ts`; BENCH_REPS runs per figure (median), BENCH_CASES
 * picks cases by `k/block` (e.g. `BENCH_CASES=2/1,8/1` for the interleaved ones). Each case runs the
 * merge's paths side by side, their reps alternating in one process so machine noise hits them
 * alike (each after a full GC, so none pays for the garbage of the rep before). A path is a kernel
 * — `native` (src/merge/native, built by `npm ci`), `wasm` (WebAssembly), `js`, or `auto` (the
 * default: picks by run length, and takes the native kernel where it is built, else WebAssembly's;
 * `DAQ_MERGE_NATIVE=0` makes it WebAssembly's) — and a consumer: none (takes each output batch as
 * soon as it is complete, `drain(sink)`, and gives it back, `recycle`), `-fresh` (does not give
 * batches back: every output batch in new buffers) or `-borrow` (borrows each batch for the length
 * of the sink call: no copy out of the kernel). Default: wasm, wasm-borrow, js, auto, auto-fresh,
 * auto-borrow; BENCH_PATHS picks others (e.g. `BENCH_PATHS=native-borrow,wasm-borrow`).
 * BENCH_BATCH sets rows per input batch (8192), BENCH_OUT_ROWS and BENCH_OUT_SAMPLES the output
 * batch limits (maxOutputRows, maxOutputSamples: the merge's defaults, 8192 and 1 Mi), BENCH_CHUNK_ROWS
 * the kernel's chunk rows (kernelChunkRows; by default the merge's own, which depends on k).
 * BENCH_BREAKDOWN=1 also prints, per path, where a record's time goes: push (of it the kernel's
 * check), drain (of it the kernel's chunk copies in and its copies out), in ns per record over
 * every rep (the timers themselves cost a little).
 * Beside the TypedArray.set reference, each case runs a native peer on the same events
 * (peers/merge-native.c, built with the system's `cc -O3 -march=native`: the same k-way merge in C,
 * each input one contiguous array, no checks, output into one reused area, software prefetch) and
 * prints its records/s, and the merge's ratio to it; BENCH_NATIVE=0 skips it (it is skipped, with a
 * message, where there is no C compiler: `apt-get install gcc`), BENCH_NATIVE_AHEAD=0 builds it
 * without prefetch (default: 8 rows ahead).
 */
import { StreamingMerge } from '../../src/merge/streaming-merge.ts';
import { MergeKernel } from '../../src/merge/wasm-kernel.ts';
import { nativeKernel, NativeMergeKernel } from '../../src/merge/native-kernel.ts';
import { allocRecordColumns, makeRecordsBatch, RECORD_ROW_BYTES } from '../../src/schema/waveform.ts';
import type { WaveBatch } from '../../src/schema/batch.ts';
import { Xorshift } from '../../src/instruments/rng.ts';
import { envInt, median, printTable, repeat, settle } from './harness.ts';
import { nativeMergeSeconds } from './peers/merge-native.ts';

const REPS = envInt('BENCH_REPS', 3);
const N = envInt('BENCH_RECORDS', 10_000_000);
const MEAN_LEN = envInt('BENCH_MEAN_LEN', 32);
const BATCH = envInt('BENCH_BATCH', 8192);
const OUT_ROWS = envInt('BENCH_OUT_ROWS', 8192);
const OUT_SAMPLES = envInt('BENCH_OUT_SAMPLES', 1 << 20);
const CHUNK_ROWS = process.env['BENCH_CHUNK_ROWS'] ? envInt('BENCH_CHUNK_ROWS', 0) : undefined;
const NATIVE = process.env['BENCH_NATIVE'] !== '0';

/** k inputs, each a list of sorted batches; timestamps from a Poisson process per input, so inputs interleave at random. */
function makeInputs(k: number, block: number): { inputs: WaveBatch[][]; samples: number } {
  const rng = new Xorshift(k);
  const per = Math.floor(N / k);
  let totalSamples = 0;
  const inputs: WaveBatch[][] = [];
  for (let s = 0; s < k; s++) {
    const batches: WaveBatch[] = [];
    let t = 0;
    for (let start = 0; start < per; start += BATCH) {
      const n = Math.min(BATCH, per - start);
      const c = allocRecordColumns(n);
      let off = 0;
      for (let i = 0; i < n; i++) {
        // block = 1: inputs interleave event by event; block = B: in bursts of B events.
        const g = start + i;
        t = block === 1 ? t + 1 + Math.floor(rng.exp(1000)) : (Math.floor(g / block) * k + s) * block * 1000 + (g % block);
        const len = 1 + Math.floor(rng.next() * (2 * MEAN_LEN - 1));
        c.timestamp[i] = BigInt(t);
        c.channel[i] = s;
        c.event_length[i] = len;
        c.wave_offset[i] = BigInt(off);
        off += len;
      }
      totalSamples += off;
      const samples = new Uint16Array(off);
      for (let i = 0; i < off; i += 64) samples[i] = i;
      batches.push({ kind: 'waveform', stream: `in${s}`, batch: makeRecordsBatch(c), samples });
    }
    inputs.push(batches);
  }
  return { inputs, samples: totalSamples };
}

/**
 * `auto-fresh`: auto, but the consumer keeps its output batches (fresh buffers for every batch);
 * `auto-borrow`: auto, the consumer borrows each batch (`drain(sink, { borrow: true })`: done with
 * it when the sink returns, as `daq merge` is), so the kernel hands out views of its output area.
 */
type Kernel = 'native' | 'wasm' | 'js' | 'auto';
type Path = Kernel | `${Kernel}-fresh` | `${Kernel}-borrow`;
const BREAKDOWN = process.env['BENCH_BREAKDOWN'] === '1';
/** BENCH_BREAKDOWN: ms spent per part, per path, over every rep of a case. */
const parts = { push: 0, check: 0, copyIn: 0, drain: 0, copyOut: 0, run: 0, records: 0 };
if (BREAKDOWN) {
  for (const [cls, method, part] of [[MergeKernel, 'copyIn', 'check'], [MergeKernel, 'copyRows', 'copyIn'], [MergeKernel, 'take', 'copyOut'], [NativeMergeKernel, 'copyIn', 'check'], [NativeMergeKernel, 'take', 'copyOut'], [NativeMergeKernel, 'run', 'run']] as const) {
    const proto = cls.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
    const f = proto[method]!;
    proto[method] = function (this: unknown, ...a: unknown[]) {
      const t = performance.now();
      try {
        return f.apply(this, a);
      } finally {
        parts[part] += performance.now() - t;
      }
    };
  }
}
const PATHS = (process.env['BENCH_PATHS']?.split(',') ?? ['wasm', 'wasm-borrow', 'js', 'auto', 'auto-fresh', 'auto-borrow']) as Path[];

function mergeOnce(inputs: WaveBatch[][], path: Path): number {
  const [kernel, mode] = path.split('-') as [Kernel, 'fresh' | 'borrow' | undefined];
  const borrow = mode === 'borrow';
  const recycle = mode === undefined;
  const m = new StreamingMerge({ output: 'records', maxBufferedBytes: Number.MAX_SAFE_INTEGER, silenceTimeoutMs: 1e12, kernel, maxOutputRows: OUT_ROWS, maxOutputSamples: OUT_SAMPLES, ...(CHUNK_ROWS ? { kernelChunkRows: CHUNK_ROWS } : {}) });
  inputs.forEach((_, s) => m.addInput(`in${s}`));
  let emitted = 0;
  // Each output batch as soon as it is complete: the recycling consumer gives it back at once.
  const sink = (out: WaveBatch) => {
    emitted += out.batch.numRows;
    if (recycle) m.recycle(out);
  };
  const t = performance.now();
  const maxBatches = Math.max(...inputs.map((b) => b.length));
  for (let j = 0; j < maxBatches; j++) {
    const t0 = BREAKDOWN ? performance.now() : 0;
    for (let s = 0; s < inputs.length; s++) {
      const b = inputs[s]![j];
      if (b) m.push(`in${s}`, b);
    }
    const t1 = BREAKDOWN ? performance.now() : 0;
    m.drain(sink, { borrow });
    if (BREAKDOWN) {
      parts.push += t1 - t0;
      parts.drain += performance.now() - t1;
    }
  }
  const t2 = BREAKDOWN ? performance.now() : 0;
  m.finish(sink, { borrow });
  if (BREAKDOWN) {
    parts.drain += performance.now() - t2;
    parts.records += emitted;
  }
  const dt = (performance.now() - t) / 1000;
  if (emitted !== inputs.reduce((a, bs) => a + bs.reduce((x, b) => x + b.batch.numRows, 0), 0)) throw new Error('merge lost events');
  return dt;
}

/** Reference: copy the same sample and column bytes with TypedArray.set, batch by batch. */
function copyOnce(inputs: WaveBatch[][]): number {
  const t = performance.now();
  for (const bs of inputs) {
    for (const b of bs) {
      const out = new Uint16Array(b.samples.length);
      out.set(b.samples);
      for (const child of b.batch.data.children) {
        const v = child.values as Uint8Array;
        const copy = new (v.constructor as Uint8ArrayConstructor)(v.length);
        copy.set(v);
      }
    }
  }
  return (performance.now() - t) / 1000;
}

const CASES = process.env['BENCH_CASES']?.split(',');
/** The kernel the auto paths take here (the native one where `npm ci` built it). */
const native = nativeKernel();
const AUTO = native.addon ? 'native kernel' : `WebAssembly kernel; native: ${native.why}`;
console.log(`auto paths use the ${AUTO}`);
const rows = [];
for (const [k, block] of [[2, 1], [8, 1], [64, 1], [2, 1000], [8, 1000], [64, 1000]] as const) {
  if (CASES && !CASES.includes(`${k}/${block}`)) continue;
  const { inputs, samples } = makeInputs(k, block);
  const records = inputs.reduce((a, bs) => a + bs.reduce((x, b) => x + b.batch.numRows, 0), 0);
  // Reps of the paths alternate (one warm-up each first).
  const times = new Map<Path, number[]>(PATHS.map((p) => [p, []]));
  const split = new Map<Path, typeof parts>(PATHS.map((p) => [p, { push: 0, check: 0, copyIn: 0, drain: 0, copyOut: 0, run: 0, records: 0 }]));
  for (const p of PATHS) mergeOnce(inputs, p);
  for (let r = 0; r < REPS; r++) {
    for (const p of PATHS) {
      await settle(); // the last rep's garbage (auto-fresh: 1 GB of output) is not freed in this one
      Object.assign(parts, { push: 0, check: 0, copyIn: 0, drain: 0, copyOut: 0, run: 0, records: 0 });
      times.get(p)!.push(mergeOnce(inputs, p));
      const acc = split.get(p)!;
      for (const key of Object.keys(parts) as (keyof typeof parts)[]) acc[key] += parts[key];
    }
  }
  if (BREAKDOWN) {
    for (const p of PATHS) {
      const a = split.get(p)!;
      const ns = (ms: number) => ((ms * 1e6) / a.records).toFixed(0);
      console.log(`k=${k}/${block} path ${p}: ns per record: push ${ns(a.push)} (check ${ns(a.check)}), drain ${ns(a.drain)} (copy in ${ns(a.copyIn)}, copy out ${ns(a.copyOut)}, merge + gather ${ns(a.drain - a.copyIn - a.copyOut)}${a.run ? `, of it in the native run ${ns(a.run)}` : ''})`);
    }
  }
  const copyS = median(await repeat(REPS, async () => (await settle(), copyOnce(inputs))));
  const nativeS = NATIVE ? nativeMergeSeconds(inputs, REPS) : null;
  const bytes = samples * 2 + records * RECORD_ROW_BYTES;
  const what = `k=${k}, ${block === 1 ? 'Poisson interleave (runs ~1)' : `bursts of ${block}`}`;
  const reference = `TypedArray.set of the same bytes: ${(bytes / copyS / 1e9).toFixed(2)} GB/s`;
  const rate = (sec: number) => `${(records / sec / 1e6).toFixed(1)} M records/s, samples ${((samples * 2) / sec / 1e9).toFixed(2)} GB/s`;
  if (nativeS !== null) rows.push({ measure: `${what}, native C peer (peers/merge-native.c, prefetch ${process.env['BENCH_NATIVE_AHEAD'] ?? 8} rows ahead)`, value: rate(nativeS), reference, ratio: (copyS / nativeS).toFixed(2), goal: '' });
  for (const p of PATHS) {
    const mergeS = median(times.get(p)!);
    rows.push({
      measure: `${what}, path ${p}${p.startsWith('auto') ? ` [${native.addon ? 'native' : 'WebAssembly'} kernel]` : ''}: ${(records / 1e6).toFixed(1)} M records, ${(samples / 1e6).toFixed(0)} M samples`,
      value: rate(mergeS),
      reference,
      ratio: `${(copyS / mergeS).toFixed(2)}${nativeS === null ? '' : ` (of native: ${(nativeS / mergeS).toFixed(2)})`}`,
      goal: '>= 10 M records/s, >= 1 GB/s samples',
    });
  }
}
printTable(`streaming merge, mean event length ${MEAN_LEN} samples, ${REPS} runs`, rows);
