import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { Field, Float64, Schema, Table, Utf8, RecordBatch, RecordBatchFileReader, RecordBatchReader, vectorFromArray } from 'apache-arrow';
import { makeRecordsBatch, allocRecordColumns } from '../../../src/schema/waveform.ts';
import { exportBatches, timeWindow, writeArrowFile, writeCsv, writeNpyColumns, type ExportProgress } from '../../../src/query/export.ts';
import { isDaqError } from '../../../src/errors.ts';
import { makeTempDir, py } from './trace-helpers.ts';

/**
 * Reads an Arrow IPC *file* through its footer (random access to each block), the way pyarrow /
 * polars open it. nodejs-polars 0.18 was checked by hand to read these files too, but cannot be a
 * devDependency here (see the branch report): its platform packages break `npm ci`.
 */
function readArrowFile(path: string): { table: Table; blocks: number } {
  const bytes = readFileSync(path);
  expect(bytes.subarray(0, 6).toString('latin1')).toBe('ARROW1');
  expect(bytes.subarray(-6).toString('latin1')).toBe('ARROW1');
  const reader = RecordBatchReader.from(bytes);
  expect(reader.isFile()).toBe(true);
  const file = reader as RecordBatchFileReader;
  file.open();
  const batches: RecordBatch[] = [];
  for (let i = file.numRecordBatches - 1; i >= 0; i--) batches.unshift(file.readRecordBatch(i)!);
  return { table: new Table(file.schema, batches), blocks: file.numRecordBatches };
}

const tmp = makeTempDir('daq-export-');
afterAll(() => tmp.cleanup());

const BIG_T0 = 9_007_199_254_740_993n; // 2^53 + 1: not representable as a double

/** Three batches of records; timestamps above 2^53 to catch any float conversion. */
async function* records(batches = 3, rows = 1000): AsyncGenerator<RecordBatch> {
  for (let b = 0; b < batches; b++) {
    const c = allocRecordColumns(rows);
    for (let i = 0; i < rows; i++) {
      const k = b * rows + i;
      c.timestamp[i] = BIG_T0 + BigInt(k) * 1000n;
      c.pid[i] = k % 4;
      c.channel[i] = k % 16;
      c.baseline[i] = k === 5 ? Number.NaN : k / 8;
      c.event_id[i] = BigInt(k);
      c.flags[i] = 0xfffffff0 + (k % 16);
      c.wave_offset[i] = BigInt(k) * 100n;
      c.event_length[i] = 100;
      c.time[i] = 1_700_000_000_000_000_000n + BigInt(k);
    }
    yield makeRecordsBatch(c);
    await Promise.resolve();
  }
}

