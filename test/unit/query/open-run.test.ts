import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageSink } from '../../../src/storage/storage-sink.ts';
import { openRun } from '../../../src/query/open-run.ts';
import type { RunReader } from '../../../src/query/open-run.ts';
import { ScalarGenerator, simScalarOptions, simScalarTags } from '../../../src/instruments/sim-scalar.ts';
import { ChannelGenerator, simDigitizerOptions } from '../../../src/instruments/sim-digitizer.ts';
import { scalarSchema } from '../../../src/schema/scalar.ts';
import { recordColumns, recordsSchema } from '../../../src/schema/waveform.ts';
import { StreamingMerge } from '../../../src/merge/streaming-merge.ts';
import type { WaveBatch } from '../../../src/schema/batch.ts';
import { concatScalar } from '../../helpers/scalar.ts';
import { py } from '../../helpers/h5py.ts';
import { tmpDir } from '../../helpers/tmp.ts';
import { sameBytes } from '../../helpers/bytes.ts';

const T0 = 1_790_000_000_000_000_000n;
const lineage = { plugin: 't', version: '1', optionsHash: '', inputs: [] };
const sOpts = simScalarOptions.parse({ tags: 20, rate_hz: 100 });
const t = tmpDir('daq-query-');
let run: RunReader;
const refWaves: Array<{ t: bigint; ch: number; wave: Uint16Array; baseline: number }> = [];
let refScalar: ReturnType<typeof concatScalar>;

beforeAll(async () => {
  // A run of several segments: 2 channels merged, scalars, cut every ~40 kB.
  const sink = new StorageSink({ epochS: 3600, epochMiB: 0.04 });
  await sink.open({ runId: 'q', dir: t.dir, t0UnixNs: T0, config: {}, software: 'test' });
  sink.addStream({ name: 'plant.tags', kind: 'scalar', schema: scalarSchema, lineage, tags: simScalarTags(sOpts) });
  sink.addStream({ name: 'records', kind: 'waveform', schema: recordsSchema, lineage, dtNs: 4, channels: [0, 1] });
  const merge = new StreamingMerge({ output: 'records' });
  const dOpts = simDigitizerOptions.parse({ trigger_rate_hz: 400, max_length: 800 });
  const gens = [0, 1].map((c) => new ChannelGenerator(dOpts, 5, c, T0));
  gens.forEach((_, c) => merge.addInput(`ch${c}`));
  const sg = new ScalarGenerator(sOpts, 5, T0);
  const acks: Promise<void>[] = [];
  const merged: WaveBatch[] = [];
  for (let k = 1; k <= 10; k++) {
    gens.forEach((g, c) => {
      const wb = g.generate(BigInt(k) * 100_000_000_000n, `ch${c}`);
      if (wb) merge.push(`ch${c}`, wb);
    });
    merged.push(...merge.drain());
    acks.push(sink.write(sg.generate(200, 'plant.tags')));
  }
  merged.push(...merge.finish());
  for (const wb of merged) acks.push(sink.write(wb));
  await Promise.all(acks);
  await sink.close();
  for (const wb of merged) {
    const c = recordColumns(wb.batch);
    for (let i = 0; i < wb.batch.numRows; i++) {
      const o = Number(c.wave_offset[i]);
      refWaves.push({ t: c.timestamp[i]!, ch: c.channel[i]!, wave: wb.samples.slice(o, o + c.event_length[i]!), baseline: c.baseline[i]! });
    }
  }
  refScalar = concatScalar([new ScalarGenerator(sOpts, 5, T0).generate(2000, 's')]);
  run = await openRun(t.dir);
});

afterAll(() => {
  run?.close();
  t.cleanup();
});

