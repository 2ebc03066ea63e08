import { describe, expect, it } from 'vitest';
import { Field, Float32, Int64, Schema, Uint32, Uint8, Float64 } from 'apache-arrow';
import {
  allocRecordColumns,
  makeBatch,
  makeRecordsBatch,
  makeScalarBatch,
  recordColumns,
  recordsSchema,
  scalarColumns,
  scalarSchema,
  validateBatch,
  isDaqError,
} from '../../../src/index.ts';
import type { StreamInfo } from '../../../src/index.ts';

const lineage = { plugin: 't', version: '1', optionsHash: '', inputs: [] };
const scalarInfo: StreamInfo = { name: 'plant.tags', kind: 'scalar', schema: scalarSchema, lineage };
const waveInfo: StreamInfo = { name: 'dig.ch0', kind: 'waveform', schema: recordsSchema, lineage };

function scalar(n: number) {
  return makeScalarBatch({
    timestampNs: BigInt64Array.from({ length: n }, (_, i) => BigInt(i) * 10n),
    tag: Uint32Array.from({ length: n }, (_, i) => i % 3),
    value: Float64Array.from({ length: n }, (_, i) => i * 0.5),
    quality: new Uint8Array(n),
  });
}

function expectError(fn: () => void, code: string, ...parts: string[]) {
  try {
    fn();
  } catch (err) {
    expect(isDaqError(err)).toBe(true);
    expect((err as { code: string }).code).toBe(code);
    for (const p of parts) expect((err as Error).message).toContain(p);
    return;
  }
  throw new Error('expected an error');
}

describe('scalar schema', () => {
  it('builds batches zero-copy and reads the same arrays back', () => {
    const value = new Float64Array([1, 2, 3]);
    const b = makeScalarBatch({ timestampNs: new BigInt64Array([1n, 2n, 3n]), tag: new Uint32Array([0, 1, 2]), value, quality: new Uint8Array(3) });
    expect(b.numRows).toBe(3);
    expect(scalarColumns(b).value).toBe(value);
    expect(scalarColumns(b).timestampNs[2]).toBe(3n);
  });

  it('accepts a good batch', () => {
    expect(() => validateBatch(scalarInfo, { kind: 'scalar', stream: 'plant.tags', batch: scalar(10) })).not.toThrow();
  });

  it('rejects a wrong field type naming stream, field, expected and found', () => {
    const bad = new Schema([
      new Field('timestamp_ns', new Int64(), false),
      new Field('tag', new Uint32(), false),
      new Field('value', new Float32(), false),
      new Field('quality', new Uint8(), false),
    ]);
    const batch = makeBatch(bad, [new BigInt64Array(2), new Uint32Array(2), new Float32Array(2), new Uint8Array(2)]);
    expectError(() => validateBatch(scalarInfo, { kind: 'scalar', stream: 'plant.tags', batch }), 'DAQ_ERR_SCHEMA_MISMATCH', 'plant.tags', '"value"', 'Float32', 'Float64');
  });

  it('rejects a missing field and an extra field', () => {
    const missing = new Schema([new Field('timestamp_ns', new Int64(), false), new Field('tag', new Uint32(), false), new Field('value', new Float64(), false)]);
    const b1 = makeBatch(missing, [new BigInt64Array(1), new Uint32Array(1), new Float64Array(1)]);
    expectError(() => validateBatch(scalarInfo, { kind: 'scalar', stream: 'plant.tags', batch: b1 }), 'DAQ_ERR_SCHEMA_MISMATCH', '"quality"', 'missing');
    const extra = new Schema([...scalarSchema.fields, new Field('extra', new Uint8(), false)]);
    const b2 = makeBatch(extra, [new BigInt64Array(1), new Uint32Array(1), new Float64Array(1), new Uint8Array(1), new Uint8Array(1)]);
    expectError(() => validateBatch(scalarInfo, { kind: 'scalar', stream: 'plant.tags', batch: b2 }), 'DAQ_ERR_SCHEMA_MISMATCH', '"extra"');
  });

  it('rejects a renamed field', () => {
    const renamed = new Schema([new Field('ts', new Int64(), false), ...scalarSchema.fields.slice(1)]);
    const b = makeBatch(renamed, [new BigInt64Array(1), new Uint32Array(1), new Float64Array(1), new Uint8Array(1)]);
    expectError(() => validateBatch(scalarInfo, { kind: 'scalar', stream: 'plant.tags', batch: b }), 'DAQ_ERR_SCHEMA_MISMATCH', '"ts"', '"timestamp_ns"');
  });

  it('rejects a waveform batch on a scalar stream', () => {
    const cols = allocRecordColumns(1);
    const batch = makeRecordsBatch(cols);
    expectError(() => validateBatch(scalarInfo, { kind: 'waveform', stream: 'plant.tags', batch, samples: new Uint16Array(0) }), 'DAQ_ERR_SCHEMA_MISMATCH', 'expected a scalar batch');
  });
});

