/**
 * Reading benchmarks (issue #5), each figure beside a reference measured in the same run:
 * 1. `queryTimeWindow` on 100 M timestamps: fixed cost (empty window) and cost per returned
 *    event, beside numpy `searchsorted` ×2 + `arange` on the same values. RecordsView keeps the
 *    record columns in memory (they are read whole at openRun), so the query never touches the
 *    file: the 100 M-record view is built synthetically in memory (timestamp + channel columns;
 *    a 100 M-record run is 6.8 GB of record columns, beyond what this shared machine should write
 *    for a benchmark).
 * 2. `waves()` gather + pad to float32: GB/s of float32 written, contiguous and random indices,
 *    into reused and fresh buffers, beside h5py + numpy doing the same gather and pad on the same
 *    file, and `TypedArray.set` of the same bytes (fresh memory costs page faults: the bound of
 *    any fresh-output figure on this machine).
 * 3. Wave-pool slice reads: our direct path (`PoolFile`: pread at the offset `h5-locate` found)
 *    for random 1000-sample, 1-sample and 4 Mi-sample reads, beside h5py on the same file and
 *    offsets; the h5wasm path (the fallback for chunked pools of older segments) below them.
 * 4. One scalar tag's window in a 1M-tag segment (QUERY_BENCH_TAGS), written with the sparse and
 *    the dense tag index: readTag beside h5py running docs/file-layout.md's `one_tag`.
 * Parts 2 and 3 run ours then one python process per rep: medians of paired runs.
 * Trace `iterChunks` vs raw sequential read with peak RSS: `test/bench/trace.bench.ts`.
 *
 *   node bin/run-ts.js test/bench/query.bench.ts   (BENCH_REPS, QUERY_BENCH_M, QUERY_BENCH_EVENTS, QUERY_BENCH_PARTS=1,2,3,4, QUERY_BENCH_TAGS)
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { allocRecordColumns } from '../../src/schema/waveform.ts';
import { h5ready, writeSegmentSync } from '../../src/storage/hdf5/segment-writer.ts';
import { openRun } from '../../src/query/open-run.ts';
import { RecordsView } from '../../src/query/records-view.ts';
import { required, slice, sliceU16View } from '../../src/query/h5-slices.ts';
import { PoolFile } from '../../src/query/pool-file.ts';
import { envInt, fixedWaveContent, median, printTable, repeat, settle } from './harness.ts';
import { ONE_TAG_PY } from '../helpers/h5py.ts';
import type { Row } from './harness.ts';

const REPS = envInt('BENCH_REPS', 5);
const M = envInt('QUERY_BENCH_M', 100); // millions of timestamps
const EVENTS = envInt('QUERY_BENCH_EVENTS', 50_000); // × 1000 samples
/** Which parts to run (default all): QUERY_BENCH_PARTS=2,3,4. */
const parts = new Set((process.env['QUERY_BENCH_PARTS'] ?? '1,2,3,4').split(',').map(Number));
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'daq-query-bench-'));
const rows: Row[] = [];
// `warm` measurements (reused buffers) run once untimed first: a training loop reuses its buffers
// every step, while this machine's memory reclaimer pages out what sat idle during the python runs.
const timed = async <T>(fn: () => T, warm = false): Promise<T> => {
  if (warm) fn();
  await settle(); // the garbage of the measurement before is not charged to this one
  return fn();
};
const py = (code: string, ...args: string[]): string => execFileSync('/usr/bin/python3', ['-c', code, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });

