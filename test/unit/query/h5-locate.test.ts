import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaqError } from '../../../src/errors.ts';
import { locateDataset, lookup3 } from '../../../src/query/h5-locate.ts';
import type { Located } from '../../../src/query/h5-locate.ts';
import { openHdf5Source } from '../../../src/query/loaders/hdf5-source.ts';
import { openRun } from '../../../src/query/open-run.ts';
import { PoolFile } from '../../../src/query/pool-file.ts';
import { encodePoolHeader, POOL_DATA_OFFSET } from '../../../src/storage/hdf5/pool-header.ts';
import { h5ready, writeSegmentSync } from '../../../src/storage/hdf5/segment-writer.ts';
import h5wasm from 'h5wasm/node';
import { allocRecordColumns } from '../../../src/schema/waveform.ts';
import type { SegmentContent } from '../../../src/storage/segment.ts';
import { py } from '../../helpers/h5py.ts';
import { tmpDir } from '../../helpers/tmp.ts';

const t = tmpDir('daq-h5locate-');
const N = 300_000; // samples in the primary pool (600 kB: more than one of the old chunks)
let seg: string;

function segment(dir: string): string {
  const r = allocRecordColumns(3);
  r.timestamp.set([1n, 2n, 3n]);
  r.wave_offset.set([0n, 1000n, 250_000n]);
  r.event_length.set([1000, 249_000, 50_000]);
  const aux = allocRecordColumns(1);
  aux.event_length[0] = 3;
  const samples = Uint16Array.from({ length: N }, (_, i) => (i * 40503) & 0x3fff);
  const c: SegmentContent = {
    runId: 'loc', index: 0, software: 't', configJson: JSON.stringify({ pad: 'x'.repeat(5000) }), lineageJson: '{}', t0UnixNs: 0n, walSeqLast: 0n,
    scalars: [],
    waves: [
      { stream: 'records', primary: true, dtNs: 4, records: r, samples, globalSampleOffset: 0n },
      { stream: 'aux', primary: false, dtNs: 4, records: aux, samples: new Uint16Array([7, 8, 9]), globalSampleOffset: 0n },
    ],
    tables: [],
  };
  return writeSegmentSync(dir, c).path;
}

/** h5py's view of a dataset's storage: (offset or null, storage size, dtype, chunks). */
function h5pyOffsets(file: string, paths: string[]): Record<string, { offset: number | null; size: number; dtype: string; chunks: number[] | null }> {
  return py(
    `
import h5py, sys, json
f = h5py.File(sys.argv[1], 'r')
print(json.dumps({p: {'offset': f[p].id.get_offset(), 'size': f[p].id.get_storage_size(), 'dtype': f[p].dtype.str, 'chunks': f[p].chunks} for p in sys.argv[2:]}))
`,
    [file, ...paths],
  );
}

beforeAll(async () => {
  await h5ready();
  seg = segment(t.dir);
});
afterAll(() => t.cleanup());

describe('lookup3 (HDF5 metadata checksum)', () => {
  it('matches the reference values of lookup3.c', () => {
    expect(lookup3(new Uint8Array(0))).toBe(0xdeadbeef);
    const s = new TextEncoder().encode('Four score and seven years ago');
    expect(lookup3(s, 0)).toBe(0x17770551);
    expect(lookup3(s, 1)).toBe(0xcd628161);
  });
});

