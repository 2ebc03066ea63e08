/**
 * HDF5 segment benchmarks, each figure beside a reference measured in the same run:
 * - segment write MB/s (writeSegmentSync: tmp, close, fsync, rename, dir fsync) beside raw fs write
 *   + fsync of the same bytes; a waveform-heavy and a scalar-heavy segment;
 * - bytes on disk per scalar point (simulated plant data; jittered timestamps) beside raw 21 B;
 * - random 1000-sample `wave()` reads p50 beside h5py reading the same slices (python loop);
 * - `queryTimeWindow` µs per query on a large in-memory records column beside numpy searchsorted;
 * - with HDF5_BENCH_SWEEP=1, the chunk-size / filter sweep behind the writer's choices (also the
 *   value column alone by chunk length: its deflate time).
 * `node bin/run-ts.js test/bench/hdf5.bench.ts` (BENCH_REPS, HDF5_BENCH_EVENTS, HDF5_BENCH_TS_M).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import h5wasm from 'h5wasm/node';
import type { Dataset, File as H5File } from 'h5wasm/node';
import { ScalarGenerator, simScalarOptions, simScalarTags } from '../../src/instruments/sim-scalar.ts';
import { scalarColumns } from '../../src/schema/scalar.ts';
import { allocRecordColumns } from '../../src/schema/waveform.ts';
import type { SegmentContent } from '../../src/storage/segment.ts';
import { h5ready, writeSegmentSync } from '../../src/storage/hdf5/segment-writer.ts';
import { sortByTagThenTime } from '../../src/storage/hdf5/tag-sort.ts';
import { openRun } from '../../src/query/open-run.ts';
import { RecordsView } from '../../src/query/records-view.ts';
import { envInt, fixedWaveContent, median, printTable, repeat } from './harness.ts';
import type { Row } from './harness.ts';

const REPS = envInt('BENCH_REPS', 5);
const EVENTS = envInt('HDF5_BENCH_EVENTS', 50_000); // × 1000 samples = 100 MB of wave pool
const TS_M = envInt('HDF5_BENCH_TS_M', 20); // millions of timestamps for queryTimeWindow
const POINTS = envInt('HDF5_BENCH_POINTS', 2_000_000);
const T0 = 1_790_000_000_000_000_000n;
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'daq-hdf5-bench-'));
await h5ready();

function waveContent(index: number): SegmentContent {
  return fixedWaveContent(EVENTS, 1000, index, T0);
}

function scalarContent(index: number, jitterNs = 0): SegmentContent {
  const o = simScalarOptions.parse({ tags: 1000, rate_hz: 10 });
  const c = scalarColumns(new ScalarGenerator(o, 1, T0).generate(POINTS, 'plant').batch);
  if (jitterNs) for (let i = 0; i < POINTS; i++) c.timestampNs[i] = c.timestampNs[i]! + BigInt((i * 7919) % jitterNs);
  return { runId: 'b', index, software: 'bench', configJson: '{}', lineageJson: '{}', t0UnixNs: T0, walSeqLast: 0n, scalars: [{ stream: 'plant', tags: simScalarTags(o), ...c }], waves: [], tables: [] };
}

function inputBytes(c: SegmentContent): number {
  let b = 0;
  for (const s of c.scalars) b += s.timestampNs.byteLength + s.tag.byteLength + s.value.byteLength + s.quality.byteLength;
  for (const w of c.waves) b += w.samples.byteLength + Object.values(w.records).reduce((a, x: ArrayBufferView) => a + x.byteLength, 0);
  return b;
}

/** Raw reference: the same typed arrays written with fs to one file, fsynced, renamed. */
function rawWrite(dir: string, c: SegmentContent): number {
  const t0 = performance.now();
  const p = path.join(dir, 'raw.bin.tmp');
  const fd = fs.openSync(p, 'w');
  const put = (a: ArrayBufferView) => fs.writeSync(fd, new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  for (const s of c.scalars) [s.timestampNs, s.tag, s.value, s.quality].forEach(put);
  for (const w of c.waves) [w.samples, ...Object.values(w.records)].forEach(put);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fs.renameSync(p, path.join(dir, 'raw.bin'));
  return performance.now() - t0;
}

const rows: Row[] = [];
const mbs = (bytes: number, ms: number) => bytes / ms / 1e3;

// 1. Segment write speed.
for (const [label, make] of [['waveform segment (1000-sample events)', waveContent], ['scalar segment (1000 tags)', scalarContent]] as const) {
  const dir = fs.mkdtempSync(path.join(base, 'w-'));
  const bytes = inputBytes(make(0));
  const seg = await repeat(REPS, (i) => {
    const c = make(i + 1); // fresh arrays (the writer may consume them)
    return writeSegmentSync(dir, c).durationMs;
  });
  const raw = await repeat(REPS, () => rawWrite(dir, make(0)));
  const a = mbs(bytes, median(seg));
  const r = mbs(bytes, median(raw));
  rows.push({ measure: `write ${label}, ${(bytes / 1e6).toFixed(0)} MB in`, value: `${a.toFixed(0)} MB/s`, reference: `raw fs write+fsync ${r.toFixed(0)} MB/s`, ratio: (a / r).toFixed(2) });
  fs.rmSync(dir, { recursive: true });
}

// 2. Bytes on disk per scalar point.
for (const [label, jitter] of [['periodic timestamps', 0], ['timestamps jittered ±0.5 ms', 1_000_000]] as const) {
  const dir = fs.mkdtempSync(path.join(base, 's-'));
  const s = writeSegmentSync(dir, scalarContent(0, jitter));
  rows.push({ measure: `bytes on disk per scalar point, ${label}`, value: `${(s.bytes / POINTS).toFixed(2)} B`, reference: 'raw columns 21 B (8+4+8+1)', ratio: (s.bytes / POINTS / 21).toFixed(2), goal: '≤ 12 B' });
  fs.rmSync(dir, { recursive: true });
}

// 3. Random 1000-sample wave() reads: ours (h5wasm via RecordsView) vs h5py, same slices.
{
  const dir = fs.mkdtempSync(path.join(base, 'r-'));
  const seg = writeSegmentSync(dir, waveContent(0));
  const run = await openRun(dir);
  const picks = Int32Array.from({ length: 1000 }, (_, k) => ((k * 2654435761) >>> 0) % EVENTS);
  const ours = await repeat(REPS, () => {
    const times = new Float64Array(picks.length);
    for (let k = 0; k < picks.length; k++) {
      const t0 = performance.now();
      run.records.wave(picks[k]!);
      times[k] = performance.now() - t0;
    }
    return median([...times]) * 1000;
  });
  const offs = [...picks].map((i) => i * 1000).join(',');
  const [pyP50, pyMean] = JSON.parse(
    execFileSync('/usr/bin/python3', ['-c', `
import h5py, time, json, sys, numpy as np
offs = [int(x) for x in sys.argv[2].split(',')]
f = h5py.File(sys.argv[1], 'r'); d = f['wave_pool']
res, means = [], []
for rep in range(${REPS}):
    ts = []
    for o in offs:
        t0 = time.perf_counter(); d[o:o + 1000].astype(np.float32); ts.append(time.perf_counter() - t0)
    res.append(float(np.median(ts)) * 1e6); means.append(float(np.mean(ts)) * 1e6)
print(json.dumps([float(np.median(res)), float(np.median(means))]))
`, seg.path, offs], { encoding: 'utf8' }),
  ) as [number, number];
  rows.push({ measure: 'random 1000-sample wave() read p50 (float32)', value: `${median(ours).toFixed(0)} µs`, reference: `h5py same slices ${pyP50.toFixed(0)} µs`, ratio: (median(ours) / pyP50).toFixed(2) });
  const batch = await repeat(REPS, () => {
    const t0 = performance.now();
    run.records.waves(picks, { padTo: 1024 });
    return ((performance.now() - t0) / picks.length) * 1000;
  });
  rows.push({ measure: 'waves(1000 random indices, padTo 1024, mask), per event', value: `${median(batch).toFixed(0)} µs`, reference: `h5py loop over the same slices, mean ${pyMean.toFixed(0)} µs`, ratio: (median(batch) / pyMean).toFixed(2) });
  run.close();
  fs.rmSync(dir, { recursive: true });
}

// 4. queryTimeWindow on a large in-memory column.
{
  const n = TS_M * 1_000_000;
  const cols = allocRecordColumns(0);
  const ts = new BigInt64Array(n);
  for (let i = 0; i < n; i++) ts[i] = BigInt(i) * 1000n + BigInt(i % 7);
  const view = new RecordsView({ ...cols, timestamp: ts, channel: new Int16Array(n) }, [], new BigInt64Array(0));
  const Q = 20_000;
  const starts = Float64Array.from({ length: Q }, (_, k) => (((k * 2654435761) >>> 0) % (n - 2000)) * 1000);
  const ours = await repeat(REPS, () => {
    const t0 = performance.now();
    let s = 0;
    for (let k = 0; k < Q; k++) s += view.queryTimeWindow(BigInt(starts[k]!), BigInt(starts[k]! + 1_000_000)).length;
    if (s !== Q * 1000) throw new Error(`queryTimeWindow found ${s}, expected ${Q * 1000}`);
    return ((performance.now() - t0) / Q) * 1000;
  });
  const npUs = JSON.parse(
    execFileSync('/usr/bin/python3', ['-c', `
import numpy as np, time, json
n = ${n}; ts = np.arange(n, dtype=np.int64) * 1000 + (np.arange(n) % 7)
starts = (((np.arange(${Q}, dtype=np.uint64) * np.uint64(2654435761)) & np.uint64(0xffffffff)) % np.uint64(n - 2000)).astype(np.int64) * 1000
res = []
for rep in range(${REPS}):
    t0 = time.perf_counter()
    for s in starts.tolist():
        a = np.searchsorted(ts, s, 'left'); b = np.searchsorted(ts, s + 1000000, 'left'); np.arange(a, b, dtype=np.int32)
    res.append((time.perf_counter() - t0) / ${Q} * 1e6)
print(json.dumps(float(np.median(res))))
`], { encoding: 'utf8' }),
  ) as number;
  rows.push({ measure: `queryTimeWindow on ${TS_M} M timestamps (1000-event windows)`, value: `${median(ours).toFixed(2)} µs/query`, reference: `numpy searchsorted×2 + arange ${npUs.toFixed(2)} µs`, ratio: (median(ours) / npUs).toFixed(2) });
}

printTable('HDF5 segments (h5wasm)', rows);

// 5. Optional sweep: chunk length × filter, for the choices in segment-writer.ts.
if (process.env['HDF5_BENCH_SWEEP']) {
  const c = scalarContent(0, 1_000_000).scalars[0]!;
  const s = sortByTagThenTime(c);
  const p = path.join(base, 'sweep.h5');
  const ds = (f: H5File, name: string, data: ArrayLike<unknown>, dtype: string, chunk: number, comp?: number | 'gzip', copts?: number[]) => {
    const args: Parameters<H5File['create_dataset']>[0] = { name, data: data as never, shape: [data.length], dtype, chunks: [Math.min(chunk, data.length)], maxshape: [null] };
    if (comp !== undefined) {
      args.compression = comp;
      if (copts) args.compression_opts = copts;
    }
    if (!f.create_dataset(args)) throw new Error(`create ${name} failed`);
  };
  const sweep: Row[] = [];
  for (const chunk of [1 << 12, 1 << 13, 1 << 14, 1 << 16, 1 << 18, 1 << 20]) {
    for (const [tsF, vF] of [['deflate', 'raw'], ['scaleoffset', 'raw'], ['scaleoffset', 'deflate'], ['deflate', 'deflate']] as const) {
      const t0 = performance.now();
      const f = new h5wasm.File(p, 'w');
      ds(f, 'timestamp_ns', s.timestampNs, '<q', chunk, tsF === 'scaleoffset' ? 6 : 'gzip', tsF === 'scaleoffset' ? [2, 0] : [1]);
      ds(f, 'value', s.value, '<d', chunk, vF === 'deflate' ? 'gzip' : undefined, vF === 'deflate' ? [1] : undefined);
      ds(f, 'quality', s.quality, '<B', chunk, 'gzip', [1]);
      f.close();
      const wms = performance.now() - t0;
      const bytes = fs.statSync(p).size;
      const r = new h5wasm.File(p, 'r');
      const d = ['timestamp_ns', 'value', 'quality'].map((k) => r.get(k) as Dataset);
      const times: number[] = [];
      for (let k = 0; k < 50; k++) {
        const tag = (k * 97) % s.index.tag.length;
        const a = Number(s.index.start[tag]);
        const b = a + Number(s.index.count[tag]);
        const t1 = performance.now();
        for (const x of d) x.slice([[a, b]]);
        times.push(performance.now() - t1);
      }
      r.close();
      sweep.push({ measure: `scalar chunk 2^${Math.log2(chunk)}, timestamp ${tsF}, value ${vF}`, value: `${(bytes / POINTS).toFixed(2)} B/pt, ${(POINTS / wms / 1e3).toFixed(1)} Mpt/s`, reference: `one tag (${POINTS / 1000} pts) read ${median(times).toFixed(2)} ms` });
    }
  }
  // The value column alone (deflate level 1, as the writer does), by chunk length: its deflate
  // time is most of a scalar segment's write (docs/file-layout.md, "Value chunks").
  for (const chunk of [1 << 10, 1 << 11, 1 << 12, 1 << 13, 1 << 14]) {
    const times: number[] = [];
    let bytes = 0;
    for (let k = 0; k < 3; k++) {
      const f = new h5wasm.File(p, 'w');
      const t0 = performance.now();
      ds(f, 'value', s.value, '<d', chunk, 'gzip', [1]);
      f.flush();
      times.push(performance.now() - t0);
      f.close();
      bytes = fs.statSync(p).size;
    }
    sweep.push({ measure: `scalar value only, chunk 2^${Math.log2(chunk)}, deflate 1`, value: `${median(times).toFixed(0)} ms (median of 3)`, reference: `${(bytes / POINTS).toFixed(3)} B a value (whole file)` });
  }
  const S = 50_000_000;
  const pool = new Uint16Array(S);
  for (let i = 0; i < S; i++) pool[i] = i & 0x3fff;
  for (const chunk of [1 << 14, 1 << 16, 1 << 18, 1 << 20, 1 << 22]) {
    const t0 = performance.now();
    const f = new h5wasm.File(p, 'w');
    ds(f, 'wave_pool', pool, '<H', chunk);
    f.close();
    const wms = performance.now() - t0;
    const r = new h5wasm.File(p, 'r');
    const d = r.get('wave_pool') as Dataset;
    const times: number[] = [];
    for (let k = 0; k < 500; k++) {
      const o = ((k * 2654435761) >>> 0) % (S - 1000);
      const t1 = performance.now();
      d.slice([[o, o + 1000]]);
      times.push(performance.now() - t1);
    }
    r.close();
    sweep.push({ measure: `wave_pool chunk 2^${Math.log2(chunk)} (uncompressed)`, value: `${((S * 2) / wms / 1e3).toFixed(0)} MB/s write`, reference: `1000-sample read p50 ${(median(times) * 1000).toFixed(0)} µs` });
  }
  printTable('HDF5 chunk/filter sweep (single runs)', sweep);
}
fs.rmSync(base, { recursive: true, force: true });