describe('export writers', () => {
  it('writes an Arrow IPC file readable through its footer, with exact int64 and uint32 values', async () => {
    const seen: ExportProgress[] = [];
    const path = tmp.file('run.arrow');
    const res = await writeArrowFile(records(), path, { onProgress: (p) => seen.push(p) });
    expect(res.rows).toBe(3000);
    expect(res.bytes).toBe(readFileSync(path).length);
    expect(seen.map((p) => p.rows)).toEqual([1000, 2000, 3000, 3000]);
    const { table, blocks } = readArrowFile(path);
    expect([table.numRows, blocks]).toEqual([3000, 3]);
    expect(table.schema.fields.map((f) => String(f.type))).toEqual(
      ['Int64', 'Int32', 'Int16', 'Float64', 'Int64', 'Int32', 'Int16', 'Uint32', 'Int64', 'Int32', 'Int64']);
    expect(table.schema.fields[0]!.metadata.get('unit')).toBe('ps');
    const ts = table.getChild('timestamp')!;
    expect([ts.get(0), ts.get(2999)]).toEqual([BIG_T0, BIG_T0 + 2999_000n]);
    expect(table.getChild('flags')!.get(17)).toBe(0xfffffff1);
    expect(Number.isNaN(table.getChild('baseline')!.get(5))).toBe(true);
    expect(table.getChild('baseline')!.get(2999)).toBe(2999 / 8);
    expect(existsSync(`${path}.tmp-${process.pid}`)).toBe(false);
  });

  it('writes one .npy per column that numpy loads with the right dtypes and values', async () => {
    const res = await writeNpyColumns(records(), tmp.dir, { prefix: 'records.', columns: ['timestamp', 'channel', 'baseline', 'flags'] });
    expect(Object.keys(res.fileOf)).toEqual(['timestamp', 'channel', 'baseline', 'flags']);
    const out = py(tmp.dir, `
t = np.load('records.timestamp.npy'); c = np.load('records.channel.npy'); b = np.load('records.baseline.npy'); f = np.load('records.flags.npy')
print(t.dtype, c.dtype, b.dtype, f.dtype, t.shape, int(t[0]), int(t[-1]), int(c.sum()), np.isnan(b[5]), float(np.nansum(b)), int(f[17]))`).trim();
    let bsum = 0;
    let csum = 0;
    for (let k = 0; k < 3000; k++) {
      if (k !== 5) bsum += k / 8; // multiples of 1/8: every partial sum is exact, in any order
      csum += k % 16;
    }
    expect(out).toBe(`int64 int16 float64 uint32 (3000,) ${BIG_T0} ${BIG_T0 + 2999_000n} ${csum} True ${bsum} ${0xfffffff1}`);
  });

  it('writes CSV that numpy parses back exactly, streaming with progress', async () => {
    const path = tmp.file('run.csv');
    const seen: number[] = [];
    const res = await exportBatches(records(), { format: 'csv', path, columns: ['timestamp', 'baseline', 'flags'], onProgress: (p) => seen.push(p.bytesWritten) });
    expect(res.rows).toBe(3000);
    const text = readFileSync(path, 'utf8');
    expect(text.split('\n').slice(0, 2)).toEqual(['timestamp,baseline,flags', `${BIG_T0},0,${0xfffffff0}`]);
    expect(seen.at(-1)).toBe(Buffer.byteLength(text));
    const out = py(tmp.dir, `
a = np.genfromtxt('run.csv', delimiter=',', names=True, dtype=['i8', 'f8', 'u4'])
print(len(a), int(a['timestamp'][-1]), repr(float(a['baseline'][2999])), np.isnan(a['baseline'][5]), int(a['flags'].max()))`).trim();
    expect(out).toBe(`3000 ${BIG_T0 + 2999_000n} ${2999 / 8} True ${0xffffffff}`);
  });

  it('handles nulls, strings and empty sources; rejects strings for .npy without leaving files', async () => {
    const names = vectorFromArray(['a', 'b,"c"', null], new Utf8());
    const vals = vectorFromArray([1.5, null, -Infinity], new Float64());
    const table = new Table({ name: names, v: vals });
    await writeCsv(table, tmp.file('mixed.csv'));
    expect(readFileSync(tmp.file('mixed.csv'), 'utf8')).toBe('name,v\na,1.5\n"b,""c""",\n,-inf\n');
    const bad = await writeNpyColumns(table, tmp.dir, { prefix: 'mixed.' }).then(() => undefined, (e: unknown) => e);
    expect(isDaqError(bad, 'DAQ_ERR_EXPORT_UNSUPPORTED')).toBe(true);
    expect((bad as Error).message).toMatch(/'name' is Utf8/);
    expect(readdirSync(tmp.dir).filter((f) => f.startsWith('mixed.') && f.endsWith('.npy') || f.includes('.tmp-'))).toEqual([]);
    const onlyV = await writeNpyColumns(table, tmp.dir, { prefix: 'mixed.', columns: ['v'] });
    expect(onlyV.nullCounts).toEqual({ v: 1 });
    expect(py(tmp.dir, `print(np.load('mixed.v.npy').tolist())`).trim()).toBe('[1.5, nan, -inf]');

    const schema = new Schema([new Field('x', new Float64(), false)]);
    const empty = await writeArrowFile([], tmp.file('empty.arrow'), { schema });
    expect(empty.rows).toBe(0);
    const back = readArrowFile(tmp.file('empty.arrow')).table;
    expect([back.numRows, back.schema.fields.map((f) => f.name)]).toEqual([0, ['x']]);
    const noSchema = await writeCsv([], tmp.file('none.csv')).then(() => undefined, (e: unknown) => e);
    expect(isDaqError(noSchema, 'DAQ_ERR_EXPORT_UNSUPPORTED')).toBe(true);
    const unknown = await writeArrowFile(records(1, 3), tmp.file('u.arrow'), { columns: ['nope'] }).then(() => undefined, (e: unknown) => e);
    expect((unknown as Error).message).toMatch(/unknown column\(s\) 'nope'/);
    expect(existsSync(tmp.file('u.arrow'))).toBe(false);
  });

  it('timeWindow keeps [from, to) across batches by binary search and stops early', async () => {
    let pulled = 0;
    async function* counted(): AsyncGenerator<RecordBatch> {
      for await (const b of records(5, 100)) { pulled++; yield b; }
    }
    const from = BIG_T0 + 150_000n; // row 150
    const to = BIG_T0 + 320_000n; // row 320 (excluded)
    const res = await writeNpyColumns(timeWindow(counted(), 'timestamp', from, to), tmp.dir, { prefix: 'win.', columns: ['event_id'] });
    expect(res.rows).toBe(170);
    expect(py(tmp.dir, `a = np.load('win.event_id.npy'); print(int(a[0]), int(a[-1]), bool((np.diff(a) == 1).all()))`).trim()).toBe('150 319 True');
    expect(pulled).toBe(4);
  });
});
