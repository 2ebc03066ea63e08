import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHUNKS, chunkLength, h5ready, TAG_BLOCK, writeSegmentSync } from '../../../src/storage/hdf5/segment-writer.ts';
import { SegmentWriter } from '../../../src/storage/hdf5/segment-writer-pool.ts';
import type { SegmentContent } from '../../../src/storage/segment.ts';
import { allocRecordColumns, RECORD_FIELDS } from '../../../src/schema/waveform.ts';
import { ScalarGenerator, simScalarOptions, simScalarTags } from '../../../src/instruments/sim-scalar.ts';
import { scalarColumns } from '../../../src/schema/scalar.ts';
import { isDaqError } from '../../../src/errors.ts';
import { ONE_TAG_PY, py } from '../../helpers/h5py.ts';
import { tmpDir } from '../../helpers/tmp.ts';

const T0 = 1_790_000_000_123_456_789n;
const t = tmpDir('daq-hdf5-');

/** Known content: 5 primary records, 2 records of another stream, 3 tags (ids 0, 2, 5) over several chunks, one table. */
export function knownContent(index: number, opts: { points?: number; globalOffset?: bigint } = {}): SegmentContent {
  const lens = [3, 0, 7, 1, 12];
  const rec = allocRecordColumns(lens.length);
  const samples = new Uint16Array(lens.reduce((a, b) => a + b, 0));
  let off = 0;
  lens.forEach((len, i) => {
    rec.timestamp[i] = 1_000_000n * BigInt(i) + BigInt(index) * 10n ** 12n;
    rec.pid[i] = i % 2;
    rec.channel[i] = (i * 3) % 4;
    rec.baseline[i] = 100.5 + i;
    rec.event_id[i] = BigInt(index * 100 + i);
    rec.dt[i] = 4;
    rec.trigger_type[i] = i + 1;
    rec.flags[i] = i === 4 ? 0x80000001 : 0;
    rec.wave_offset[i] = BigInt(off);
    rec.event_length[i] = len;
    rec.time[i] = T0 + BigInt(i) * 1000n;
    for (let s = 0; s < len; s++) samples[off + s] = (i * 1000 + s * 7 + index) & 0x3fff;
    off += len;
  });
  const other = allocRecordColumns(2);
  other.timestamp.set([5n, 6n]);
  other.event_length.set([2, 2]);
  other.wave_offset.set([0n, 2n]);
  // Scalars in arrival (time) order; tag 5 arrives out of time order once (the writer sorts it).
  const n = opts.points ?? 40_000;
  const ids = [0, 2, 5];
  const ts = new BigInt64Array(n);
  const tag = new Uint32Array(n);
  const value = new Float64Array(n);
  const quality = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    ts[i] = T0 + BigInt(i) * 1_000_003n + BigInt((i * 7919) % 1000);
    tag[i] = ids[i % 3]!;
    value[i] = Math.sin(i / 100) * 50 + i * 1e-3;
    quality[i] = i % 101 === 0 ? 2 : 0;
  }
  if (n > 20) {
    const a = 2, b = 17; // both tag 5: swap times
    [ts[a], ts[b]] = [ts[b]!, ts[a]!];
  }
  return {
    runId: 'run-x',
    index,
    software: 'daq 0.1.0 test',
    configJson: JSON.stringify({ a: 1, s: 'é' }),
    lineageJson: JSON.stringify({ plant: { plugin: 'sim', version: '1' } }),
    t0UnixNs: T0,
    walSeqLast: 123456789012345n + BigInt(index),
    scalars: [
      { stream: 'plant', tags: [{ id: 0, name: 'temp', unit: 'degC', type: 'float64' }, { id: 2, name: 'p', unit: 'bar', type: 'float64' }, { id: 5, name: 'valve_é', unit: '', type: 'bool' }], timestampNs: ts, tag, value, quality },
      { stream: 'empty', tags: [], timestampNs: new BigInt64Array(0), tag: new Uint32Array(0), value: new Float64Array(0), quality: new Uint8Array(0) },
    ],
    waves: [
      { stream: 'records', primary: true, dtNs: 4, records: rec, samples, globalSampleOffset: opts.globalOffset ?? 1000n },
      { stream: 'ch0', primary: false, dtNs: 2, records: other, samples: new Uint16Array([1, 2, 3, 4]), globalSampleOffset: 0n },
    ],
    tables: [{ stream: 'fft', columns: { freq_hz: new Float64Array([0, 0.5, 1]), power: new Float32Array([1, 2, 3]), bin: new BigInt64Array([7n, 8n, 9n]) }, units: { freq_hz: 'Hz' } }],
  };
}

