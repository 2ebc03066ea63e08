import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statSync, utimesSync, writeFileSync } from 'node:fs';
import { isDaqError } from '../../../src/errors.ts';
import { loadTrace, type CsvProgress } from '../../../src/query/trace.ts';
import { list, makeTempDir, py } from './trace-helpers.ts';

const tmp = makeTempDir('daq-trace-src-');

beforeAll(() => {
  py(tmp.dir, `
import h5py
with open('raw.bin', 'wb') as f:
    f.write(b'HEADER-OF-17-BYTE')
    f.write(np.arange(-500, 500, dtype='>i2').tobytes())
with h5py.File('run.h5', 'w') as f:
    f.create_dataset('wave_pool', data=(np.arange(200000) % 16384).astype('<u2'), chunks=(4096,))
    f.create_dataset('records/timestamp', data=np.arange(10, dtype='<i8'))
    f.create_dataset('be', data=np.linspace(0, 1, 1001).astype('>f8'))
    f.create_dataset('multi', data=np.arange(60, dtype='<f4').reshape(3, 20))
    f.create_dataset('names', data=np.array([b'a', b'b']))
with h5py.File('latest.h5', 'w', libver='latest') as f:
    f.create_dataset('wave_pool', data=(np.arange(300000) * 7 % 16384).astype('<u2'))
    f.create_dataset('multi', data=np.arange(600, dtype='<f4').reshape(3, 200))
    f.create_dataset('i8', data=np.arange(-50, 50, dtype='<i8'))
    f.create_dataset('be', data=np.arange(100, dtype='>i4'))
with h5py.File('nopool.h5', 'w') as f:
    f.create_dataset('meta/names', data=np.array([b'a']))
    f.create_dataset('grid', data=np.zeros((2, 2)))
    f.create_dataset('sig', data=np.arange(5, dtype='<i4'))
`);
});
afterAll(() => tmp.cleanup());

async function errorOf(p: Promise<unknown>): Promise<Error & { code?: string }> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(Error);
  return err as Error & { code?: string };
}

describe('loadTrace raw binary', () => {
  it('reads big-endian int16 after a byte offset', async () => {
    const t = await loadTrace(tmp.file('raw.bin'), { dtype: '>i2', offset: 17, sampleRate: 250 });
    expect([t.format, t.dtype, t.length, t.duration]).toEqual(['raw', 'int16', 1000, 4]);
    expect(list(await t.slice(0, 3))).toEqual([-500, -499, -498]);
    expect(list(await t.slice(998, 1000))).toEqual([498, 499]);
    await t.close();
    const l = await loadTrace(tmp.file('raw.bin'), { dtype: 'int16be', offset: 17 + 2 * 500, length: 5 });
    expect(list(await l.slice(0, 5))).toEqual([0, 1, 2, 3, 4]);
    await l.close();
  });

  it('says when the file is too small for the offset or length, or the dtype is missing', async () => {
    const size = statSync(tmp.file('raw.bin')).size;
    const off = await errorOf(loadTrace(tmp.file('raw.bin'), { dtype: 'int16', offset: size + 1 }));
    expect([off.code, off.message]).toEqual(['DAQ_ERR_TRACE_RANGE', expect.stringMatching(/too small for requested offset/)]);
    const len = await errorOf(loadTrace(tmp.file('raw.bin'), { dtype: 'int16', offset: 17, length: 1001 }));
    expect([len.code, len.message]).toEqual(['DAQ_ERR_TRACE_RANGE', expect.stringMatching(/too small.*1001 samples.*holds 1000/)]);
    const partial = await errorOf(loadTrace(tmp.file('raw.bin'), { dtype: 'int16', offset: 0 }));
    expect([partial.code, partial.message]).toEqual(['DAQ_ERR_TRACE_RANGE', expect.stringMatching(/not a whole number of int16/)]);
    const nodtype = await errorOf(loadTrace(tmp.file('raw.bin')));
    expect([nodtype.code, nodtype.message]).toEqual(['DAQ_ERR_TRACE_FORMAT', expect.stringMatching(/needs a dtype/)]);
    const bad = await errorOf(loadTrace(tmp.file('raw.bin'), { dtype: 'complex64' }));
    expect([bad.code, bad.message]).toEqual(['DAQ_ERR_TRACE_FORMAT', expect.stringMatching(/unsupported dtype.*'complex64'/)]);
  });
});