// 1. queryTimeWindow on M million timestamps.
if (parts.has(1)) {
  const n = M * 1_000_000;
  const ts = new BigInt64Array(n);
  for (let i = 0; i < n; i++) ts[i] = BigInt(i * 1000 + (i % 7));
  const view = new RecordsView({ ...allocRecordColumns(0), timestamp: ts, channel: new Int16Array(n) }, [], new BigInt64Array(0));
  const Q = 20_000;
  const starts = Float64Array.from({ length: Q }, (_, k) => (((k * 2654435761) >>> 0) % (n - 2_000_000)) * 1000);
  const perQuery = (width: number, q: number) => () => {
    const t0 = performance.now();
    let s = 0;
    for (let k = 0; k < q; k++) s += view.queryTimeWindow(BigInt(starts[k]!), BigInt(starts[k]! + width * 1000)).length;
    if (s !== q * width) throw new Error(`queryTimeWindow found ${s}, expected ${q * width}`);
    return ((performance.now() - t0) / q) * 1000;
  };
  const empty = median(await repeat(REPS, perQuery(0, Q)));
  const small = median(await repeat(REPS, perQuery(1000, Q)));
  const large = median(await repeat(REPS, perQuery(1_000_000, 50)));
  const np = JSON.parse(py(`
import numpy as np, time, json
n = ${n}; ts = np.arange(n, dtype=np.int64) * 1000 + (np.arange(n, dtype=np.int64) % 7)
starts = (((np.arange(${Q}, dtype=np.uint64) * np.uint64(2654435761)) & np.uint64(0xffffffff)) % np.uint64(n - 2000000)).astype(np.int64) * 1000
out = {}
for width, q in ((0, ${Q}), (1000, ${Q}), (1000000, 50)):
    res = []
    for rep in range(${REPS}):
        t0 = time.perf_counter()
        for s in starts[:q].tolist():
            a = np.searchsorted(ts, s, 'left'); b = np.searchsorted(ts, s + width * 1000, 'left'); np.arange(a, b, dtype=np.int32)
        res.append((time.perf_counter() - t0) / q * 1e6)
    out[width] = float(np.median(res))
print(json.dumps(out))
`)) as Record<string, number>;
  const perEvent = ((large - empty) / 1_000_000) * 1000; // ns per returned event
  rows.push({ measure: `queryTimeWindow on ${M} M records, empty window (fixed cost)`, value: `${empty.toFixed(2)} µs`, reference: `numpy searchsorted×2 + arange ${np['0']!.toFixed(2)} µs`, ratio: (empty / np['0']!).toFixed(2), goal: `≤ 50 µs ${empty <= 50 ? '✓' : '✗'}` });
  rows.push({ measure: `queryTimeWindow on ${M} M records, 1000-event window`, value: `${small.toFixed(2)} µs`, reference: `numpy ${np['1000']!.toFixed(2)} µs`, ratio: (small / np['1000']!).toFixed(2) });
  rows.push({ measure: `queryTimeWindow on ${M} M records, 1 M-event window`, value: `${(large / 1000).toFixed(2)} ms (${perEvent.toFixed(2)} ns/event)`, reference: `numpy ${(np['1000000']! / 1000).toFixed(2)} ms`, ratio: (large / np['1000000']!).toFixed(2), goal: 'proportional to result' });
}

// 2 + 3 on one waveform segment.
const EV_LEN = 1000;
const dir = fs.mkdtempSync(path.join(base, 'w-'));
await h5ready();
const seg = writeSegmentSync(dir, fixedWaveContent(EVENTS, EV_LEN));
const run = await openRun(dir);
const records = run.records;