/** Reference (tag, time) order computed the slow, obvious way. */
function refOrder(c: SegmentContent['scalars'][number]): number[] {
  return [...c.tag.keys()].sort((x, y) => c.tag[x]! - c.tag[y]! || (c.timestampNs[x]! < c.timestampNs[y]! ? -1 : c.timestampNs[x]! > c.timestampNs[y]! ? 1 : x - y));
}

/** Every dataset and attribute through h5py, int64 as decimal strings (exact), with dtype, chunks and filters. */
function inspect(file: string) {
  return py<{
    attrs: Record<string, Record<string, unknown>>;
    ds: Record<string, { dtype: string; shape: number[]; chunks: number[] | null; compression: string | null; scaleoffset: number | null; shuffle: boolean; data: unknown[] }>;
    wave: Record<string, number[]>;
    oneTag: Record<string, number[]>;
  }>(
    `
import h5py, json, sys, numpy as np
f = h5py.File(sys.argv[1], 'r')
${ONE_TAG_PY}
def conv(v):
    if isinstance(v, bytes): return v.decode()
    if isinstance(v, np.ndarray): return [conv(x) for x in v.tolist()] if v.dtype.kind not in 'iu' or v.dtype.itemsize < 8 else [str(x) for x in v.tolist()]
    if isinstance(v, (np.int64, np.uint64)): return str(int(v))
    if isinstance(v, np.integer): return int(v)
    if isinstance(v, np.floating): return float(v)
    if isinstance(v, list): return [conv(x) for x in v]
    return v
out = {'attrs': {'/': {k: conv(f.attrs[k]) for k in f.attrs}}, 'ds': {}, 'wave': {}}
def visit(name, o):
    out['attrs'][name] = {k: conv(o.attrs[k]) for k in o.attrs}
    if isinstance(o, h5py.Dataset):
        out['ds'][name] = {'dtype': o.dtype.str, 'shape': list(o.shape), 'chunks': list(o.chunks) if o.chunks else None,
            'compression': o.compression, 'scaleoffset': o.scaleoffset, 'shuffle': o.shuffle, 'data': conv(o[()])}
f.visititems(visit)
# the documented way to get one waveform from one file
r = f['records']
for i in range(len(r['timestamp'])):
    o, n = int(r['wave_offset'][i]), int(r['event_length'][i])
    out['wave'][str(i)] = f['wave_pool'][o:o + n].tolist()
out['oneTag'] = {}
if 'scalars/plant' in f:
    for tag_id in (0, 2, 5):
        out['oneTag'][str(tag_id)] = one_tag(f['scalars/plant'], tag_id, -2**63, 2**63 - 1).tolist()
print(json.dumps(out))
`,
    [file],
  );
}

let h: ReturnType<typeof inspect>;
let content: SegmentContent;
let file: string;

beforeAll(async () => {
  await h5ready();
  content = knownContent(3);
  file = writeSegmentSync(t.dir, knownContent(3)).path;
  h = inspect(file);
});
afterAll(() => t.cleanup());

