import fs from 'node:fs';
import path from 'node:path';
import h5wasm from 'h5wasm/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { h5ready, writeSegmentSync } from '../../../src/storage/hdf5/segment-writer.ts';
import { openRun } from '../../../src/query/open-run.ts';
import type { RunReader } from '../../../src/query/open-run.ts';
import { allocRecordColumns, recordColumns } from '../../../src/schema/waveform.ts';
import type { SegmentContent } from '../../../src/storage/segment.ts';
import type { TagInfo } from '../../../src/schema/scalar.ts';
import { tmpDir } from '../../helpers/tmp.ts';
import { py } from '../../helpers/h5py.ts';

interface Rec { t: bigint; ch: number; wave: number[]; baseline: number }
type Pt = [tag: number, tNs: bigint, value: number, quality: number];
const TAGS: TagInfo[] = [{ id: 1, name: 'a', unit: 'V', type: 'float64' }, { id: 4, name: 'b', unit: 'bar', type: 'float64' }, { id: 9, name: 'never', unit: '', type: 'bool' }];

/** One segment's content from plain rows (scalar points in arrival order). */
function content(index: number, recs: Rec[], pts: Pt[], global: bigint, extra: Partial<SegmentContent> = {}): SegmentContent {
  const c = allocRecordColumns(recs.length);
  const samples = new Uint16Array(recs.reduce((a, r) => a + r.wave.length, 0));
  let o = 0;
  recs.forEach((r, i) => {
    c.timestamp[i] = r.t;
    c.channel[i] = r.ch;
    c.baseline[i] = r.baseline;
    c.event_id[i] = BigInt(index * 10 + i);
    c.wave_offset[i] = BigInt(o);
    c.event_length[i] = r.wave.length;
    samples.set(r.wave, o);
    o += r.wave.length;
  });
  return {
    runId: 'rv', index, software: 't', configJson: '{}', lineageJson: '{}', t0UnixNs: 0n, walSeqLast: BigInt(index),
    scalars: [{ stream: 'plant', tags: TAGS, timestampNs: BigInt64Array.from(pts, (p) => p[1]), tag: Uint32Array.from(pts, (p) => p[0]), value: Float64Array.from(pts, (p) => p[2]), quality: Uint8Array.from(pts, (p) => p[3]) }],
    waves: recs.length ? [{ stream: 'records', primary: true, dtNs: 4, records: c, samples, globalSampleOffset: global }] : [],
    tables: [],
    ...extra,
  };
}

// Four segments; segment 2 has no records (scalars only); timestamp 30 appears at the end of
// segment 0 and the start of segment 1; one event has no samples; channel -1 exists.
const SEGS: Rec[][] = [
  [{ t: 10n, ch: 0, wave: [100, 101, 102], baseline: 100 }, { t: 20n, ch: 1, wave: [7], baseline: 0.5 }, { t: 20n, ch: -1, wave: [], baseline: 0 }, { t: 30n, ch: 0, wave: [1, 2, 3, 4, 5], baseline: 2 }],
  [{ t: 30n, ch: 1, wave: [9, 9], baseline: 9 }, { t: 40n, ch: 0, wave: [11, 12, 13, 14], baseline: 10 }],
  [],
  [{ t: 50n, ch: 0, wave: [16383, 0], baseline: 1 }, { t: 60n, ch: 1, wave: [5, 6, 7], baseline: 5 }, { t: 70n, ch: 0, wave: [8], baseline: 8.25 }],
];
const PTS: Pt[][] = [
  [[1, 1000n, 1.5, 0], [4, 1001n, -2, 0], [1, 1010n, 2.5, 2], [4, 1011n, -3, 0]],
  [[1, 2000n, 3.5, 0]],
  [[4, 3000n, -4, 1], [1, 3005n, 4.5, 0]],
  [[1, 4000n, 5.5, 0], [4, 4001n, -5, 0]],
];
const ALL = SEGS.flat();
const t = tmpDir('daq-rv-');
let run: RunReader;