describe('loadTrace HDF5', () => {
  it('defaults to /wave_pool and reads slices lazily and correctly', async () => {
    const t = await loadTrace(tmp.file('run.h5'), { sampleRate: 1e6 });
    expect([t.format, t.dtype, t.length, t.duration]).toEqual(['hdf5', 'uint16', 200000, 0.2]);
    expect(list(await t.slice(16380, 16388))).toEqual([16380, 16381, 16382, 16383, 0, 1, 2, 3]);
    let n = 0;
    let ok = true;
    for await (const { start, data } of t.iterChunks(30000, { overlap: 100 })) {
      for (let i = 0; i < data.length; i++) if (data[i] !== (start + i) % 16384) ok = false;
      n = start + data.length;
    }
    expect([ok, n]).toEqual([true, 200000]);
    await t.close();
  });

  it('reads a named big-endian dataset, a channel of a 2-D one, and int64', async () => {
    const be = await loadTrace(tmp.file('run.h5'), { dataset: '/be' });
    expect(be.dtype).toBe('float64');
    expect(list(await be.slice(999, 1001))).toEqual([0.999, 1]);
    be[Symbol.dispose]();
    const m = await loadTrace(tmp.file('run.h5'), { dataset: 'multi', channel: 1 });
    expect([m.length, m.shape, list(await m.slice(0, 2))]).toEqual([20, [3, 20], [20, 21]]);
    await m[Symbol.asyncDispose]();
    const ts = await loadTrace(tmp.file('run.h5'), { dataset: '/records/timestamp' });
    expect(list(await ts.slice(8, 10))).toEqual([8n, 9n]);
    await ts.close();
  });

  it('reads contiguous little-endian datasets directly from the file, others through h5wasm, same values', async () => {
    const direct = (t: unknown) => (t as { source: { direct: unknown } }).source.direct;
    const t = await loadTrace(tmp.file('latest.h5'));
    expect(direct(t)).not.toBeNull();
    expect(list(await t.slice(299_990, 300_000))).toEqual(Array.from({ length: 10 }, (_, i) => ((299_990 + i) * 7) % 16384));
    let ok = true;
    for await (const { start, data } of t.iterChunks(65536, { overlap: 10 })) for (let i = 0; i < data.length; i++) if (data[i] !== ((start + i) * 7) % 16384) ok = false;
    expect(ok).toBe(true);
    await t.close();
    const m = await loadTrace(tmp.file('latest.h5'), { dataset: 'multi', channel: 2 });
    expect(direct(m)).not.toBeNull();
    expect(list(await m.slice(198, 200))).toEqual([598, 599]);
    await m.close();
    const i8 = await loadTrace(tmp.file('latest.h5'), { dataset: 'i8' });
    expect(list(await i8.slice(0, 2))).toEqual([-50n, -49n]);
    await i8.close();
    const be = await loadTrace(tmp.file('latest.h5'), { dataset: 'be' });
    expect(direct(be)).toBeNull(); // big-endian: h5wasm swaps it
    expect(list(await be.slice(98, 100))).toEqual([98, 99]);
    await be.close();
    const chunked = await loadTrace(tmp.file('run.h5'));
    expect(direct(chunked)).toBeNull();
    await chunked.close();
  });

  it('without /wave_pool picks the first 1-D numeric dataset; names missing or non-numeric datasets', async () => {
    const t = await loadTrace(tmp.file('nopool.h5'));
    expect([t.dtype, t.length]).toEqual(['int32', 5]);
    await t.close();
    const missing = await errorOf(loadTrace(tmp.file('run.h5'), { dataset: '/nope' }));
    expect([missing.code, missing.message]).toEqual(['DAQ_ERR_TRACE_FORMAT', expect.stringMatching(/no dataset at '\/nope'/)]);
    const str = await errorOf(loadTrace(tmp.file('run.h5'), { dataset: '/names' }));
    expect([str.code, str.message]).toEqual(['DAQ_ERR_TRACE_FORMAT', expect.stringMatching(/unsupported type/)]);
    const long = await errorOf(loadTrace(tmp.file('run.h5'), { length: 200001 }));
    expect(long.code).toBe('DAQ_ERR_TRACE_RANGE');
  });
});

