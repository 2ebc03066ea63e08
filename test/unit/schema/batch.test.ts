import { describe, expect, it } from 'vitest';
import { Field, Float64, Int16, makeData, RecordBatch, Schema, Struct, tableToIPC, Table } from 'apache-arrow';
import { allocRecordColumns, makeBatch, makeRecordsBatch, recordColumns, recordsSchema } from '../../../src/index.ts';

/** The batch the arrow constructor makes from the same columns (makeData per column, then `new RecordBatch`). */
function viaConstructor(schema: Schema, columns: ArrayLike<unknown>[]): RecordBatch {
  const length = columns[0]!.length;
  const children = schema.fields.map((f, i) => makeData({ type: f.type, length, nullCount: 0, data: columns[i] } as never));
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length, nullCount: 0, children }));
}

function recordsColumns(n: number) {
  const c = allocRecordColumns(n);
  for (let i = 0; i < n; i++) {
    c.timestamp[i] = BigInt(i * 1000 - 7);
    c.pid[i] = i % 3;
    c.channel[i] = -i;
    c.baseline[i] = i / 7;
    c.event_id[i] = BigInt(i);
    c.dt[i] = 4;
    c.trigger_type[i] = 1;
    c.flags[i] = i & 1;
    c.wave_offset[i] = BigInt(i * 3);
    c.event_length[i] = 3;
    c.time[i] = BigInt(i) * 1_000_000_000n;
  }
  return c;
}

describe('makeBatch', () => {
  it('makes the batch the RecordBatch constructor makes: same own properties, schema, values and IPC bytes', () => {
    const c = recordsColumns(100);
    const fast = makeRecordsBatch(c);
    const slow = viaConstructor(recordsSchema, recordsSchema.fields.map((f) => c[f.name as keyof typeof c]));
    expect(fast).toBeInstanceOf(RecordBatch);
    expect(RecordBatch.isRecordBatch(fast)).toBe(true);
    expect(Object.keys(fast).sort()).toEqual(Object.keys(slow).sort());
    expect(fast.numRows).toBe(100);
    expect(fast.schema.fields.map((f) => [f.name, String(f.type), f.nullable, [...f.metadata]])).toEqual(slow.schema.fields.map((f) => [f.name, String(f.type), f.nullable, [...f.metadata]]));
    expect([...fast.schema.metadata]).toEqual([...slow.schema.metadata]);
    for (let i = 0; i < fast.numCols; i++) expect(fast.getChildAt(i)!.toArray()).toEqual(slow.getChildAt(i)!.toArray());
    expect(fast.get(42)!.toJSON()).toEqual(slow.get(42)!.toJSON());
    expect(Buffer.from(tableToIPC(new Table(fast))).equals(Buffer.from(tableToIPC(new Table(slow))))).toBe(true);
    // slice and select go through the class's own methods
    expect(fast.slice(10, 20).getChildAt(0)!.toArray()).toEqual(slow.slice(10, 20).getChildAt(0)!.toArray());
    expect(fast.select(['pid']).getChildAt(0)!.toArray()).toEqual(slow.select(['pid']).getChildAt(0)!.toArray());
  });

  it('takes a typed array of the column type as is (no copy) and converts anything else', () => {
    const c = recordsColumns(5);
    const b = makeRecordsBatch(c);
    expect(recordColumns(b).timestamp).toBe(c.timestamp);
    expect(recordColumns(b).channel).toBe(c.channel);
    const schema = new Schema([new Field('x', new Float64(), false), new Field('ch', new Int16(), false)]);
    const m = makeBatch(schema, [[1, 2.5, 3], [1, -2, 3]]);
    expect(m.getChildAt(0)!.toArray()).toEqual(new Float64Array([1, 2.5, 3]));
    expect(m.getChildAt(1)!.toArray()).toEqual(new Int16Array([1, -2, 3]));
  });

  it('rejects columns of different lengths, naming the column', () => {
    const schema = new Schema([new Field('x', new Float64(), false), new Field('ch', new Int16(), false)]);
    expect(() => makeBatch(schema, [new Float64Array(3), new Int16Array(2)])).toThrow(/column ch has 2 rows, expected 3/);
  });
});