beforeAll(async () => {
  await h5ready();
  let global = 0n;
  SEGS.forEach((recs, k) => {
    const extra: Partial<SegmentContent> = {};
    if (k === 1) {
      const aux = allocRecordColumns(1);
      aux.timestamp[0] = 33n;
      aux.event_length[0] = 2;
      extra.waves = [...content(k, recs, PTS[k]!, global).waves, { stream: 'aux', primary: false, dtNs: 8, records: aux, samples: new Uint16Array([42, 43]), globalSampleOffset: 0n }];
    }
    writeSegmentSync(t.dir, content(k, recs, PTS[k]!, global, extra));
    global += BigInt(recs.reduce((a, r) => a + r.wave.length, 0));
  });
  fs.writeFileSync(path.join(t.dir, 'seg-000004.h5.tmp'), 'being written'); // must be ignored
  run = await openRun(t.dir);
});
afterAll(() => {
  run?.close();
  t.cleanup();
});

describe('RecordsView over 4 segments', () => {
  it('columns are the segments concatenated, wave_offset run-global', () => {
    const r = run.records;
    expect(run.segmentPaths.map((p) => path.basename(p))).toEqual(['seg-000000.h5', 'seg-000001.h5', 'seg-000002.h5', 'seg-000003.h5']);
    expect(r.length).toBe(9);
    expect([...r.columns.timestamp]).toEqual(ALL.map((x) => x.t));
    expect([...r.columns.channel]).toEqual(ALL.map((x) => x.ch));
    expect([...r.columns.event_id]).toEqual([0n, 1n, 2n, 3n, 10n, 11n, 30n, 31n, 32n]);
    expect([...r.columns.wave_offset]).toEqual([0n, 3n, 4n, 4n, 9n, 11n, 15n, 17n, 20n]);
    const tbl = r.toArrow();
    expect(tbl.numRows).toBe(9);
    expect([...(tbl.getChild('timestamp')!.toArray() as BigInt64Array)]).toEqual(ALL.map((x) => x.t));
  });

  it('wave(i) reads the right slice of the right segment, with and without baseline', () => {
    ALL.forEach((x, i) => {
      expect([...run.records.rawWave(i)]).toEqual(x.wave);
      expect([...run.records.wave(i)]).toEqual(x.wave);
      expect([...run.records.wave(i, { baselineCorrect: true })]).toEqual(x.wave.map((s) => Math.fround(s - x.baseline)));
    });
    for (const bad of [-1, 9, 1.5]) expect(() => run.records.wave(bad)).toThrow(expect.objectContaining({ code: 'DAQ_ERR_TRACE_RANGE' }));
  });

  it('waves(): padded, masked, truncated, any index order, across segments', () => {
    const idx = [8, 0, 3, 2, 4, 0];
    const r = run.records.waves(idx, { padTo: 4, baselineCorrect: true });
    expect([...r.lengths]).toEqual([1, 3, 5, 0, 2, 3]);
    const rows = (a: ArrayLike<number>) => idx.map((_, k) => [...Array.prototype.slice.call(a, k * 4, k * 4 + 4)]);
    expect(rows(r.data)).toEqual([[-0.25, 0, 0, 0], [0, 1, 2, 0], [-1, 0, 1, 2], [0, 0, 0, 0], [0, 0, 0, 0], [0, 1, 2, 0]]);
    expect(rows(r.mask)).toEqual([[1, 0, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1], [0, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0]]);
    const d = run.records.waves([3, 1], { mask: false });
    expect(d.mask.length).toBe(0);
    expect([...d.data]).toEqual([1, 2, 3, 4, 5, 7, 0, 0, 0, 0]); // padTo defaults to the longest
    expect(run.records.waves([]).data.length).toBe(0);
  });

  it('queryTimeWindow: [tMin, tMax) on timestamp, binary search, channel filter', () => {
    const q = (a: bigint, b: bigint, ch?: number[]) => [...run.records.queryTimeWindow(a, b, ch ? { channels: ch } : {})];
    expect(q(20n, 30n)).toEqual([1, 2]); // tMin inclusive, tMax exclusive
    expect(q(30n, 31n)).toEqual([3, 4]); // equal timestamps across a segment boundary
    expect(q(21n, 30n)).toEqual([]);
    expect(q(30n, 30n)).toEqual([]); // empty window
    expect(q(60n, 20n)).toEqual([]); // inverted
    expect(q(0n, 10n)).toEqual([]); // before everything (tMax exclusive)
    expect(q(71n, 1000n)).toEqual([]); // after everything
    expect(q(-(2n ** 63n), 2n ** 63n - 1n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(q(0n, 100n, [0])).toEqual([0, 3, 5, 6, 8]);
    expect(q(0n, 100n, [-1, 1])).toEqual([1, 2, 4, 7]);
    expect(q(0n, 100n, [])).toEqual([]);
  });

  it('iterBatches: records + samples per batch, like a waveform batch', () => {
    const got: number[][] = [];
    let rows = 0;
    for (const b of run.records.iterBatches(4)) {
      const c = recordColumns(b.records);
      expect([...c.timestamp]).toEqual(ALL.slice(b.start, b.end).map((x) => x.t));
      for (let k = 0; k < b.records.numRows; k++) got.push([...b.samples.subarray(Number(c.wave_offset[k]), Number(c.wave_offset[k]) + c.event_length[k]!)]);
      rows += b.records.numRows;
    }
    expect(rows).toBe(9);
    expect(got).toEqual(ALL.map((x) => x.wave));
  });

  it('a non-primary waveform stream under /streams', () => {
    expect(run.waveStreams()).toEqual(['aux']);
    const aux = run.recordsOf('aux');
    expect(aux.length).toBe(1);
    expect([...aux.rawWave(0)]).toEqual([42, 43]);
    expect(() => run.recordsOf('nope')).toThrow(expect.objectContaining({ code: 'DAQ_ERR_STREAM_UNKNOWN' }));
  });
});

describe('scalar queries over 4 segments', () => {
  const col = (tbl: { getChild(n: string): { toArray(): ArrayLike<unknown> } | null }, n: string) => [...(tbl.getChild(n)!.toArray() as unknown as Iterable<unknown>)];

  it('readTag: one tag, [tMin, tMax), across segments, in time order', () => {
    const a = run.readTag('a', 1010n, 4000n);
    expect(col(a, 'timestamp_ns')).toEqual([1010n, 2000n, 3005n]);
    expect(col(a, 'value')).toEqual([2.5, 3.5, 4.5]);
    expect(col(a, 'quality')).toEqual([2, 0, 0]);
    expect(col(a, 'tag')).toEqual([1, 1, 1]);
    expect(col(run.readTag('b', 0n, 2n ** 62n), 'value')).toEqual([-2, -3, -4, -5]);
    expect(run.readTag('never', 0n, 2n ** 62n).numRows).toBe(0);
    expect(run.readTag('a', 1011n, 1011n).numRows).toBe(0);
    expect(() => run.readTag('zz', 0n, 1n)).toThrow(expect.objectContaining({ code: 'DAQ_ERR_STREAM_UNKNOWN' }));
  });

  it('readTag touches only that tag\'s rows (elements read counted at the h5wasm boundary)', () => {
    const proto = h5wasm.Dataset.prototype as unknown as { slice(r: number[][]): ArrayLike<unknown> | null };
    const orig = proto.slice;
    let elements = 0;
    proto.slice = function (this: unknown, r: number[][]) {
      const out = orig.call(this, r);
      elements += out?.length ?? 0;
      return out;
    };
    try {
      run.readTag('a', 2000n, 2001n);
    } finally {
      proto.slice = orig;
    }
    // Segment 1 alone holds t=2000; other segments are skipped on their index's time range:
    // per segment 4-5 index elements, then the tag's 1 timestamp, 1 value, 1 quality.
    expect(elements).toBeLessThanOrEqual(4 * 5 + 3);
  });

  it('readWindow: all tags or some, ordered by tag then time', () => {
    const w = run.readWindow(1001n, 4001n);
    expect(col(w, 'tag')).toEqual([1, 1, 1, 1, 4, 4, 4]);
    expect(col(w, 'timestamp_ns')).toEqual([1010n, 2000n, 3005n, 4000n, 1001n, 1011n, 3000n]);
    expect(col(w, 'value')).toEqual([2.5, 3.5, 4.5, 5.5, -2, -3, -4]);
    const some = run.readWindow(0n, 3001n, { tags: ['b', 'never'] });
    expect(col(some, 'timestamp_ns')).toEqual([1001n, 1011n, 3000n]);
    expect(col(some, 'quality')).toEqual([0, 0, 1]);
    expect(run.readWindow(5000n, 6000n).numRows).toBe(0);
  });

  it('lastValues: newest point of each tag that has one', () => {
    const lv = run.lastValues();
    expect(col(lv, 'name')).toEqual(['a', 'b']);
    expect(col(lv, 'timestamp_ns')).toEqual([4000n, 4001n]);
    expect(col(lv, 'value')).toEqual([5.5, -5]);
    expect(run.tags().name).toEqual(['a', 'b', 'never']);
    expect(run.tags().type).toEqual(['float64', 'float64', 'bool']);
  });
});

describe('openRun errors', () => {
  it('no folder, no finished segment (only .tmp), a segment that is not HDF5', async () => {
    const d = tmpDir('daq-rv-err-');
    try {
      await expect(openRun(path.join(d.dir, 'missing'))).rejects.toMatchObject({ code: 'DAQ_ERR_RUN_NOT_FOUND' });
      fs.writeFileSync(path.join(d.dir, 'seg-000000.h5.tmp'), 'x');
      await expect(openRun(d.dir)).rejects.toMatchObject({ code: 'DAQ_ERR_RUN_NOT_FOUND' });
      fs.writeFileSync(path.join(d.dir, 'seg-000000.h5'), 'not hdf5');
      await expect(openRun(d.dir)).rejects.toMatchObject({ code: 'DAQ_ERR_HDF5', message: expect.stringContaining('seg-000000.h5') });
    } finally {
      d.cleanup();
    }
  });
});

const bytes = (a: ArrayBufferView): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('direct reads (contiguous pools, pread at the offset h5-locate found) and the h5wasm fallback agree', () => {
  /** A bigger run: 3 segments of random-length events; segment 1's pool rewritten chunked by h5py (an older segment). */
  const big = tmpDir('daq-rv-direct-');
  const waves: number[][] = [];
  const bases: number[] = [];
  let direct: RunReader;
  let fallback: RunReader;
  let mixed: RunReader;
  let mixedDir: { dir: string; cleanup: () => void };
  beforeAll(async () => {
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / 2 ** 24;
    for (let s = 0; s < 3; s++) {
      const recs: Rec[] = [];
      for (let i = 0; i < 400; i++) {
        const len = i % 37 === 0 ? 0 : Math.floor(rnd() * 3000) + (i % 50 === 1 ? 20_000 : 0);
        const wave = Array.from({ length: len }, () => Math.floor(rnd() * 16384));
        recs.push({ t: BigInt(s * 1000 + i), ch: i % 4, wave, baseline: Math.round(rnd() * 2000) / 4 });
        waves.push(wave);
        bases.push(recs[recs.length - 1]!.baseline);
      }
      writeSegmentSync(big.dir, content(s, recs, [], 0n));
    }
    mixedDir = tmpDir('daq-rv-mixed-');
    for (const f of fs.readdirSync(big.dir)) fs.copyFileSync(path.join(big.dir, f), path.join(mixedDir.dir, f));
    py(
      `
import h5py, sys, json
with h5py.File(sys.argv[1], 'r+') as f:
    d = f['wave_pool']; data = d[()]; attrs = dict(d.attrs); del f['wave_pool']
    n = f.create_dataset('wave_pool', data=data, chunks=(4096,), maxshape=(None,))
    for k, v in attrs.items(): n.attrs[k] = v
print(json.dumps(True))
`,
      [path.join(mixedDir.dir, 'seg-000001.h5')],
    );
    direct = await openRun(big.dir);
    fallback = await openRun(big.dir, { directReads: false });
    mixed = await openRun(mixedDir.dir);
  });
  afterAll(() => {
    for (const r of [direct, fallback, mixed]) r?.close();
    big.cleanup();
    mixedDir?.cleanup();
  });

  it('every pool of a new run is read directly; a chunked pool falls back to h5wasm', () => {
    const pools = (r: RunReader) => (r.records as unknown as { segments: Array<{ direct?: unknown }> }).segments.map((s) => s.direct != null);
    expect(pools(direct)).toEqual([true, true, true]);
    expect(pools(fallback)).toEqual([false, false, false]);
    expect(pools(mixed)).toEqual([true, false, true]);
  });

  it('waves(), wave(), rawWave() and iterBatches give identical results on all three readers', () => {
    const n = waves.length;
    const idx = Int32Array.from({ length: 700 }, (_, k) => ((k * 2654435761) >>> 0) % n);
    const sorted = Int32Array.from({ length: n }, (_, k) => k);
    for (const opts of [{}, { padTo: 1000 }, { padTo: 5000, baselineCorrect: true }, { mask: false, padTo: 3001 }]) {
      for (const ix of [idx, sorted]) {
        const [a, b, c] = [direct, fallback, mixed].map((r) => r.records.waves(ix, opts));
        expect(bytes(a!.data).equals(bytes(b!.data))).toBe(true);
        expect(bytes(a!.data).equals(bytes(c!.data))).toBe(true);
        expect(bytes(a!.mask).equals(bytes(b!.mask))).toBe(true);
        expect([...a!.lengths]).toEqual([...b!.lengths]);
      }
    }
    // Against the written values, with reused (stale) out buffers.
    const pad = 2500;
    const out = { data: new Float32Array(idx.length * pad).fill(NaN), mask: new Uint8Array(idx.length * pad).fill(7) };
    const r = direct.records.waves(idx, { padTo: pad, baselineCorrect: true, out });
    const want = new Float32Array(idx.length * pad);
    const wantMask = new Uint8Array(idx.length * pad);
    idx.forEach((i, k) => {
      const w = waves[i]!.slice(0, pad);
      w.forEach((s, j) => (want[k * pad + j] = s - bases[i]!));
      wantMask.fill(1, k * pad, k * pad + w.length);
    });
    expect(bytes(r.data).equals(bytes(want))).toBe(true);
    expect(bytes(r.mask).equals(bytes(wantMask))).toBe(true);
    for (const i of [0, 1, 51, 399, 400, 401, 799, 1199]) {
      for (const rd of [direct, fallback, mixed]) {
        expect([...rd.records.rawWave(i)]).toEqual(waves[i]);
        expect([...rd.records.wave(i, { baselineCorrect: true })]).toEqual(waves[i]!.map((s) => Math.fround(s - bases[i]!)));
      }
    }
    const all = Uint16Array.from(waves.flat());
    for (const rd of [direct, fallback, mixed]) {
      const got: Uint16Array[] = [];
      for (const b of rd.records.iterBatches(97)) {
        const c = recordColumns(b.records);
        for (let k = 0; k < b.records.numRows; k++) got.push(b.samples.subarray(Number(c.wave_offset[k]), Number(c.wave_offset[k]) + c.event_length[k]!));
      }
      expect(got.map((g) => g.length)).toEqual(waves.map((w) => w.length));
      expect(Buffer.concat(got.map(bytes)).equals(bytes(all))).toBe(true);
    }
  });
});
