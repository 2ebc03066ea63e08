import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import h5wasm from 'h5wasm/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaqError } from '../../../src/errors.ts';
import { locateDataset } from '../../../src/query/h5-locate.ts';
import type { Located } from '../../../src/query/h5-locate.ts';
import { encodePoolHeader, POOL_DATA_OFFSET, POOL_MAX_UNITS_BYTES } from '../../../src/storage/hdf5/pool-header.ts';
import type { PoolHeaderInfo } from '../../../src/storage/hdf5/pool-header.ts';
import { tmpDir } from '../../helpers/tmp.ts';

const t = tmpDir('daq-poolhdr-');
/** Above 2^53: must come back exact (int64, not a double). */
const GO = (1n << 60n) + 12_345n;

beforeAll(async () => {
  await h5wasm.ready;
});
afterAll(() => t.cleanup());

function samplesOf(n: number, seed: number): Uint16Array {
  let s = seed >>> 0;
  return Uint16Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) & 0xffff);
}

function info(n: number, more: Partial<PoolHeaderInfo> = {}): PoolHeaderInfo {
  return { samples: BigInt(n), globalOffset: GO, dtNs: 4, units: 'ADC counts', ...more };
}

function writePool(file: string, data: Uint16Array, more: Partial<PoolHeaderInfo> = {}): void {
  fs.writeFileSync(file, Buffer.concat([encodePoolHeader(info(data.length, more)), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

interface PyView {
  dtype: string;
  shape: number[];
  chunks: null | number[];
  values: number[];
  units: string;
  unitsType: string;
  globalOffset: string;
  goDtype: string;
  dtNs: number;
  dtType: string;
}

/** h5py's view of `dsPath` in `file`, run with the working directory `cwd`. */
function h5pyView(file: string, dsPath = 'wave_pool', cwd = '/'): PyView {
  const code = `
import h5py, sys, json, numpy as np
with h5py.File(sys.argv[1], 'r') as f:
    d = f[sys.argv[2]]
    a = d.attrs
    print(json.dumps({'dtype': d.dtype.str, 'shape': list(d.shape), 'chunks': d.chunks, 'values': d[()].tolist(),
        'units': a['units'], 'unitsType': type(a['units']).__name__, 'globalOffset': str(int(a['global_offset'])),
        'goDtype': a['global_offset'].dtype.str, 'dtNs': float(a['dt_ns']), 'dtType': a['dt_ns'].dtype.str}))
`;
  const out = execFileSync('/usr/bin/python3', ['-c', code, file, dsPath], { cwd, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  return JSON.parse(out) as PyView;
}

/** h5dump over the whole file (data and attributes): exit status 0 and nothing on stderr. */
function h5dumpOk(file: string): string {
  return execFileSync('h5dump', [file], { cwd: '/', encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** h5wasm's view of `dsPath` in `file` (`units` not read when `noUnits`, see {@link expectPool}). */
function h5wasmView(file: string, dsPath = 'wave_pool', noUnits = false): { dtype: unknown; shape: unknown; chunks: unknown; values: Uint16Array; units: unknown; globalOffset: unknown; dtNs: unknown } {
  const f = new h5wasm.File(file, 'r');
  try {
    const d = f.get(dsPath);
    if (!(d instanceof h5wasm.Dataset)) throw new Error(`${file}:${dsPath} is not a dataset for h5wasm`);
    return {
      dtype: d.dtype,
      shape: d.shape,
      chunks: d.metadata.chunks,
      values: d.value as Uint16Array,
      units: noUnits ? undefined : d.attrs['units']!.value,
      globalOffset: d.attrs['global_offset']!.value,
      dtNs: d.attrs['dt_ns']!.value,
    };
  } finally {
    f.close();
  }
}

/**
 * `viaLink`: `dsPath` is an external link. h5wasm 0.10 (libhdf5 2.0.0) then cannot read any
 * variable-length string attribute of the target (H5T__vlen_disk_read: "unable to get blob",
 * then garbage or an abort() of the wasm module; the same for a pool written by libhdf5 itself
 * through h5py): `units` is not read through the link by h5wasm, only in the pool file directly.
 */
function expectPool(file: string, data: Uint16Array, dsPath = 'wave_pool', viaLink = false): void {
  const n = data.length;
  const p = h5pyView(file, dsPath);
  expect(p).toMatchObject({ dtype: '<u2', shape: [n], chunks: null, units: 'ADC counts', unitsType: 'str', globalOffset: String(GO), goDtype: '<i8', dtNs: 4, dtType: '<f8' });
  expect(p.values.length).toBe(n);
  expect(p.values.every((v, i) => v === data[i])).toBe(true);
  const w = h5wasmView(file, dsPath, viaLink);
  expect(w).toMatchObject({ dtype: '<H', shape: [n], chunks: null, globalOffset: GO, dtNs: 4 });
  if (!viaLink) expect(w.units).toBe('ADC counts');
  expect(Buffer.from(w.values.buffer, w.values.byteOffset, w.values.byteLength).equals(Buffer.from(data.buffer, data.byteOffset, data.byteLength))).toBe(true);
}

describe('encodePoolHeader: a pool file (header + raw samples) is a valid HDF5 file', () => {
  for (const n of [0, 1, 1000, 300_001]) {
    it(`${n} samples: h5py, h5dump, h5wasm and locateDataset agree`, () => {
      const file = path.join(t.dir, `wave-${n}.h5`);
      const data = samplesOf(n, n + 1);
      writePool(file, data);
      expect(fs.statSync(file).size).toBe(POOL_DATA_OFFSET + 2 * n);
      expectPool(file, data);
      const dump = h5dumpOk(file);
      expect(dump).toContain('DATASET "wave_pool"');
      expect(dump).toContain('H5T_STD_U16LE');
      expect(dump).toContain(`SIMPLE { ( ${n} ) / ( ${n} ) }`);
      expect(dump).toContain('"ADC counts"');
      expect(dump).toContain(String(GO));
      const loc = locateDataset(file, '/wave_pool') as Located;
      // No samples: storage not allocated (undefined address), which the locator reports as offset 0.
      expect(loc).toMatchObject({ kind: 'contiguous', file, offset: n === 0 ? 0 : POOL_DATA_OFFSET, bytes: 2 * n, dtype: '<u2', shape: [n] });
    });
  }

  it('other attribute values: negative offset, fractional dt, a 256-byte UTF-8 units string', () => {
    const file = path.join(t.dir, 'attrs.h5');
    const units = 'µ'.repeat(128); // 256 UTF-8 bytes
    writePool(file, samplesOf(10, 3), { globalOffset: -7n, dtNs: 0.125, units });
    const p = h5pyView(file);
    expect(p).toMatchObject({ units, unitsType: 'str', globalOffset: '-7', dtNs: 0.125, shape: [10] });
    const w = h5wasmView(file);
    expect(w).toMatchObject({ units, globalOffset: -7n, dtNs: 0.125 });
    h5dumpOk(file);
  });

  it('an external link from a segment (root and nested, h5wasm-written) is followed by h5py (from another cwd) and h5wasm', () => {
    const d = path.join(t.dir, 'run');
    fs.mkdirSync(d);
    const a = samplesOf(5000, 11);
    const b = samplesOf(77, 12);
    writePool(path.join(d, 'wave-000001.h5'), a);
    writePool(path.join(d, 'wave-000002.h5'), b);
    const seg = path.join(d, 'seg-000001.h5');
    const f = new h5wasm.File(seg, 'w');
    try {
      f.create_attribute('run_id', 'x');
      f.create_group('streams');
      const g = f.create_group('streams/d.ch0');
      f.create_external_link('wave-000001.h5', '/wave_pool', 'wave_pool');
      g.create_external_link('wave-000002.h5', '/wave_pool', 'wave_pool');
    } finally {
      f.close();
    }
    expectPool(seg, a, 'wave_pool', true);
    expectPool(seg, b, 'streams/d.ch0/wave_pool', true);
    expect(h5wasmView(path.join(d, 'wave-000002.h5')).units).toBe('ADC counts');
    // h5dump follows the links too.
    const dump = h5dumpOk(seg);
    expect(dump).toContain('EXTERNAL_LINK "wave_pool"');
    expect(dump).toContain('"ADC counts"');
  });

  it('rewriting the header in place after appending more samples yields a valid file again', () => {
    const file = path.join(t.dir, 'grow.h5');
    const all = samplesOf(20_000, 5);
    const first = all.subarray(0, 12_345);
    writePool(file, first);
    expectPool(file, first);
    // The daemon appends samples past the current end, then finalizes the header.
    fs.appendFileSync(file, Buffer.from(all.buffer, first.byteLength, all.byteLength - first.byteLength));
    // Before the header is rewritten the file still reads as its old length (a file longer than
    // the superblock's end-of-file address is valid).
    expect(h5pyView(file).shape).toEqual([12_345]);
    const fd = fs.openSync(file, 'r+');
    try {
      fs.writeSync(fd, encodePoolHeader(info(all.length)), 0, POOL_DATA_OFFSET, 0);
    } finally {
      fs.closeSync(fd);
    }
    expectPool(file, all);
    h5dumpOk(file);
    expect(locateDataset(file, 'wave_pool')).toMatchObject({ kind: 'contiguous', offset: POOL_DATA_OFFSET, shape: [all.length] });
    // From an empty pool too.
    const e = path.join(t.dir, 'grow-empty.h5');
    writePool(e, new Uint16Array(0));
    fs.appendFileSync(e, Buffer.from(first.buffer, first.byteOffset, first.byteLength));
    const fd2 = fs.openSync(e, 'r+');
    fs.writeSync(fd2, encodePoolHeader(info(first.length)), 0, POOL_DATA_OFFSET, 0);
    fs.closeSync(fd2);
    expectPool(e, first);
  });

  it('64-bit sizes: a sparse pool of 2^40 samples reads in h5py and the locator', () => {
    const n = 2n ** 40n;
    const file = path.join(t.dir, 'huge.h5');
    const fd = fs.openSync(file, 'w');
    try {
      fs.writeSync(fd, encodePoolHeader(info(0, { samples: n })), 0, POOL_DATA_OFFSET, 0);
      fs.ftruncateSync(fd, POOL_DATA_OFFSET + 2 * Number(n)); // sparse: no blocks written
      fs.writeSync(fd, new Uint8Array([0x34, 0x12]), 0, 2, POOL_DATA_OFFSET + 2 * (Number(n) - 1));
    } finally {
      fs.closeSync(fd);
    }
    try {
      expect(locateDataset(file, 'wave_pool')).toMatchObject({ kind: 'contiguous', offset: POOL_DATA_OFFSET, bytes: 2 * Number(n), shape: [Number(n)] });
      const out = execFileSync('/usr/bin/python3', ['-c', `
import h5py, sys, json
with h5py.File(sys.argv[1], 'r') as f:
    d = f['wave_pool']
    print(json.dumps([d.shape[0], int(d[-1]), int(d[0]), d.id.get_offset()]))
`, file], { encoding: 'utf8' });
      expect(JSON.parse(out)).toEqual([Number(n), 0x1234, 0, POOL_DATA_OFFSET]);
    } finally {
      fs.rmSync(file);
    }
  });

  it('is deterministic, zero-padded, and refuses a units string that does not fit', () => {
    const x = encodePoolHeader(info(1234));
    const y = encodePoolHeader(info(1234));
    expect(x.length).toBe(POOL_DATA_OFFSET);
    expect(Buffer.from(x).equals(Buffer.from(y))).toBe(true);
    expect(Buffer.from(encodePoolHeader(info(1235))).equals(Buffer.from(x))).toBe(false);
    expect(x.subarray(4096 + 64).every((b) => b === 0)).toBe(true); // after the units string in the heap
    expect(encodePoolHeader(info(1, { units: 'x'.repeat(POOL_MAX_UNITS_BYTES) })).length).toBe(POOL_DATA_OFFSET);
    let err: unknown;
    try {
      encodePoolHeader(info(1, { units: 'x'.repeat(POOL_MAX_UNITS_BYTES + 1) }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DaqError);
    expect((err as DaqError).code).toBe('DAQ_ERR_HDF5');
    expect((err as DaqError).message).toMatch(/units string of 1025 UTF-8 bytes does not fit/);
    expect(() => encodePoolHeader(info(1, { units: 'a\0b' }))).toThrow(/NUL/);
    expect(() => encodePoolHeader(info(0, { samples: -1n }))).toThrow(/sample count/);
    expect(() => encodePoolHeader(info(0, { globalOffset: 1n << 63n }))).toThrow(/int64/);
  });
});