describe('locateDataset on segments written by h5wasm', () => {
  it('finds /wave_pool and /streams/<s>/wave_pool where h5py says they are (contiguous <u2)', () => {
    const ref = h5pyOffsets(seg, ['wave_pool', 'streams/aux/wave_pool']);
    for (const p of ['wave_pool', 'streams/aux/wave_pool']) {
      const loc = locateDataset(seg, p) as Located;
      expect(loc.kind).toBe('contiguous');
      expect(ref[p]!.chunks).toBeNull();
      expect(loc.offset).toBe(ref[p]!.offset);
      expect(loc.bytes).toBe(ref[p]!.size);
      expect(loc.dtype).toBe('<u2');
    }
    const loc = locateDataset(seg, '/wave_pool') as Located;
    expect(loc.shape).toEqual([N]);
    // The bytes there are the samples.
    const buf = Buffer.alloc(loc.bytes);
    fs.readSync(fs.openSync(seg, 'r'), buf, 0, loc.bytes, loc.offset);
    const got = new Uint16Array(buf.buffer, buf.byteOffset, N);
    expect(got[12345]).toBe((12345 * 40503) & 0x3fff);
    expect(got[N - 1]).toBe(((N - 1) * 40503) & 0x3fff);
  });

  it('answers unsupported (never a guess) for chunked datasets, missing paths, groups', () => {
    // /records holds 11 links: dense storage (fractal heap + name index), read to reach the dataset.
    expect(locateDataset(seg, 'records/timestamp')).toMatchObject({ kind: 'unsupported', reason: expect.stringContaining('filter pipeline') });
    expect(locateDataset(seg, 'records/baseline')).toMatchObject({ kind: 'unsupported', reason: expect.stringContaining('chunked') });
    expect(locateDataset(seg, 'records/nope')).toMatchObject({ kind: 'unsupported' });
    expect(locateDataset(seg, 'nope')).toMatchObject({ kind: 'unsupported' });
    expect(locateDataset(seg, 'streams')).toMatchObject({ kind: 'unsupported', reason: expect.stringContaining('not a dataset') });
    expect(locateDataset(seg, 'streams/aux/records/event_length')).toMatchObject({ kind: 'unsupported' });
  });
});

describe('dense groups (more than 8 links)', () => {
  it('/streams with 12 streams (h5wasm) and a 40-dataset group (h5py, root indirect heap block) match h5py', async () => {
    const d = tmpDir('daq-h5locate-dense-');
    try {
      const waves = Array.from({ length: 12 }, (_, k) => {
        const aux = allocRecordColumns(1);
        aux.event_length[0] = k + 1;
        return { stream: `board${k}`, primary: false, dtNs: 4, records: aux, samples: Uint16Array.from({ length: k + 1 }, (_, i) => 100 * k + i), globalSampleOffset: 0n };
      });
      const file = writeSegmentSync(d.dir, { runId: 'dense', index: 0, software: 't', configJson: '{}', lineageJson: '{}', t0UnixNs: 0n, walSeqLast: 0n, scalars: [], waves, tables: [] }).path;
      const paths = waves.map((w) => `streams/${w.stream}/wave_pool`);
      const ref = h5pyOffsets(file, paths);
      for (const p of paths) expect(locateDataset(file, p)).toMatchObject({ kind: 'contiguous', offset: ref[p]!.offset, bytes: ref[p]!.size, dtype: '<u2' });
      expect(locateDataset(file, 'streams/board99/wave_pool')).toMatchObject({ kind: 'unsupported' });
      const many = path.join(d.dir, 'many.h5');
      py(
        `
import h5py, numpy as np, sys, json
with h5py.File(sys.argv[1], 'w', libver='latest') as f:
    g = f.create_group('g')
    for k in range(40): g['dataset_number_%02d' % k] = np.arange(k + 1, dtype='<u2')
    h = f.create_group('h')
    for k in range(200): h['d%03d' % k] = np.arange(3, dtype='<u2')
print(json.dumps(True))
`,
        [many],
      );
      const names = Array.from({ length: 40 }, (_, k) => `g/dataset_number_${String(k).padStart(2, '0')}`);
      const r2 = h5pyOffsets(many, names);
      for (const p of names) expect(locateDataset(many, p)).toMatchObject({ kind: 'contiguous', offset: r2[p]!.offset, bytes: r2[p]!.size });
      // 200 links: a name index deeper than one leaf is not read (h5wasm reads it instead).
      expect(locateDataset(many, 'h/d150')).toMatchObject({ kind: 'unsupported', reason: expect.stringContaining('deeper') });
      // openRun reads every stream's pool directly, same samples.
      const run = await openRun(d.dir);
      try {
        for (let k = 0; k < 12; k++) expect([...run.recordsOf(`board${k}`).rawWave(0)]).toEqual(Array.from({ length: k + 1 }, (_, i) => 100 * k + i));
        expect((run.recordsOf('board11') as unknown as { segments: Array<{ direct?: unknown }> }).segments[0]!.direct).toBeTruthy();
      } finally {
        run.close();
      }
    } finally {
      d.cleanup();
    }
  });
});