describe('openRun / RecordsView', () => {
  it('sees every segment as one records table, waves exact', () => {
    expect(run.segmentPaths.length).toBeGreaterThan(2);
    expect(run.records.length).toBe(refWaves.length);
    refWaves.forEach((r, i) => {
      expect(run.records.columns.timestamp[i]).toBe(r.t);
      expect(run.records.columns.channel[i]).toBe(r.ch);
    });
    for (const i of [0, 1, Math.floor(refWaves.length / 2), refWaves.length - 1]) {
      expect([...run.records.rawWave(i)]).toEqual([...refWaves[i]!.wave]);
      const w = run.records.wave(i, { baselineCorrect: true });
      expect(w[3]).toBe(refWaves[i]!.wave[3]! - refWaves[i]!.baseline);
    }
    // wave_offset is run-global: contiguous across segments.
    const c = run.records.columns;
    for (let i = 1; i < run.records.length; i++) expect(c.wave_offset[i]).toBe(c.wave_offset[i - 1]! + BigInt(c.event_length[i - 1]!));
    expect(run.records.toArrow().numRows).toBe(refWaves.length);
  });

  it('waves(): one padded float32 matrix with mask and true lengths', () => {
    const idx = [2, 0, 5];
    const pad = 300;
    const r = run.records.waves(idx, { padTo: pad });
    expect(r.data.length).toBe(3 * pad);
    idx.forEach((i, k) => {
      const ref = refWaves[i]!.wave;
      expect(r.lengths[k]).toBe(ref.length);
      const m = Math.min(ref.length, pad);
      for (let s = 0; s < m; s++) expect(r.data[k * pad + s]).toBe(ref[s]);
      expect(r.mask.subarray(k * pad, k * pad + pad).reduce((a, b) => a + b, 0)).toBe(m);
      for (let s = m; s < pad; s++) expect(r.data[k * pad + s]).toBe(0);
    });
  });

  it('waves({ out }): fills reused buffers (stale contents overwritten, padding zeroed), same as fresh; baselineCorrect', () => {
    const idx = [5, 2, 0, 1];
    const pad = 300;
    const fresh = run.records.waves(idx, { padTo: pad });
    const data = new Float32Array(idx.length * pad + 7).fill(-1);
    const mask = new Uint8Array(idx.length * pad).fill(9);
    const r = run.records.waves(idx, { padTo: pad, out: { data, mask } });
    expect(r.data.buffer).toBe(data.buffer);
    expect(Array.from(r.data)).toEqual(Array.from(fresh.data));
    expect(Array.from(r.mask)).toEqual(Array.from(fresh.mask));
    expect(data[idx.length * pad]).toBe(-1);
    expect(() => run.records.waves(idx, { padTo: pad, out: { data: new Float32Array(10) } })).toThrow(/out buffers need 1200 elements/);
    const bc = run.records.waves([1], { padTo: pad, baselineCorrect: true });
    const w = run.records.wave(1, { baselineCorrect: true });
    expect(Array.from(bc.data.subarray(0, Math.min(pad, w.length)))).toEqual(Array.from(w.subarray(0, pad)));
  });

  it('queryTimeWindow: tMin inclusive, tMax exclusive, by binary search, with channel filter', () => {
    const ts = refWaves.map((w) => w.t);
    const a = ts[10]!;
    const b = ts[40]!;
    const got = run.records.queryTimeWindow(a, b);
    expect([...got]).toEqual(ts.map((t2, i) => [t2, i] as const).filter(([t2]) => t2 >= a && t2 < b).map(([, i]) => i));
    expect(run.records.queryTimeWindow(b, a).length).toBe(0);
    expect(run.records.queryTimeWindow(-(2n ** 62n), 2n ** 62n).length).toBe(ts.length);
    const ch1 = run.records.queryTimeWindow(a, b, { channels: [1] });
    expect([...ch1].every((i) => refWaves[i]!.ch === 1)).toBe(true);
    expect(ch1.length).toBe(refWaves.filter((w) => w.t >= a && w.t < b && w.ch === 1).length);
  });

  it('iterBatches yields every record with its waveform', () => {
    let n = 0;
    for (const b of run.records.iterBatches(7)) {
      expect(b.records.numRows).toBe(b.end - b.start);
      const c = recordColumns(b.records);
      for (let k = 0; k < b.records.numRows; k++) {
        const o = Number(c.wave_offset[k]);
        expect(sameBytes(b.samples.subarray(o, o + c.event_length[k]!), refWaves[b.start + k]!.wave)).toBe(true);
      }
      n += b.records.numRows;
    }
    expect(n).toBe(refWaves.length);
  });
});

