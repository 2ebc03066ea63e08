import { Field, Float64, Int16, Int32, Int64, Schema, Uint32 } from 'apache-arrow';
import type { RecordBatch } from 'apache-arrow';
import { columnValues, makeBatch } from './batch.ts';

/**
 * Waveform events: the `records` table of DESIGN.md, one row per event, sorted by
 * (timestamp, pid, channel). Samples are not in the batch: they travel beside it as one
 * contiguous Uint16Array that `wave_offset` / `event_length` index (see {@link WaveBatch}).
 */
export const RECORD_FIELDS = [
  { name: 'timestamp', type: new Int64(), unit: 'ps', doc: 'ADC timestamp from the run clock origin; primary sort and query key' },
  { name: 'pid', type: new Int32(), unit: '', doc: 'acquisition part / worker id' },
  { name: 'channel', type: new Int16(), unit: '', doc: 'physical channel' },
  { name: 'baseline', type: new Float64(), unit: 'ADC counts', doc: 'baseline value' },
  { name: 'event_id', type: new Int64(), unit: '', doc: 'global sequence number, assigned after the merge' },
  { name: 'dt', type: new Int32(), unit: 'ns', doc: 'sample interval' },
  { name: 'trigger_type', type: new Int16(), unit: '', doc: 'trigger type code' },
  { name: 'flags', type: new Uint32(), unit: '', doc: 'bit flags (quality, anomalies), see RecordFlags' },
  { name: 'wave_offset', type: new Int64(), unit: 'samples', doc: 'start index in the wave pool (batch-local in flight, global on disk)' },
  { name: 'event_length', type: new Int32(), unit: 'samples', doc: 'waveform length' },
  { name: 'time', type: new Int64(), unit: 'ns', doc: 'wall-clock Unix ns, for display only; never a query key' },
] as const;

export type RecordFieldName = (typeof RECORD_FIELDS)[number]['name'];

/** Bytes of one record's columns (60). */
export const RECORD_ROW_BYTES = RECORD_FIELDS.reduce((a, f) => a + f.type.ArrayType.BYTES_PER_ELEMENT, 0);

/** Bits of the `flags` column. */
export const RecordFlags = {
  /** Emitted after events with a later timestamp (late-event policy "flag"). */
  LATE: 1 << 0,
  /** The ADC clipped (sample at 0 or 2^14-1). */
  SATURATED: 1 << 1,
  /** Waveform truncated by the digitizer's maximum length. */
  TRUNCATED: 1 << 2,
} as const;

export const recordsSchema = new Schema(
  RECORD_FIELDS.map(
    (f) => new Field(f.name, f.type, false, f.unit ? new Map([['unit', f.unit]]) : undefined),
  ),
  new Map([['daq.kind', 'waveform']]),
);

/** Column arrays of a records batch, in RECORD_FIELDS order. */
export interface RecordColumns {
  timestamp: BigInt64Array;
  pid: Int32Array;
  channel: Int16Array;
  baseline: Float64Array;
  event_id: BigInt64Array;
  dt: Int32Array;
  trigger_type: Int16Array;
  flags: Uint32Array;
  wave_offset: BigInt64Array;
  event_length: Int32Array;
  time: BigInt64Array;
}

/** Builds a records RecordBatch over the given typed arrays (zero-copy). */
export function makeRecordsBatch(cols: RecordColumns): RecordBatch {
  return makeBatch(
    recordsSchema,
    RECORD_FIELDS.map((f) => cols[f.name]),
  );
}

/** Typed arrays behind a records batch (zero-copy for single-chunk columns). */
export function recordColumns(batch: RecordBatch): RecordColumns {
  // An object literal in field order: every RecordColumns has the same shape (hidden class),
  // which keeps the merge's hot loops monomorphic. (No closure for the repeated call: this runs per
  // batch, and under tsx a closure also gets its name set.)
  return {
    timestamp: columnValues<BigInt64Array>(batch, 0),
    pid: columnValues<Int32Array>(batch, 1),
    channel: columnValues<Int16Array>(batch, 2),
    baseline: columnValues<Float64Array>(batch, 3),
    event_id: columnValues<BigInt64Array>(batch, 4),
    dt: columnValues<Int32Array>(batch, 5),
    trigger_type: columnValues<Int16Array>(batch, 6),
    flags: columnValues<Uint32Array>(batch, 7),
    wave_offset: columnValues<BigInt64Array>(batch, 8),
    event_length: columnValues<Int32Array>(batch, 9),
    time: columnValues<BigInt64Array>(batch, 10),
  };
}

/** Allocates zeroed columns for n records. */
export function allocRecordColumns(n: number): RecordColumns {
  return recordColumnsOn(n, (_kind, bytesPerElement) => new ArrayBuffer(n * bytesPerElement));
}

interface ColumnCtor<A> {
  new (buffer: ArrayBuffer, byteOffset: number, length: number): A;
  readonly BYTES_PER_ELEMENT: number;
}

/**
 * Columns for n records, each at the start of the buffer `bufferFor(kind, bytesPerElement)` gives
 * (kind: the column's index in RECORD_FIELDS; at least n elements long). An object literal in
 * field order: the same shape as every RecordColumns (see recordColumns).
 */
export function recordColumnsOn(n: number, bufferFor: (kind: number, bytesPerElement: number) => ArrayBuffer): RecordColumns {
  const col = <A>(C: ColumnCtor<A>, kind: number): A => new C(bufferFor(kind, C.BYTES_PER_ELEMENT), 0, n);
  return {
    timestamp: col(BigInt64Array, 0),
    pid: col(Int32Array, 1),
    channel: col(Int16Array, 2),
    baseline: col(Float64Array, 3),
    event_id: col(BigInt64Array, 4),
    dt: col(Int32Array, 5),
    trigger_type: col(Int16Array, 6),
    flags: col(Uint32Array, 7),
    wave_offset: col(BigInt64Array, 8),
    event_length: col(Int32Array, 9),
    time: col(BigInt64Array, 10),
  };
}