describe('locateDataset on files written by h5py', () => {
  const d = tmpDir('daq-h5locate-py-');
  afterAll(() => d.cleanup());
  it('reads libver=latest files (v3 superblock) and refuses chunked, compact, filtered, old-format files', () => {
    const f = path.join(d.dir, 'latest.h5');
    const old = path.join(d.dir, 'old.h5');
    py(
      `
import h5py, numpy as np, sys, json
with h5py.File(sys.argv[1], 'w', libver='latest') as f:
    f['u2'] = np.arange(70000, dtype='<u2')
    f['be'] = np.arange(10, dtype='>u2')
    f['f8'] = np.linspace(0, 1, 1000)
    f.create_dataset('chunked', data=np.arange(1000, dtype='<u2'), chunks=(100,))
    f.create_dataset('gz', data=np.arange(1000, dtype='<u2'), compression='gzip')
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE); dcpl.set_layout(h5py.h5d.COMPACT)
    sp = h5py.h5s.create_simple((4,)); h5py.h5d.create(f.id, b'compact', h5py.h5t.STD_U16LE, sp, dcpl)
    g = f.create_group('g'); g['x'] = np.arange(5, dtype='<i4')
    f['g/soft'] = h5py.SoftLink('/u2')
with h5py.File(sys.argv[2], 'w') as f:
    f['u2'] = np.arange(10, dtype='<u2')
print(json.dumps(True))
`,
      [f, old],
    );
    const ref = h5pyOffsets(f, ['u2', 'be', 'f8', 'g/x']);
    for (const [p, dtype] of [['u2', '<u2'], ['be', '>u2'], ['f8', '<f8'], ['g/x', '<i4']] as const) {
      expect(locateDataset(f, p)).toMatchObject({ kind: 'contiguous', offset: ref[p]!.offset, bytes: ref[p]!.size, dtype });
    }
    expect(locateDataset(f, 'chunked')).toMatchObject({ kind: 'unsupported', reason: expect.stringContaining('chunked') });
    expect(locateDataset(f, 'gz')).toMatchObject({ kind: 'unsupported' });
    expect(locateDataset(f, 'compact')).toMatchObject({ kind: 'unsupported', reason: expect.stringContaining('compact') });
    expect(locateDataset(f, 'g/soft')).toMatchObject({ kind: 'unsupported', reason: expect.stringContaining('soft') });
    expect(locateDataset(old, 'u2')).toMatchObject({ kind: 'unsupported', reason: expect.stringContaining('superblock version 0') });
    // A big-endian pool is not read directly (PoolFile wants <u2): h5wasm converts it.
    expect(PoolFile.open(f, 'be')).toBeNull();
    const p = PoolFile.open(f, 'u2')!;
    expect([...p.read(65534, 65538)]).toEqual([65534, 65535, 0, 1]);
    p.close();
  });
});