// 2. waves(): float32 GB/s out, beside h5py + numpy doing the same gather and pad (per-event
// d[o:o+n] into np.zeros((n, pad), float32)); each rep runs ours, then one python process.
if (parts.has(2)) {
  const PAD = 1024;
  const all = Int32Array.from({ length: EVENTS }, (_, k) => k);
  const rnd = Int32Array.from({ length: 5000 }, (_, k) => ((k * 2654435761) >>> 0) % EVENTS);
  const reuse = { data: new Float32Array(EVENTS * PAD), mask: new Uint8Array(EVENTS * PAD) };
  const gbps = (idx: Int32Array, mask: boolean, out?: typeof reuse) => () => {
    const t0 = performance.now();
    const { data } = records.waves(idx, { padTo: PAD, mask, out });
    return data.byteLength / (performance.now() - t0) / 1e6;
  };
  const src = new Float32Array(EVENTS * PAD).fill(1);
  const dst = new Float32Array(EVENTS * PAD);
  const ours = {
    contiguous: gbps(all, false),
    contiguousMask: gbps(all, true),
    random: gbps(rnd, false),
    reused: gbps(all, false, reuse),
    reusedMask: gbps(all, true, reuse),
    randomReused: gbps(rnd, false, reuse),
    setRef: () => {
      const t0 = performance.now();
      dst.set(src);
      return dst.byteLength / (performance.now() - t0) / 1e6;
    },
    allocSetRef: () => {
      const t0 = performance.now();
      const d = new Float32Array(EVENTS * PAD);
      d.set(src);
      return d.byteLength / (performance.now() - t0) / 1e6;
    },
  };
  type Key = keyof typeof ours;
  const warm = new Set<Key>(['reused', 'reusedMask', 'randomReused', 'setRef']);
  const pyCode = `
import h5py, time, json, sys, numpy as np
f = h5py.File(sys.argv[1], 'r'); d = f['wave_pool']; r = f['records']
wo = r['wave_offset'][()]; el = r['event_length'][()]
rnd = (((np.arange(5000, dtype=np.uint64) * np.uint64(2654435761)) & np.uint64(0xffffffff)) % np.uint64(${EVENTS})).astype(np.int64)
def gather(idx):
    t0 = time.perf_counter()
    out = np.zeros((len(idx), ${PAD}), dtype=np.float32)
    for k, i in enumerate(idx.tolist()):
        o = int(wo[i]); m = min(int(el[i]), ${PAD}); out[k, :m] = d[o:o + m]
    return out.nbytes / (time.perf_counter() - t0) / 1e9
allidx = np.arange(${EVENTS})
def whole():
    t0 = time.perf_counter()
    pool = d[()]
    out = np.zeros((${EVENTS}, ${PAD}), dtype=np.float32)
    out[:, :${EV_LEN}] = pool.reshape(${EVENTS}, ${EV_LEN})
    return out.nbytes / (time.perf_counter() - t0) / 1e9
gather(rnd)
print(json.dumps({'contiguous': gather(allidx), 'random': gather(rnd), 'whole': whole()}))
`;
  const mine: Record<Key, number[]> = Object.fromEntries(Object.keys(ours).map((k) => [k, []])) as never;
  const theirs = { contiguous: [] as number[], random: [] as number[], whole: [] as number[] };
  for (const fn of Object.values(ours)) fn(); // warm-up
  for (let rep = 0; rep < REPS; rep++) {
    // Alternate who goes first, so neither always finds the other's pages in the cache.
    const runPy = () => {
      const h = JSON.parse(py(pyCode, seg.path)) as Record<keyof typeof theirs, number>;
      for (const k of Object.keys(theirs) as Array<keyof typeof theirs>) theirs[k].push(h[k]);
    };
    if (rep % 2) runPy();
    for (const k of Object.keys(ours) as Key[]) mine[k].push(await timed(ours[k], warm.has(k)));
    if (!(rep % 2)) runPy();
  }
  const m = Object.fromEntries(Object.entries(mine).map(([k, v]) => [k, median(v)])) as Record<Key, number>;
  const h = Object.fromEntries(Object.entries(theirs).map(([k, v]) => [k, median(v)])) as Record<keyof typeof theirs, number>;
  const g = (x: number) => `${x.toFixed(2)} GB/s`;
  const goal = (x: number) => `≥ 2 GB/s ${x >= 2 ? '✓' : '✗'}`;
  const alloc = `; fresh-memory bound: new Float32Array + set same bytes ${g(m.allocSetRef)}`;
  rows.push({ measure: `waves(${EVENTS / 1000}k contiguous, padTo ${PAD}, no mask, out: reused buffer) float32 out`, value: g(m.reused), reference: `h5py+numpy per-event gather ${g(h.contiguous)}; h5py whole pool + reshape ${g(h.whole)}`, ratio: `${(m.reused / h.contiguous).toFixed(1)}× / ${(m.reused / h.whole).toFixed(1)}×`, goal: goal(m.reused) });
  rows.push({ measure: 'waves(same, with mask, out: reused buffers)', value: g(m.reusedMask), reference: `h5py+numpy per-event gather ${g(h.contiguous)}`, ratio: `${(m.reusedMask / h.contiguous).toFixed(1)}×`, goal: goal(m.reusedMask) });
  rows.push({ measure: `waves(${EVENTS / 1000}k contiguous, padTo ${PAD}, no mask), fresh output`, value: g(m.contiguous), reference: `h5py+numpy per-event gather ${g(h.contiguous)}${alloc}`, ratio: `${(m.contiguous / h.contiguous).toFixed(1)}×`, goal: goal(m.contiguous) });
  rows.push({ measure: 'waves(same, with mask), fresh outputs', value: g(m.contiguousMask), reference: `h5py+numpy per-event gather ${g(h.contiguous)}`, ratio: `${(m.contiguousMask / h.contiguous).toFixed(1)}×` });
  rows.push({ measure: 'waves(5000 random events, padTo 1024, no mask, out: reused buffer)', value: g(m.randomReused), reference: `h5py+numpy per-event gather ${g(h.random)}`, ratio: `${(m.randomReused / h.random).toFixed(1)}×` });
  rows.push({ measure: 'waves(5000 random events, padTo 1024, no mask), fresh output', value: g(m.random), reference: `h5py+numpy per-event gather ${g(h.random)}`, ratio: `${(m.random / h.random).toFixed(1)}×` });
  rows.push({ measure: 'memory references: TypedArray.set float32 → float32, same bytes', value: `${g(m.setRef)} reused, ${g(m.allocSetRef)} into new memory`, reference: '' });
}

