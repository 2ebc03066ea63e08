import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { h5ready, writeSegmentSync } from '../../../src/storage/hdf5/segment-writer.ts';
import { openRun } from '../../../src/query/open-run.ts';
import type { RunReader } from '../../../src/query/open-run.ts';
import type { TagInfo } from '../../../src/schema/scalar.ts';
import { ONE_TAG_PY, py } from '../../helpers/h5py.ts';
import { tmpDir } from '../../helpers/tmp.ts';

// One segment with a big tag index (70,000 tags: searched on disk, not read whole) and one tag
// with 300,000 points (its window is found by binary search on disk, not by reading the tag).
const NTAGS = 70_000;
const BIG = 300_000;
const T0 = 1_700_000_000_000_000_000n;
// Written in each tag-index layout: sparse (70k rows searched on disk, not read whole) and dense
// (140k ids: 9 blocks of counts read one at a time).
const LAYOUTS = ['sparse', 'dense'] as const;
const t = tmpDir('daq-scalar-');
const runs: Partial<Record<(typeof LAYOUTS)[number], RunReader>> = {};

beforeAll(async () => {
  await h5ready();
  const n = NTAGS - 1 + BIG;
  const ts = new BigInt64Array(n);
  const tag = new Uint32Array(n);
  const value = new Float64Array(n);
  const quality = new Uint8Array(n);
  // Tag 0 every 1 µs; tags 1..NTAGS-1 once each, interleaved (arrival order is by time).
  let r = 0;
  for (let i = 0; i < BIG; i++) {
    ts[r] = T0 + BigInt(i) * 1000n;
    value[r] = i;
    r++;
    if (i < NTAGS - 1) {
      ts[r] = T0 + BigInt(i) * 1000n + 1n;
      tag[r] = 2 * (i + 1); // sparse ids
      value[r] = -(i + 1);
      quality[r] = (i + 1) % 3;
      r++;
    }
  }
  const tags: TagInfo[] = [{ id: 0, name: 'fast', unit: 'V', type: 'float64' }];
  for (let i = 1; i < NTAGS; i++) tags.push({ id: 2 * i, name: `t${2 * i}`, unit: '', type: 'float64' });
  for (const layout of LAYOUTS) {
    const dir = `${t.dir}/${layout}`;
    fs.mkdirSync(dir);
    writeSegmentSync(dir, { runId: 's', index: 0, software: 't', configJson: '{}', lineageJson: '{}', t0UnixNs: T0, walSeqLast: 0n, scalars: [{ stream: 'plant', tags, timestampNs: ts.slice(), tag: tag.slice(), value: value.slice(), quality: quality.slice() }], waves: [], tables: [] }, { tagIndex: layout });
    runs[layout] = await openRun(dir);
  }
});
afterAll(() => {
  for (const r of Object.values(runs)) r.close();
  t.cleanup();
});

describe.each(LAYOUTS)('scalar reader on a large segment, %s tag index', (layout) => {
  const run = () => runs[layout]!;
  it('readTag of the 300k-point tag: exact window by on-disk binary search', () => {
    const tbl = run().readTag('fast', T0 + 123_456_000n, T0 + 123_466_000n);
    expect([...(tbl.getChild('value')!.toArray() as Float64Array)]).toEqual(Array.from({ length: 10 }, (_, k) => 123_456 + k));
    expect(run().readTag('fast', T0 + 123_456_001n, T0 + 123_457_000n).numRows).toBe(0);
  });

  it('readTag of a tag found in a 70k-entry index searched on disk', () => {
    const tbl = run().readTag('t90000', 0n, 2n ** 62n);
    expect(tbl.numRows).toBe(1);
    expect(tbl.get(0)!.toJSON()).toMatchObject({ tag: 90000, value: -45000, quality: 0, timestamp_ns: T0 + 44_999_000n + 1n });
    // first ids of a block of the dense index, the last id, and ids without points
    for (const id of [16384, 32768, 2 * (NTAGS - 1)]) expect(run().readTag(`t${id}`, 0n, 2n ** 62n).get(0)!.toJSON()).toMatchObject({ tag: id, value: -(id / 2) });
    expect(run().scalars().storedRows(['fast', 't16384', 't90000'])).toBe(BIG + 2);
  });

  it('lastValues for 70k tags', () => {
    const lv = run().lastValues();
    expect(lv.numRows).toBe(NTAGS);
    expect(lv.get(0)!.toJSON()).toMatchObject({ name: 'fast', value: BIG - 1 });
    expect(lv.get(NTAGS - 1)!.toJSON()).toMatchObject({ tag: 2 * (NTAGS - 1), value: -(NTAGS - 1), quality: (NTAGS - 1) % 3 });
  });

  it('whole-segment reads and bounded pieces equal the sparse layout\'s', () => {
    const ref = runs.sparse!.readScalars('plant');
    const got = run().readScalars('plant');
    expect(got.tag).toEqual(ref.tag);
    expect(got.value).toEqual(ref.value);
    const w = [...run().scalars().iterWindow(T0, T0 + 100_000_000n, { maxRows: 50_000 })];
    expect(w.length).toBeGreaterThan(2);
    expect(w.reduce((a, p) => a + p.numRows, 0)).toBe(runs.sparse!.scalars().readWindow(T0, T0 + 100_000_000n).numRows);
  });
});