describe('loadTrace CSV', () => {
  it('converts a column once to .npy with progress, then reuses it until the CSV changes', async () => {
    const csv = tmp.file('scope.csv');
    let text = '# exported by a scope\ntime,volts\n';
    for (let i = 0; i < 50000; i++) text += `${i * 1e-6},${(Math.sin(i / 10) * 3).toString()}\r\n`;
    text += '0.05,nan\n0.050001,-inf'; // numpy spellings, no final newline
    writeFileSync(csv, text);
    const seen: CsvProgress[] = [];
    const t = await loadTrace(csv, { column: 'volts', sampleRate: 1e6, onProgress: (p) => seen.push(p) });
    expect([t.format, t.dtype, t.length, t.file]).toEqual(['csv', 'float64', 50002, `${csv}.volts.npy`]);
    const v = await t.slice(49998, 50002);
    expect(v[0]).toBe(Math.sin(49998 / 10) * 3);
    expect([Number.isNaN(v[2]), v[3]]).toEqual([true, -Infinity]);
    await t.close();
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.at(-1)).toEqual({ bytesRead: text.length, totalBytes: text.length, rows: 50002 });
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.bytesRead).toBeGreaterThanOrEqual(seen[i - 1]!.bytesRead);
    // numpy reads the converted file
    expect(py(tmp.dir, `a = np.load('scope.csv.volts.npy'); print(a.shape, repr(float(a[1])))`).trim()).toBe(`(50002,) ${Math.sin(0.1) * 3}`);

    const mtime = statSync(`${csv}.volts.npy`).mtimeMs;
    const again = await loadTrace(csv, { column: 'volts' });
    expect(statSync(`${csv}.volts.npy`).mtimeMs).toBe(mtime);
    await again.close();

    writeFileSync(csv, 'volts\n1.5\n2.5\n');
    utimesSync(csv, new Date(), new Date(Date.now() + 5000));
    const changed = await loadTrace(csv, { column: 'volts' });
    expect(list(await changed.slice(0, changed.length))).toEqual([1.5, 2.5]);
    await changed.close();
  });

  it('reads a headerless whitespace column by index and reports a bad row with its line', async () => {
    writeFileSync(tmp.file('ws.txt'), '1 10\n2   20\n\t3 30\n');
    const t = await loadTrace(tmp.file('ws.txt'), { column: 1, dtype: 'float32' });
    expect([t.dtype, list(await t.slice(0, 3))]).toEqual(['float32', [10, 20, 30]]);
    await t.close();
    writeFileSync(tmp.file('bad.csv'), 'a\n1\n2\noops\n');
    const err = await errorOf(loadTrace(tmp.file('bad.csv')));
    expect([err.code, err.message]).toEqual(['DAQ_ERR_TRACE_FORMAT', expect.stringMatching(/bad\.csv:4: expected a number in column 0, found 'oops'/)]);
    expect(isDaqError(await errorOf(loadTrace(tmp.file('bad.csv'), { column: 'zz' })), 'DAQ_ERR_TRACE_FORMAT')).toBe(true);
  });
});