describe('waveform schema', () => {
  function wave(lengths: number[]) {
    const cols = allocRecordColumns(lengths.length);
    let off = 0;
    lengths.forEach((len, i) => {
      cols.timestamp[i] = BigInt(i * 1000);
      cols.wave_offset[i] = BigInt(off);
      cols.event_length[i] = len;
      off += len;
    });
    return { cols, batch: makeRecordsBatch(cols), samples: new Uint16Array(off) };
  }

  it('has the records fields of the data model in order with their types', () => {
    expect(recordsSchema.fields.map((f) => `${f.name}:${String(f.type)}`)).toEqual([
      'timestamp:Int64', 'pid:Int32', 'channel:Int16', 'baseline:Float64', 'event_id:Int64', 'dt:Int32',
      'trigger_type:Int16', 'flags:Uint32', 'wave_offset:Int64', 'event_length:Int32', 'time:Int64',
    ]);
    expect(recordsSchema.fields.find((f) => f.name === 'timestamp')!.metadata.get('unit')).toBe('ps');
  });

  it('accepts events inside the sample slice', () => {
    const { batch, samples, cols } = wave([10, 20, 5]);
    expect(recordColumns(batch).event_length).toBe(cols.event_length);
    expect(() => validateBatch(waveInfo, { kind: 'waveform', stream: 'dig.ch0', batch, samples })).not.toThrow();
  });

  it('rejects an event that runs past the samples, naming the row', () => {
    const { batch, samples } = wave([10, 20, 5]);
    expectError(
      () => validateBatch(waveInfo, { kind: 'waveform', stream: 'dig.ch0', batch, samples: samples.subarray(0, 30) }),
      'DAQ_ERR_BATCH_INVALID', 'dig.ch0', 'row 2', '30 samples',
    );
  });

  it('rejects negative and out-of-range offsets and negative lengths (offsets checked as 32-bit words), naming the row', () => {
    for (const [row, off, len] of [[1, -1n, 1], [2, 1n << 32n, 0], [0, (1n << 32n) - 1n, 2], [2, -(1n << 40n), 3], [1, 10n, -1]] as const) {
      const { batch, samples, cols } = wave([10, 20, 5]);
      cols.wave_offset[row] = off;
      cols.event_length[row] = len;
      expectError(() => validateBatch(waveInfo, { kind: 'waveform', stream: 'dig.ch0', batch, samples }), 'DAQ_ERR_BATCH_INVALID', `row ${row} has wave_offset ${off}`);
    }
  });

  it('rejects samples that are not uint16', () => {
    const { batch } = wave([4]);
    expectError(
      () => validateBatch(waveInfo, { kind: 'waveform', stream: 'dig.ch0', batch, samples: new Float32Array(4) as unknown as Uint16Array }),
      'DAQ_ERR_SCHEMA_MISMATCH', 'Uint16Array',
    );
  });
});