describe('interop: scalars written by h5py (gzip+shuffle, its own chunking) in the layout', () => {
  it('are read by openRun through the tag index', async () => {
    const d = tmpDir('daq-h5py-s-');
    try {
      const out = py(
        `
import h5py, numpy as np, sys, json
f = h5py.File(sys.argv[1] + '/seg-000000.h5', 'w')
f.attrs['run_id'] = 'py'
g = f.create_group('scalars/plant')
# sorted by (tag, time): tag 3 has 1000 points, tag 7 has 500
ts = np.concatenate([np.arange(1000, dtype='<i8') * 10, np.arange(500, dtype='<i8') * 20 + 5])
tag = np.concatenate([np.full(1000, 3, '<u4'), np.full(500, 7, '<u4')])
val = np.concatenate([np.arange(1000) * 0.5, -np.arange(500.0)])
kw = dict(chunks=(256,), compression='gzip', shuffle=True)
g.create_dataset('timestamp_ns', data=ts, **kw); g.create_dataset('tag', data=tag, **kw)
g.create_dataset('value', data=val, **kw); g.create_dataset('quality', data=np.zeros(1500, '<u1'), **kw)
ix = g.create_group('tag_index')
ix['tag'] = np.array([3, 7], '<u4'); ix['start'] = np.array([0, 1000], '<i8'); ix['count'] = np.array([1000, 500], '<i8')
ix['t_min_ns'] = np.array([0, 5], '<i8'); ix['t_max_ns'] = np.array([9990, 9985], '<i8')
tg = g.create_group('tags')
tg['id'] = np.array([3, 7], '<u4'); tg['name'] = np.array([b'p3', b'p7']); tg['unit'] = np.array([b'', b'']); tg['type'] = np.array([b'float64', b'float64'])
f.close()
${ONE_TAG_PY}
g = h5py.File(sys.argv[1] + '/seg-000000.h5')['scalars/plant']
print(json.dumps([one_tag(g, 7, 45, 106).tolist(), one_tag(g, 5, 0, 10**6).tolist()]))
`,
        [d.dir],
      );
      // The documented h5py reading works on this older layout (no `layout` attribute) too.
      expect(out).toEqual([[-2, -3, -4, -5], []]);
      const r = await openRun(d.dir);
      const p7 = r.readTag('p7', 45n, 106n);
      expect([...(p7.getChild('timestamp_ns')!.toArray() as BigInt64Array)]).toEqual([45n, 65n, 85n, 105n]);
      expect([...(p7.getChild('value')!.toArray() as Float64Array)]).toEqual([-2, -3, -4, -5]);
      expect(r.readWindow(0n, 30n).numRows).toBe(3 + 2);
      expect(r.lastValues().get(0)!.toJSON()).toMatchObject({ name: 'p3', value: 499.5, timestamp_ns: 9990n });
      r.close();
    } finally {
      d.cleanup();
    }
  });
});

