import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { isDaqError } from '../../../src/errors.ts';
import { loadTrace } from '../../../src/query/trace.ts';
import { list, makeTempDir, py } from './trace-helpers.ts';

const tmp = makeTempDir('daq-trace-npy-');
const DTYPES = ['<i1', '<i2', '<i4', '<i8', '|u1', '<u2', '<u4', '<u8', '<f4', '<f8', '>i2', '>i4', '>i8', '>u2', '>f4', '>f8'];
const N = 1003;

beforeAll(() => {
  // Values chosen to exercise sign and magnitude; each file is checked against numpy's own sum and picks.
  py(tmp.dir, `
rng = np.random.default_rng(7)
base = rng.integers(-100, 100, ${N})
for d in ${JSON.stringify(DTYPES)}:
    dt = np.dtype(d)
    a = (base * 1.25 if dt.kind == 'f' else (np.abs(base) if dt.kind == 'u' else base)).astype(dt)
    np.save('a' + d.replace('<','le').replace('>','be').replace('|','na') + '.npy', a)
np.lib.format.write_array(open('v2.npy','wb'), np.arange(50, dtype='<f8'), version=(2,0))
np.lib.format.write_array(open('v3.npy','wb'), np.arange(50, dtype='<i4'), version=(3,0))
np.save('fortran.npy', np.asfortranarray(np.arange(12, dtype='<f4').reshape(3,4)))
np.save('two.npy', np.arange(30, dtype='<i2').reshape(3,10))
np.save('col.npy', np.arange(7, dtype='<f8').reshape(7,1))
np.savez('z.npz', a=np.arange(3))
import shutil; shutil.copy('z.npz', 'zip.npy'); shutil.copy('z.npz', 'zipped.bin')
np.save('rec.npy', np.zeros(3, dtype=[('a','<f4'),('b','<i2')]))
np.save('c8.npy', np.zeros(3, dtype='<c8'))
`);
  writeFileSync(tmp.file('bad.npy'), Buffer.from('NOTNUMPY and some more bytes'));
});
afterAll(() => tmp.cleanup());

let expectedByDtype: Record<string, [string, string[], string]> = {};
beforeAll(() => {
  expectedByDtype = JSON.parse(py(tmp.dir, `import json
out = {}
for d in ${JSON.stringify(DTYPES)}:
    a = np.load('a' + d.replace('<','le').replace('>','be').replace('|','na') + '.npy')
    out[d] = [str(a.sum()), [str(x) for x in a[[0, 1, 500, ${N - 1}]]], a.dtype.name]
print(json.dumps(out))`)) as typeof expectedByDtype;
});

const name = (d: string): string => tmp.file(`a${d.replace('<', 'le').replace('>', 'be').replace('|', 'na')}.npy`);

async function expectCode(p: Promise<unknown>, code: 'DAQ_ERR_TRACE_FORMAT' | 'DAQ_ERR_TRACE_RANGE', text: RegExp): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(isDaqError(err, code), String(err)).toBe(true);
  expect((err as Error).message).toMatch(text);
}