// 3. Wave-pool slice reads beside h5py on the same file and offsets. Each rep runs ours, then one
// python process (h5py, warmed up in-process) on the same reads: medians of paired runs.
if (parts.has(3)) {
  const file = seg.path;
  const pool = required((run as unknown as { files: Parameters<typeof required>[0][] }).files[0]!, 'wave_pool');
  const direct = PoolFile.open(file, 'wave_pool');
  if (!direct) throw new Error(`${file}: wave_pool is not contiguous <u2 (h5-locate could not place it)`);
  const picks = Int32Array.from({ length: 5000 }, (_, k) => (((k * 2654435761) >>> 0) % EVENTS) * EV_LEN);
  const perRead = (read: (o: number) => void) => () => {
    const t0 = performance.now();
    for (const o of picks) read(o);
    return ((performance.now() - t0) / picks.length) * 1000;
  };
  const BIG = 1 << 22;
  const bigOffs = Array.from({ length: 20 }, (_, k) => (k * 7_000_003) % (EVENTS * EV_LEN - BIG));
  const bigRead = (read: (o: number) => unknown) => () => {
    const t0 = performance.now();
    for (const o of bigOffs) read(o);
    return (bigOffs.length * BIG * 2) / (performance.now() - t0) / 1e6;
  };
  const bigBuf = new Uint16Array(BIG);
  const ours = {
    rnd: perRead((o) => direct.read(o, o + EV_LEN)),
    rndView: perRead((o) => direct.view(o, o + EV_LEN)),
    one: perRead((o) => direct.read(o, o + 1)),
    big: bigRead((o) => direct.read(o, o + BIG)),
    bigInto: bigRead((o) => direct.readInto(o, o + BIG, bigBuf)),
    h5wasmRnd: perRead((o) => slice<Uint16Array>(pool, o, o + EV_LEN)),
    h5wasmView: perRead((o) => sliceU16View(pool, o, o + EV_LEN)),
    h5wasmBig: bigRead((o) => sliceU16View(pool, o, o + BIG)),
    allocRef: bigRead(() => new Uint16Array(BIG).set(bigBuf)),
  };
  type Key = keyof typeof ours;
  const warm = new Set<Key>(['rndView', 'bigInto', 'h5wasmView', 'h5wasmBig']);
  const pyCode = `
import h5py, time, json, sys, numpy as np
f = h5py.File(sys.argv[1], 'r'); d = f['wave_pool']
picks = (((np.arange(5000, dtype=np.uint64) * np.uint64(2654435761)) & np.uint64(0xffffffff)) % np.uint64(${EVENTS})).astype(np.int64) * ${EV_LEN}
offs = picks.tolist(); big = [(k * 7000003) % (${EVENTS * EV_LEN} - ${BIG}) for k in range(20)]
buf = np.empty(${BIG}, dtype=np.uint16)
def rnd():
    t0 = time.perf_counter()
    for o in offs: d[o:o + ${EV_LEN}]
    return (time.perf_counter() - t0) / len(offs) * 1e6
def one():
    t0 = time.perf_counter()
    for o in offs: d[o:o + 1]
    return (time.perf_counter() - t0) / len(offs) * 1e6
def bigr():
    t0 = time.perf_counter()
    for o in big: d[o:o + ${BIG}]
    return len(big) * ${BIG} * 2 / (time.perf_counter() - t0) / 1e9
def bigd():
    t0 = time.perf_counter()
    for o in big: d.read_direct(buf, np.s_[o:o + ${BIG}])
    return len(big) * ${BIG} * 2 / (time.perf_counter() - t0) / 1e9
fns = {'rnd': rnd, 'one': one, 'big': bigr, 'bigDirect': bigd}
for fn in fns.values(): fn(); fn()
print(json.dumps({k: fn() for k, fn in fns.items()}))
`;
  const mine: Record<Key, number[]> = Object.fromEntries(Object.keys(ours).map((k) => [k, []])) as never;
  const theirs: Record<'rnd' | 'one' | 'big' | 'bigDirect', number[]> = { rnd: [], one: [], big: [], bigDirect: [] };
  for (const fn of Object.values(ours)) for (let w = 0; w < 2; w++) fn(); // warm-up (JIT, wasm tier-up, page cache)
  for (let rep = 0; rep < REPS; rep++) {
    // Alternate who goes first, so neither always finds the other's pages in the cache.
    const runPy = () => {
      const h = JSON.parse(py(pyCode, file)) as Record<keyof typeof theirs, number>;
      for (const k of Object.keys(theirs) as Array<keyof typeof theirs>) theirs[k].push(h[k]);
    };
    if (rep % 2) runPy();
    for (const k of Object.keys(ours) as Key[]) mine[k].push(await timed(ours[k], warm.has(k)));
    if (!(rep % 2)) runPy();
  }
  direct.close();
  const m = Object.fromEntries(Object.entries(mine).map(([k, v]) => [k, median(v)])) as Record<Key, number>;
  const h = Object.fromEntries(Object.entries(theirs).map(([k, v]) => [k, median(v)])) as Record<keyof typeof theirs, number>;
  const faster = (ref: number, x: number) => `${(ref / x).toFixed(2)}× h5py speed`;
  const goal = (r: number) => `≥ 0.8× ${r >= 0.8 ? '✓' : '✗'}`;
  rows.push({ measure: 'wave pool random 1000-sample read, direct (PoolFile.read: pread into a fresh array)', value: `${m.rnd.toFixed(1)} µs`, reference: `h5py d[o:o+1000] ${h.rnd.toFixed(1)} µs`, ratio: faster(h.rnd, m.rnd), goal: goal(h.rnd / m.rnd) });
  rows.push({ measure: 'same, direct into the reused buffer (PoolFile.view: what waves()/iterBatches use)', value: `${m.rndView.toFixed(1)} µs`, reference: `h5py ${h.rnd.toFixed(1)} µs`, ratio: faster(h.rnd, m.rndView), goal: goal(h.rnd / m.rndView) });
  rows.push({ measure: 'per-call floor: random 1-sample read, direct', value: `${m.one.toFixed(1)} µs`, reference: `h5py ${h.one.toFixed(1)} µs`, ratio: faster(h.one, m.one) });
  rows.push({ measure: 'wave pool 4 Mi-sample (8 MiB) reads, direct into a fresh array', value: `${m.big.toFixed(2)} GB/s`, reference: `h5py d[o:o+BIG] ${h.big.toFixed(2)} GB/s; fresh-memory bound: new Uint16Array + set same bytes ${m.allocRef.toFixed(2)} GB/s`, ratio: `${(m.big / h.big).toFixed(2)}× h5py speed`, goal: goal(m.big / h.big) });
  rows.push({ measure: 'same, direct into a reused buffer (PoolFile.readInto)', value: `${m.bigInto.toFixed(2)} GB/s`, reference: `h5py read_direct into a reused array ${h.bigDirect.toFixed(2)} GB/s`, ratio: `${(m.bigInto / h.bigDirect).toFixed(2)}× h5py speed`, goal: goal(m.bigInto / h.bigDirect) });
  rows.push({ measure: 'fallback (chunked pools of older segments): random 1000-sample read, h5wasm slice()', value: `${m.h5wasmRnd.toFixed(1)} µs`, reference: `h5py ${h.rnd.toFixed(1)} µs`, ratio: faster(h.rnd, m.h5wasmRnd) });
  rows.push({ measure: 'fallback: same, h5wasm sliceU16View() (reused heap buffer)', value: `${m.h5wasmView.toFixed(1)} µs`, reference: `h5py ${h.rnd.toFixed(1)} µs`, ratio: faster(h.rnd, m.h5wasmView) });
  rows.push({ measure: 'fallback: 4 Mi-sample reads, h5wasm sliceU16View()', value: `${m.h5wasmBig.toFixed(2)} GB/s`, reference: `h5py ${h.big.toFixed(2)} GB/s`, ratio: `${(m.h5wasmBig / h.big).toFixed(2)}× h5py speed` });
}