describe('writeSegmentSync: the layout, read back by h5py', () => {
  it('names the file seg-NNNNNN.h5 and leaves no .tmp', () => {
    expect(path.basename(file)).toBe('seg-000003.h5');
    expect(fs.readdirSync(t.dir)).toEqual(['seg-000003.h5']);
  });

  it('root attributes', () => {
    const a = h.attrs['/']!;
    expect(a).toMatchObject({ run_id: 'run-x', software: 'daq 0.1.0 test', NX_class: 'NXentry', segment_index: 3, default: 'records' });
    expect(JSON.parse(a['config'] as string)).toEqual({ a: 1, s: 'é' });
    expect(JSON.parse(a['lineage'] as string)).toEqual({ plant: { plugin: 'sim', version: '1' } });
    expect(a['t0_unix_ns']).toBe(String(T0));
    expect(a['wal_seq_last']).toBe('123456789012348');
  });

  it('/records: one dataset per field, exact dtypes, values and units', () => {
    const dt: Record<string, string> = { timestamp: '<i8', pid: '<i4', channel: '<i2', baseline: '<f8', event_id: '<i8', dt: '<i4', trigger_type: '<i2', flags: '<u4', wave_offset: '<i8', event_length: '<i4', time: '<i8' };
    for (const f of RECORD_FIELDS) {
      const d = h.ds[`records/${f.name}`]!;
      expect(d.dtype, f.name).toBe(dt[f.name]);
      const col = content.waves[0]!.records[f.name] as unknown as Iterable<number | bigint>;
      expect(d.data, f.name).toEqual([...col].map((x) => (typeof x === 'bigint' ? String(x) : x)));
      expect(h.attrs[`records/${f.name}`]!['units']).toBe(f.unit || undefined);
    }
    expect(h.attrs['records']).toMatchObject({ NX_class: 'NXdata', signal: 'event_length', axes: 'timestamp' });
  });

  it('/wave_pool: uint16, contiguous, global_offset, and wave_pool[wave_offset:+event_length] is each waveform', () => {
    const w = content.waves[0]!;
    expect(h.ds['wave_pool']!.dtype).toBe('<u2');
    // Contiguous, unfiltered (docs/file-layout.md): readers find sample k at get_offset() + 2k.
    expect(h.ds['wave_pool']!.chunks).toBeNull();
    expect(h.ds['wave_pool']!.compression).toBeNull();
    expect(h.ds['streams/ch0/wave_pool']!.chunks).toBeNull();
    expect(h.ds['wave_pool']!.data).toEqual([...w.samples]);
    expect(h.attrs['wave_pool']).toMatchObject({ global_offset: '1000', dt_ns: 4, units: 'ADC counts' });
    for (let i = 0; i < 5; i++) {
      const o = Number(w.records.wave_offset[i]);
      expect(h.wave[String(i)]).toEqual([...w.samples.subarray(o, o + w.records.event_length[i]!)]);
    }
    expect(h.ds['streams/ch0/wave_pool']!.data).toEqual([1, 2, 3, 4]);
    expect(h.ds['streams/ch0/records/timestamp']!.data).toEqual(['5', '6']);
    expect(h.attrs['streams/ch0/wave_pool']).toMatchObject({ dt_ns: 2 });
  });

  it('/scalars: sorted by (tag, time), tag index, tag table, ≤ 12 bytes a point of compression h5py reads', () => {
    const s = content.scalars[0]!;
    const order = refOrder(s);
    expect(h.ds['scalars/plant/timestamp_ns']!.data).toEqual(order.map((i) => String(s.timestampNs[i])));
    expect(h.ds['scalars/plant/tag']).toBeUndefined(); // the tag index names each row's tag
    expect(h.ds['scalars/plant/value']!.data).toEqual(order.map((i) => s.value[i]));
    expect(h.ds['scalars/plant/quality']!.data).toEqual(order.map((i) => s.quality[i]));
    expect(h.ds['scalars/plant/timestamp_ns']).toMatchObject({ dtype: '<i8', scaleoffset: 0, compression: null });
    for (const c of ['value', 'quality']) expect(h.ds[`scalars/plant/${c}`]!.compression).toBe('gzip');
    expect(h.ds['scalars/plant/value']!.chunks).toEqual([chunkLength(s.tag.length, CHUNKS.scalarValue)]);
    expect(h.attrs['scalars/plant/timestamp_ns']!['units']).toBe('ns');
    // Dense tag index (ids 0..5, 0 for absent ones): rows of tag id are [start, start+count),
    // start the counts summed before it, given every TAG_BLOCK ids in block_start (no time range:
    // the tag's rows give it).
    const counts = [0, 1, 2, 3, 4, 5].map((id) => order.filter((i) => s.tag[i] === id).length);
    expect(h.attrs['scalars/plant/tag_index']).toEqual({ layout: 'dense', block_tags: TAG_BLOCK });
    expect(h.ds['scalars/plant/tag_index/count']).toMatchObject({ dtype: counts.some((c) => c > 255) ? '<u2' : '<u1', compression: 'gzip', chunks: [6], data: counts });
    expect(h.ds['scalars/plant/tag_index/block_start']).toMatchObject({ dtype: '<i8', scaleoffset: 0, data: ['0'] });
    expect(Object.keys(h.ds).filter((k) => k.startsWith('scalars/plant/tag_index/')).sort()).toEqual(['block_start', 'count'].map((c) => `scalars/plant/tag_index/${c}`));
    // the documented h5py snippet (docs/file-layout.md) finds each tag's rows
    expect(h.oneTag).toEqual(Object.fromEntries([0, 2, 5].map((id) => [String(id), order.filter((i) => s.tag[i] === id).map((i) => s.value[i])])));
    expect(h.ds['scalars/plant/tags/id']!.data).toEqual([0, 2, 5]);
    expect(h.ds['scalars/plant/tags/name']!.data).toEqual(['temp', 'p', 'valve_é']);
    expect(h.ds['scalars/plant/tags/unit']!.data).toEqual(['degC', 'bar', '']);
    expect(h.ds['scalars/plant/tags/type']!.data).toEqual(['float64', 'float64', 'bool']);
    expect(h.ds['scalars/empty/timestamp_ns']!.shape).toEqual([0]);
    expect(h.ds['scalars/empty/tags/name']!.shape).toEqual([0]);
  });

  it('/tables: columns with their dtypes and units', () => {
    expect(h.ds['tables/fft/freq_hz']).toMatchObject({ dtype: '<f8', data: [0, 0.5, 1] });
    expect(h.ds['tables/fft/power']).toMatchObject({ dtype: '<f4', data: [1, 2, 3] });
    expect(h.ds['tables/fft/bin']).toMatchObject({ dtype: '<i8', data: ['7', '8', '9'] });
    expect(h.attrs['tables/fft/freq_hz']!['units']).toBe('Hz');
  });

  it('h5ls -r and h5dump -H -p (native HDF5 tools) read it, filters shown', () => {
    const ls = execFileSync('h5ls', ['-r', file], { encoding: 'utf8' });
    for (const p of ['/records/timestamp', '/wave_pool', '/scalars/plant/tag_index/count', '/scalars/plant/tag_index/block_start', '/scalars/plant/tags/name', '/streams/ch0/wave_pool', '/tables/fft/bin']) expect(ls).toContain(p);
    const dump = execFileSync('h5dump', ['-H', '-p', '-d', '/scalars/plant/timestamp_ns', '-d', '/scalars/plant/value', file], { encoding: 'utf8' });
    expect(dump).toMatch(/SCALEOFFSET/);
    expect(dump).toMatch(/COMPRESSION DEFLATE \{ LEVEL 1 \}/);
    expect(dump).toContain('H5T_STD_I64LE');
    const pool = execFileSync('h5dump', ['-H', '-p', '-d', '/wave_pool', file], { encoding: 'utf8' });
    expect(pool).toMatch(/CONTIGUOUS/);
    expect(pool).toContain('H5T_STD_U16LE');
  });

  it('compressed scalars take ≤ 12 bytes a point on simulated plant data (1000 tags at 10 Hz)', () => {
    const d = tmpDir('daq-hdf5-size-');
    try {
      const n = 300_000;
      const o = simScalarOptions.parse({ tags: 1000, rate_hz: 10 });
      const cols = scalarColumns(new ScalarGenerator(o, 1, T0).generate(n, 'plant').batch);
      const c = knownContent(0, { points: 0 });
      c.waves = [];
      c.tables = [];
      c.scalars = [{ stream: 'plant', tags: simScalarTags(o), ...cols }];
      const s = writeSegmentSync(d.dir, c);
      expect(s.scalarPoints).toBe(n);
      expect(s.bytes / n).toBeLessThanOrEqual(12);
    } finally {
      d.cleanup();
    }
  });
});