describe('scalar queries', () => {
  it('readTag returns one tag in [tMin, tMax) in time order, exactly', () => {
    const tag = 7;
    const rows = [...refScalar.tag.keys()].filter((i) => refScalar.tag[i] === tag);
    const tMin = refScalar.ts[rows[10]!]!;
    const tMax = refScalar.ts[rows[60]!]!;
    const tbl = run.readTag('tag7', tMin, tMax);
    expect(tbl.numRows).toBe(50);
    const v = tbl.getChild('value')!.toArray() as Float64Array;
    const ts = tbl.getChild('timestamp_ns')!.toArray() as BigInt64Array;
    rows.slice(10, 60).forEach((i, k) => {
      expect(v[k]).toBe(refScalar.value[i]);
      expect(ts[k]).toBe(refScalar.ts[i]);
    });
  });

  it('readWindow and lastValues', () => {
    const all = run.readWindow(-(2n ** 62n), 2n ** 62n, { tags: ['tag0', 'tag3'] });
    expect(all.numRows).toBe(2 * 100);
    const lv = run.lastValues();
    expect(lv.numRows).toBe(20);
    const lastOf5 = [...refScalar.tag.keys()].filter((i) => refScalar.tag[i] === 5).pop()!;
    const row = lv.get(5)!.toJSON() as { name: string; value: number };
    expect(row.name).toBe('tag5');
    expect(row.value).toBe(refScalar.value[lastOf5]);
  });

  it('names what is missing', async () => {
    expect(() => run.readTag('nope', 0n, 1n)).toThrow(/no tag "nope"/);
    await expect(openRun(path.join(t.dir, 'missing'))).rejects.toMatchObject({ code: 'DAQ_ERR_RUN_NOT_FOUND' });
  });
});

describe('interop: a file written by h5py in the layout', () => {
  it('is read by openRun', async () => {
    const d = tmpDir('daq-h5py-');
    try {
      py(
        `
import h5py, numpy as np, sys, json
f = h5py.File(sys.argv[1] + '/seg-000000.h5', 'w')
f.attrs['run_id'] = 'from-h5py'
r = f.create_group('records')
n = 3
r['timestamp'] = np.array([10, 20, 30], dtype='<i8')
r['pid'] = np.zeros(n, dtype='<i4'); r['channel'] = np.array([0, 1, 0], dtype='<i2')
r['baseline'] = np.array([100.0, 200.0, 300.0]); r['event_id'] = np.arange(n, dtype='<i8')
r['dt'] = np.full(n, 4, dtype='<i4'); r['trigger_type'] = np.ones(n, dtype='<i2'); r['flags'] = np.zeros(n, dtype='<u4')
r['wave_offset'] = np.array([0, 2, 5], dtype='<i8'); r['event_length'] = np.array([2, 3, 1], dtype='<i4'); r['time'] = np.zeros(n, dtype='<i8')
f['wave_pool'] = np.array([101, 102, 203, 204, 205, 306], dtype='<u2')
f.close()
print(json.dumps(True))
`,
        [d.dir],
      );
      const r = await openRun(d.dir);
      expect(r.attrs['run_id']).toBe('from-h5py');
      expect(r.records.length).toBe(3);
      expect([...r.records.wave(1, { baselineCorrect: true })]).toEqual([3, 4, 5]);
      expect([...r.records.queryTimeWindow(15n, 31n)]).toEqual([1, 2]);
      r.close();
    } finally {
      d.cleanup();
    }
  });
});