// 4. One scalar tag's window in a 1M-tag segment (~3 points a tag, the 1M tags × 0.1 Hz storage
// scenario's shape), the same points written with each tag-index layout: readTag of random tags,
// beside h5py running docs/file-layout.md's `one_tag` on the same file and tags.
if (parts.has(4)) {
  const TAGS = envInt('QUERY_BENCH_TAGS', 1_000_000);
  const n = 3 * TAGS;
  const tag = new Uint32Array(n);
  const ts = new BigInt64Array(n);
  const value = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    tag[i] = i % TAGS;
    ts[i] = 1_800_000_000_000_000_000n + BigInt(Math.floor(i / TAGS) * 10_000_000_000 + (i % 1000) * 7919);
    value[i] = Math.round(Math.sin(i) * 1000) / 10;
  }
  const tags = Array.from({ length: TAGS }, (_, id) => ({ id, name: `tag${id}`, unit: '', type: 'float64' as const }));
  const Q = 200;
  const pick = Array.from({ length: Q }, (_, k) => ((k * 2654435761) >>> 0) % TAGS);
  for (const layout of ['sparse', 'dense'] as const) {
    const dir = path.join(base, `scalar-${layout}`);
    fs.mkdirSync(dir);
    const s = writeSegmentSync(dir, { runId: 'q', index: 0, software: 'bench', configJson: '{}', lineageJson: '{}', t0UnixNs: 0n, walSeqLast: 0n, waves: [], tables: [], scalars: [{ stream: 'plant', tags, timestampNs: ts.slice(), tag: tag.slice(), value: value.slice(), quality: new Uint8Array(n) }] }, { tagIndex: layout });
    const r = await openRun(dir);
    r.readTag('tag0', 0n, 2n ** 62n);
    const ms = await repeat(REPS, () => {
      const times: number[] = [];
      for (const id of pick) {
        const t0 = performance.now();
        if (r.readTag(`tag${id}`, 0n, 2n ** 62n).numRows !== 3) throw new Error(`tag${id}: expected 3 points`);
        times.push(performance.now() - t0);
      }
      return median(times);
    });
    r.close();
    const h = JSON.parse(py(`
import h5py, json, sys, time, numpy as np
${ONE_TAG_PY}
g = h5py.File(sys.argv[1], 'r')['scalars/plant']
ids = [${pick.join(',')}]
times = []
for i in ids:
    t0 = time.perf_counter(); v = one_tag(g, i, 0, 2**62); times.append(time.perf_counter() - t0)
    assert len(v) == 3
ix = g['tag_index']
print(json.dumps({'ms': float(np.median(times) * 1000), 'ix': sum(ix[k].id.get_storage_size() for k in ix)}))
`, s.path)) as { ms: number; ix: number };
    rows.push({ measure: `one tag's window (3 points) in a ${TAGS / 1e6}M-tag segment, ${layout} tag index (${(h.ix / n).toFixed(3)} B/pt), readTag`, value: `${median(ms).toFixed(2)} ms`, reference: `h5py one_tag ${h.ms.toFixed(2)} ms`, ratio: (median(ms) / h.ms).toFixed(2) });
  }
}

run.close();
fs.rmSync(base, { recursive: true, force: true });
printTable('Reading runs (issue #5)', rows);