describe('tmp + rename', () => {
  it('replaces a stale .tmp left by a crash, and a failed write leaves neither file', () => {
    const d = tmpDir('daq-hdf5-tmp-');
    try {
      fs.writeFileSync(path.join(d.dir, 'seg-000007.h5.tmp'), 'half a file');
      writeSegmentSync(d.dir, knownContent(7, { points: 10 }));
      expect(fs.readdirSync(d.dir)).toEqual(['seg-000007.h5']);
      let err: unknown;
      try {
        writeSegmentSync(path.join(d.dir, 'missing'), knownContent(8, { points: 10 }));
      } catch (e) {
        err = e;
      }
      expect(isDaqError(err, 'DAQ_ERR_STORAGE_IO')).toBe(true);
      expect((err as Error).message).toContain('seg-000008.h5.tmp');
      expect(fs.readdirSync(d.dir)).toEqual(['seg-000007.h5']);
    } finally {
      d.cleanup();
    }
  });
});

describe('SegmentWriter (worker thread)', () => {
  it('writes several segments on one reused thread, buffers transferred; errors come back coded', async () => {
    const d = tmpDir('daq-hdf5-w-');
    const w = new SegmentWriter();
    try {
      const c0 = knownContent(0, { points: 100 });
      const samples = c0.waves[0]!.samples;
      const s0 = await w.write(d.dir, c0);
      expect(samples.byteLength).toBe(0); // moved, not copied
      const s1 = await w.write(d.dir, knownContent(1, { points: 100 }));
      expect([s0.records, s0.samples, s0.scalarPoints]).toEqual([7, 27, 100]);
      expect(path.basename(s1.path)).toBe('seg-000001.h5');
      expect(fs.readdirSync(d.dir).sort()).toEqual(['seg-000000.h5', 'seg-000001.h5']);
      const back = py<number[]>(`import h5py, sys, json; print(json.dumps(h5py.File(sys.argv[1])['wave_pool'][0:3].tolist()))`, [s1.path]);
      expect(back).toEqual([1, 8, 15]);
      await expect(w.write(path.join(d.dir, 'nope'), knownContent(2, { points: 10 }))).rejects.toMatchObject({ code: 'DAQ_ERR_STORAGE_IO' });
      const s3 = await w.write(d.dir, knownContent(3, { points: 10 }));
      expect(fs.existsSync(s3.path)).toBe(true);
      // The thread dies during a write: that write fails (coded), the next one gets a new thread.
      const thread = (w as unknown as { worker: { terminate(): Promise<number> } }).worker;
      const dying = w.write(d.dir, knownContent(4, { points: 10 }));
      await thread.terminate(); // before the thread can have taken the message
      await expect(dying).rejects.toMatchObject({ code: 'DAQ_ERR_HDF5' });
      const s5 = await w.write(d.dir, knownContent(5, { points: 10 }));
      expect(fs.existsSync(s5.path)).toBe(true);
      expect(s5.uncommitted).toBeUndefined(); // durable under its name when the write resolves
      expect(fs.readdirSync(d.dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
      // The thread leaves fsync + rename to the caller: a rename that fails (a folder squats the
      // segment's name) fails the write, coded and naming the file; the .tmp stays for recovery.
      fs.mkdirSync(path.join(d.dir, 'seg-000006.h5', 'squatter'), { recursive: true });
      await expect(w.write(d.dir, knownContent(6, { points: 10 }))).rejects.toMatchObject({ code: 'DAQ_ERR_STORAGE_IO', message: expect.stringContaining('seg-000006.h5.tmp') });
      expect(fs.existsSync(path.join(d.dir, 'seg-000006.h5.tmp'))).toBe(true);
    } finally {
      await w.close();
      d.cleanup();
    }
  });
});