describe.each(['sparse', 'dense', 'mixed'] as const)('iterWindow: a window read in bounded pieces (%s tag indexes)', (layout) => {
  // Three segments of random points: sparse tag ids, some ids missing from the tag table, one tag
  // far denser than the rest; the same tag spans segments.
  const d = tmpDir('daq-iterwin-');
  let r: RunReader;
  const all: Array<{ ts: bigint; tag: number; value: number; q: number }> = [];
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  beforeAll(async () => {
    await h5ready();
    const tags: TagInfo[] = [];
    for (let i = 0; i < 400; i++) tags.push({ id: 3 * i + 5, name: `k${3 * i + 5}`, unit: '', type: 'float64' });
    for (let seg = 0; seg < 3; seg++) {
      const n = 20_000;
      const ts = new BigInt64Array(n);
      const tag = new Uint32Array(n);
      const value = new Float64Array(n);
      const quality = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        // a dense tag (5), table tags, and ids beyond the table (1300..1309) and below it (0..2)
        const x = rnd();
        tag[i] = x < 0.3 ? 5 : x < 0.95 ? 3 * Math.floor(rnd() * 400) + 5 : x < 0.98 ? 1300 + Math.floor(rnd() * 10) : Math.floor(rnd() * 3);
        ts[i] = T0 + BigInt(seg * 1_000_000 + i * 10);
        value[i] = seg * n + i;
        quality[i] = i % 4;
        all.push({ ts: ts[i]!, tag: tag[i]!, value: value[i]!, q: quality[i]! });
      }
      writeSegmentSync(d.dir, { runId: 'w', index: seg, software: 't', configJson: '{}', lineageJson: '{}', t0UnixNs: T0, walSeqLast: 0n, scalars: [{ stream: 'p', tags: seg === 0 ? tags : null, tagsSegment: 0, timestampNs: ts, tag, value, quality }], waves: [], tables: [] }, { tagIndex: layout === 'mixed' ? (['sparse', 'dense', 'auto'] as const)[seg]! : layout });
    }
    r = await openRun(d.dir);
  });
  afterAll(() => {
    r?.close();
    d.cleanup();
  });

  const lo = T0 + 150_000n;
  const hi = T0 + 2_100_000n;
  const reference = (tagSet?: Set<number>) => all.filter((p) => p.ts >= lo && p.ts < hi && (!tagSet || tagSet.has(p.tag))).sort((a, b) => a.tag - b.tag || (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
  const rows = (tbls: ReturnType<RunReader['readWindow']>[]) => tbls.flatMap((tb) => {
    const v = tb.getChild('value')!.toArray() as Float64Array;
    const g = tb.getChild('tag')!.toArray() as Uint32Array;
    return Array.from(v, (x, i) => [g[i]!, x]);
  });

  it('every tag: pieces concatenate to readWindow and to a sort of the source, each piece bounded', () => {
    const want = reference().map((p) => [p.tag, p.value]);
    const s = r.scalars('p');
    expect(rows([s.readWindow(lo, hi)])).toEqual(want);
    const scanned: number[] = [];
    const pieces = [...s.iterWindow(lo, hi, { maxRows: 2000, onScanned: (n) => scanned.push(n) })];
    expect(pieces.length).toBeGreaterThan(10);
    expect(rows(pieces)).toEqual(want);
    // Bounded: ≤ 2·maxRows stored points a piece, except the one piece of the dense tag 5 (~18k).
    const tags = pieces.map((p) => new Set(p.getChild('tag')!.toArray() as Uint32Array));
    pieces.forEach((p, i) => {
      if (tags[i]!.has(5)) expect([...tags[i]!]).toEqual([5]);
      else expect(p.numRows, `piece ${i}`).toBeLessThanOrEqual(4000);
    });
    expect(scanned[scanned.length - 1]).toBe(s.storedRows());
    expect(s.storedRows()).toBe(all.length);
  });

  it('named tags: pieces in tag order, ids outside the table and a tag spanning segments', () => {
    const s = r.scalars('p');
    const names = ['k5', 'k41', 'k1199'];
    const want = reference(new Set([5, 41, 1199])).map((p) => [p.tag, p.value]);
    const pieces = [...s.iterWindow(lo, hi, { tags: names, maxRows: 1000 })];
    expect(pieces.length).toBeGreaterThan(3);
    expect(rows(pieces)).toEqual(want);
    expect(s.storedRows(names)).toBe(all.filter((p) => [5, 41, 1199].includes(p.tag)).length);
  });
});