describe('loadTrace .npy', () => {
  it.each(DTYPES)('reads %s exactly like numpy (incl. byte swap)', async (d) => {
    const expected = expectedByDtype[d]!;
    const trace = await loadTrace(name(d), { sampleRate: 1000 });
    expect(trace.dtype).toBe(expected[2]);
    expect(trace.length).toBe(N);
    expect(trace.duration).toBeCloseTo(N / 1000, 12);
    const all = await trace.slice(0, N);
    let sum = 0;
    for (const v of all) sum += Number(v);
    expect(sum).toBeCloseTo(Number(expected[0]), 6);
    const picks = [0, 1, 500, N - 1].map((i) => Number(all[i]!));
    expect(picks).toEqual(expected[1].map(Number));
    const mid = await trace.slice(500, 503);
    expect(Number(mid[0])).toBe(Number(expected[1][2]));
    await trace.close();
  });

  it('reads version 2 and 3 headers', async () => {
    const t2 = await loadTrace(tmp.file('v2.npy'));
    expect([t2.dtype, t2.length, list(await t2.slice(47, 50))]).toEqual(['float64', 50, [47, 48, 49]]);
    expect(t2.duration).toBeUndefined();
    await t2.close();
    const t3 = await loadTrace(tmp.file('v3.npy'));
    expect([t3.dtype, list(await t3.slice(0, 2))]).toEqual(['int32', [0, 1]]);
    await t3.close();
  });

  it('reads a 2-D array as channels × samples, and an (n, 1) column as 1-D', async () => {
    const t = await loadTrace(tmp.file('two.npy'), { channel: 2 });
    expect([t.length, t.shape, list(await t.slice(0, 3))]).toEqual([10, [3, 10], [20, 21, 22]]);
    await t.close();
    await expectCode(loadTrace(tmp.file('two.npy'), { channel: 3 }), 'DAQ_ERR_TRACE_RANGE', /channel 3 out of range.*3 channel/);
    const c = await loadTrace(tmp.file('col.npy'));
    expect([c.length, list(await c.slice(5, 7))]).toEqual([7, [5, 6]]);
    await c.close();
  });

  it('rejects Fortran order, npz, bad magic, structured and unknown dtypes with clear errors', async () => {
    await expectCode(loadTrace(tmp.file('fortran.npy')), 'DAQ_ERR_TRACE_FORMAT', /Fortran-ordered.*C order/);
    await expectCode(loadTrace(tmp.file('z.npz')), 'DAQ_ERR_TRACE_FORMAT', /npz.*unzip/);
    await expectCode(loadTrace(tmp.file('zip.npy')), 'DAQ_ERR_TRACE_FORMAT', /zip archive.*unzip/);
    await expectCode(loadTrace(tmp.file('zipped.bin'), { dtype: 'float32' }), 'DAQ_ERR_TRACE_FORMAT', /zip archive.*not supported/);
    await expectCode(loadTrace(tmp.file('bad.npy')), 'DAQ_ERR_TRACE_FORMAT', /expected magic.*found "NOTNUM"/);
    await expectCode(loadTrace(tmp.file('rec.npy')), 'DAQ_ERR_TRACE_FORMAT', /structured/);
    await expectCode(loadTrace(tmp.file('c8.npy')), 'DAQ_ERR_TRACE_FORMAT', /unsupported dtype.*'<c8'/);
    await expectCode(loadTrace(name('<f4'), { dtype: 'int16' }), 'DAQ_ERR_TRACE_FORMAT', /dtype mismatch.*float32/);
    await expectCode(loadTrace(name('<f4'), { offset: 8 }), 'DAQ_ERR_TRACE_FORMAT', /offset applies to raw binary only/);
  });

  it('reports a truncated file and a too-long length as range errors', async () => {
    const whole = py(tmp.dir, `import sys; sys.stdout.write(open(${JSON.stringify(name('<f8'))},'rb').read().hex())`);
    writeFileSync(tmp.file('trunc.npy'), Buffer.from(whole, 'hex').subarray(0, 128 + 100 * 8));
    await expectCode(loadTrace(tmp.file('trunc.npy')), 'DAQ_ERR_TRACE_RANGE', /file too small.*\(1003,\)/);
    await expectCode(loadTrace(name('<f8'), { length: N + 1 }), 'DAQ_ERR_TRACE_RANGE', /file too small.*1004 samples.*1003/);
    const t = await loadTrace(name('<f8'), { length: 10 });
    expect(t.length).toBe(10);
    await t.close();
  });

  it('rejects slices outside the trace and reads after close', async () => {
    const t = await loadTrace(name('<i2'));
    await expectCode(t.slice(-1, 5), 'DAQ_ERR_TRACE_RANGE', /outside the trace.*≤ 1003/);
    await expectCode(t.slice(5, 2), 'DAQ_ERR_TRACE_RANGE', /outside/);
    await expectCode(t.slice(0, N + 1), 'DAQ_ERR_TRACE_RANGE', /outside/);
    await expectCode(t.slice(0.5, 2), 'DAQ_ERR_TRACE_RANGE', /outside/);
    expect((await t.slice(N, N)).length).toBe(0);
    t[Symbol.dispose]();
    await expectCode(t.slice(0, 1), 'DAQ_ERR_TRACE_RANGE', /closed/);
  });
});