describe('external links (a segment\'s /wave_pool in its pool file)', () => {
  const d = tmpDir('daq-h5locate-ext-');
  afterAll(() => d.cleanup());
  const pool = (file: string, data: Uint16Array) =>
    fs.writeFileSync(file, Buffer.concat([encodePoolHeader({ samples: BigInt(data.length), globalOffset: 0n, dtNs: 4, units: 'ADC counts' }), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
  /** An h5wasm file whose links are `[group, name, target file, target path]`. */
  const linking = (file: string, links: Array<[string, string, string, string]>) => {
    const f = new h5wasm.File(file, 'w');
    try {
      f.create_attribute('run_id', 'x');
      for (const [group, name, target, tpath] of links) {
        let g: InstanceType<typeof h5wasm.Group> = f;
        if (group !== '/') {
          let at = '';
          for (const part of group.split('/').filter((s) => s)) {
            at += `/${part}`;
            const e = f.get(at);
            g = e instanceof h5wasm.Group ? e : f.create_group(at);
          }
        }
        g.create_external_link(target, tpath, name);
      }
    } finally {
      f.close();
    }
    return file;
  };
  const a = Uint16Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xffff);
  const b = Uint16Array.from({ length: 50 }, (_, i) => 60000 + i);
  let poolA: string;
  let poolB: string;
  beforeAll(() => {
    fs.mkdirSync(path.join(d.dir, 'pools'));
    poolA = path.join(d.dir, 'wave-000001.h5');
    poolB = path.join(d.dir, 'pools', 'wave-000002.h5');
    pool(poolA, a);
    pool(poolB, b);
  });
  const expectError = (fn: () => unknown, ...what: Array<string | RegExp>) => {
    let err: unknown;
    try {
      fn();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DaqError);
    expect((err as DaqError).code).toBe('DAQ_ERR_HDF5');
    for (const w of what) expect((err as DaqError).message).toMatch(w);
  };

  it('follows a root and a nested link, relative (to the linking file\'s folder) and absolute', () => {
    const seg = linking(path.join(d.dir, 'seg-000001.h5'), [
      ['/', 'wave_pool', 'wave-000001.h5', '/wave_pool'],
      ['/streams/x', 'wave_pool', poolB, '/wave_pool'],
      ['/streams/y', 'wave_pool', 'pools/wave-000002.h5', 'wave_pool'],
      ['/streams/z', 'wave_pool', poolA, '/wave_pool'],
    ]);
    const la = { kind: 'contiguous', file: poolA, offset: POOL_DATA_OFFSET, bytes: 2 * a.length, shape: [a.length], dtype: '<u2' };
    const lb = { kind: 'contiguous', file: poolB, offset: POOL_DATA_OFFSET, bytes: 2 * b.length, shape: [b.length], dtype: '<u2' };
    expect(locateDataset(seg, '/wave_pool')).toMatchObject(la);
    expect(locateDataset(seg, 'streams/x/wave_pool')).toMatchObject(lb);
    expect(locateDataset(seg, 'streams/y/wave_pool')).toMatchObject(lb);
    expect(locateDataset(seg, '/streams/z/wave_pool')).toMatchObject(la);
    // Where h5py finds them (from another working directory).
    const ref = h5pyOffsets(seg, ['wave_pool', 'streams/y/wave_pool']);
    expect(ref['wave_pool']).toMatchObject({ offset: POOL_DATA_OFFSET, size: 2 * a.length, chunks: null });
    expect(ref['streams/y/wave_pool']).toMatchObject({ offset: POOL_DATA_OFFSET, size: 2 * b.length });
    // A path given relative to the working directory resolves the same way.
    const rel = path.relative(process.cwd(), seg);
    expect(locateDataset(rel, 'wave_pool')).toMatchObject({ ...la, file: path.join(path.dirname(rel), 'wave-000001.h5') });
    // A link to a group, then on into it: the rest of the path continues in the target file.
    const outer = linking(path.join(d.dir, 'outer.h5'), [['/', 'seg', 'seg-000001.h5', '/streams']]);
    expect(locateDataset(outer, 'seg/x/wave_pool')).toMatchObject(lb);
    // No such object in the target: unsupported (h5wasm then reports it).
    const nope = linking(path.join(d.dir, 'nope.h5'), [['/', 'wave_pool', 'wave-000001.h5', '/nope']]);
    expect(locateDataset(nope, 'wave_pool')).toMatchObject({ kind: 'unsupported' });
  });

  it('PoolFile and the HDF5 trace loader read the samples through the link, from the pool file', async () => {
    const seg = path.join(d.dir, 'seg-000001.h5');
    const p = PoolFile.open(seg, 'wave_pool')!;
    expect(p.file).toBe(poolA);
    expect(p.length).toBe(a.length);
    expect([...p.read(1000, 1005)]).toEqual([...a.subarray(1000, 1005)]);
    expect([...p.read(2990, 3000)]).toEqual([...a.subarray(2990, 3000)]);
    p.close();
    const q = PoolFile.open(seg, 'streams/y/wave_pool')!;
    expect([...q.read(0, 50)]).toEqual([...b]);
    q.close();
    const src = await openHdf5Source(seg, { dataset: '/streams/x/wave_pool' });
    try {
      expect(src.direct).toMatchObject({ offset: POOL_DATA_OFFSET, size: 2 });
      const out = new Uint16Array(10);
      await src.readInto(40, 10, out);
      expect([...out]).toEqual([...b.subarray(40, 50)]);
    } finally {
      src.closeSync();
    }
    // The identity checked is the pool file's: replacing it is refused.
    const copyDir = path.join(d.dir, 'copy');
    fs.mkdirSync(copyDir);
    fs.copyFileSync(poolA, path.join(copyDir, 'wave-000001.h5'));
    const seg2 = linking(path.join(copyDir, 'seg.h5'), [['/', 'wave_pool', 'wave-000001.h5', '/wave_pool']]);
    const r = PoolFile.open(seg2, 'wave_pool')!;
    fs.appendFileSync(path.join(copyDir, 'wave-000001.h5'), Buffer.alloc(2));
    expectError(() => r.read(0, 1), 'replaced or modified', path.join(copyDir, 'wave-000001.h5'));
    r.close();
  });

  it('a missing target names both files; a loop is reported', () => {
    const seg = linking(path.join(d.dir, 'dangling.h5'), [['/streams/x', 'wave_pool', 'wave-999999.h5', '/wave_pool']]);
    expectError(() => locateDataset(seg, 'streams/x/wave_pool'), seg, path.join(d.dir, 'wave-999999.h5'), /external link \/streams\/x\/wave_pool/);
    expectError(() => PoolFile.open(seg, 'streams/x/wave_pool'), seg, 'wave-999999.h5');
    const absent = linking(path.join(d.dir, 'dangling-abs.h5'), [['/', 'wave_pool', '/nonexistent/dir/wave-000001.h5', '/wave_pool']]);
    expectError(() => locateDataset(absent, 'wave_pool'), absent, '/nonexistent/dir/wave-000001.h5');
    // a.h5:/x -> b.h5:/x -> a.h5:/x ...
    const la = linking(path.join(d.dir, 'loop-a.h5'), [['/', 'x', 'loop-b.h5', '/x']]);
    linking(path.join(d.dir, 'loop-b.h5'), [['/', 'x', 'loop-a.h5', '/x']]);
    expectError(() => locateDataset(la, 'x'), la, /more than 8 external links \(a loop\?\)/);
    const self = linking(path.join(d.dir, 'loop-self.h5'), [['/g', 'x', 'loop-self.h5', '/g/x']]);
    expectError(() => locateDataset(self, 'g/x'), self, /loop/);
    // A few hops through a group that links to itself are not a loop: /g/y -> /g, so g/y/y/y is /g.
    const hops = linking(path.join(d.dir, 'hops.h5'), [['/g', 'y', 'hops.h5', '/g']]);
    expect(locateDataset(hops, 'g/y/y/y')).toMatchObject({ kind: 'unsupported', reason: expect.stringContaining('not a dataset') });
  });
});

describe('malformed or truncated files: a clear error naming the file, never a wrong read', () => {
  const d = tmpDir('daq-h5locate-bad-');
  afterAll(() => d.cleanup());
  const copy = (name: string): string => {
    const p = path.join(d.dir, name);
    fs.copyFileSync(seg, p);
    return p;
  };
  const expectError = (fn: () => unknown, file: string, what: RegExp) => {
    let err: unknown;
    try {
      fn();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DaqError);
    expect((err as DaqError).code).toBe('DAQ_ERR_HDF5');
    expect((err as DaqError).message).toContain(file);
    expect((err as DaqError).message).toMatch(what);
  };

  it('a truncated file (cut inside the wave pool, or inside the metadata)', () => {
    const loc = locateDataset(seg, 'wave_pool') as Located;
    const cut = copy('cut-data.h5');
    fs.truncateSync(cut, loc.offset + 1000);
    expectError(() => locateDataset(cut, 'wave_pool'), cut, /truncated/);
    const cutMeta = copy('cut-meta.h5');
    fs.truncateSync(cutMeta, 30);
    expectError(() => locateDataset(cutMeta, 'wave_pool'), cutMeta, /superblock|end of the file/);
    const empty = copy('empty.h5');
    fs.truncateSync(empty, 0);
    expect(locateDataset(empty, 'wave_pool')).toMatchObject({ kind: 'unsupported' });
  });

  it('a corrupt object header or superblock fails its checksum', () => {
    const loc = locateDataset(seg, 'wave_pool') as Located;
    const bad = copy('bad-header.h5');
    const fd = fs.openSync(bad, 'r+');
    fs.writeSync(fd, new Uint8Array([0x5a]), 0, 1, loc.header + 12);
    fs.closeSync(fd);
    expectError(() => locateDataset(bad, 'wave_pool'), bad, /checksum/);
    const badSb = copy('bad-superblock.h5');
    const fd2 = fs.openSync(badSb, 'r+');
    fs.writeSync(fd2, new Uint8Array([0x77]), 0, 1, 20);
    fs.closeSync(fd2);
    expectError(() => locateDataset(badSb, 'wave_pool'), badSb, /superblock checksum/);
  });

  it('fuzz: any flipped metadata byte gives an error, "unsupported", or the true location, never another one', () => {
    const truth = locateDataset(seg, 'streams/aux/wave_pool') as Located;
    const orig = fs.readFileSync(seg);
    // Flips land in the superblock and root group's header (first 2 KiB) or around the pool's header.
    const where = () => (rnd() < 0.5 ? Math.floor(rnd() * 2048) : Math.max(0, truth.header - 256 + Math.floor(rnd() * 768)));
    const p = path.join(d.dir, 'fuzz.h5');
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / 2 ** 24;
    const outcomes = { error: 0, unsupported: 0, same: 0 };
    for (let k = 0; k < 300; k++) {
      const buf = Buffer.from(orig);
      const at = where();
      buf[at] = buf[at]! ^ (1 + Math.floor(rnd() * 255));
      fs.writeFileSync(p, buf);
      try {
        const r = locateDataset(p, 'streams/aux/wave_pool');
        if (r.kind === 'unsupported') outcomes.unsupported++;
        else {
          expect(r).toEqual({ ...truth, file: p }); // the flipped byte was outside what the locator reads
          outcomes.same++;
        }
      } catch (e) {
        expect(e).toBeInstanceOf(DaqError);
        expect((e as DaqError).message).toContain(p);
        outcomes.error++;
      }
    }
    expect(outcomes.error).toBeGreaterThan(50);
  });

  it('a pool file replaced after it was located is refused, not read at the old offset', () => {
    const p = copy('replaced.h5');
    const pool = PoolFile.open(p, 'wave_pool')!;
    fs.writeFileSync(p, fs.readFileSync(seg).subarray(0, 4096)); // a different file at the same path
    expectError(() => pool.read(0, 10), p, /replaced or modified/);
    pool.close();
    expectError(() => pool.read(0, 10), p, /closed/);
  });

  it('openRun on a truncated segment throws DAQ_ERR_HDF5 naming the segment', async () => {
    const r = tmpDir('daq-h5locate-run-');
    try {
      const p = segment(r.dir);
      const loc = locateDataset(p, 'wave_pool') as Located;
      fs.truncateSync(p, loc.offset + loc.bytes - 2);
      let err: unknown;
      try {
        const run = await openRun(r.dir);
        run.records.waves([2]);
        run.close();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(DaqError);
      expect((err as DaqError).code).toBe('DAQ_ERR_HDF5');
      expect((err as DaqError).message).toContain(p);
      // Metadata corrupted past what h5wasm checks at open: the locator's checksum error, not "missing".
      const q = segment(r.dir);
      const fd = fs.openSync(q, 'r+');
      fs.writeSync(fd, new Uint8Array([0x5a]), 0, 1, (locateDataset(q, 'wave_pool') as Located).header + 12);
      fs.closeSync(fd);
      const run = await openRun(r.dir);
      try {
        expect(() => run.records).toThrow(/checksum/);
        expect(() => run.records).toThrow(q);
      } finally {
        run.close();
      }
    } finally {
      r.cleanup();
    }
  });
});
