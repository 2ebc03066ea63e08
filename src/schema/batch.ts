import { Data, makeData, RecordBatch, Struct } from 'apache-arrow';
import type { Schema } from 'apache-arrow';
import type { TagTable } from './scalar.ts';

/**
 * The typed array of column `i` of a batch, exactly `numRows` long. Arrow's `values` can be longer
 * than the column (IPC buffers are padded; sliced data has an offset): always go through here.
 */
export function columnValues<T extends ArrayLike<unknown> & { subarray(a: number, b: number): T }>(batch: RecordBatch, i: number): T {
  // data.children, not getChildAt: that builds a Vector per call (~0.15 µs; a batch has 11 columns).
  const d = batch.data.children[i]!;
  const v = d.values as unknown as T;
  return d.offset === 0 && v.length === d.length ? v : v.subarray(d.offset, d.offset + d.length);
}

/** Builds a RecordBatch whose columns are the given typed arrays, in schema order, with no copy. */
export function makeBatch(schema: Schema, columns: ArrayLike<unknown>[]): RecordBatch {
  const length = columns[0]?.length ?? 0;
  const children = schema.fields.map((field, i) => {
    const data = columns[i] as ArrayLike<unknown>;
    if (data.length !== length) {
      throw new RangeError(`column ${field.name} has ${data.length} rows, expected ${length}`);
    }
    // A typed array of the column's own array type becomes its values as is (makeData's visitor
    // would get there too, at ~0.4 µs a column; this runs for every batch an instrument or the
    // merge makes). Anything else goes through makeData, which converts it.
    const ArrayType = (field.type as { ArrayType?: unknown }).ArrayType;
    if (ArrayType !== undefined && data.constructor === ArrayType) return new Data(field.type, 0, length, 0, [undefined, data, undefined] as never);
    return makeData({ type: field.type, length, nullCount: 0, data } as never);
  });
  const data = makeData({ type: new Struct(schema.fields), length, nullCount: 0, children });
  return recordBatchOf(schema, data);
}

/**
 * `new RecordBatch(schema, data)` for data whose children all have the batch's length, without the
 * constructor's length check: that check (ensureSameLengthData) also rebuilds the schema, cloning
 * every field and merging metadata maps, ~5 µs a batch — as much as the rest of makeBatch for
 * every batch an instrument or the merge makes. The instance has what the constructor's [Schema,
 * Data] form gives it (own properties schema, data, _metadata); a test checks it against the
 * constructor's (properties, IPC bytes), so an arrow upgrade that changes the class fails there.
 */
function recordBatchOf(schema: Schema, data: Data<Struct>): RecordBatch {
  const b = Object.create(RecordBatch.prototype) as { schema: Schema; data: Data<Struct>; _metadata: Map<string, string> };
  b.schema = schema;
  b.data = data;
  b._metadata = new Map();
  return b as unknown as RecordBatch;
}

/** What made a stream: enough to name stored data (strax-style lineage). */
export interface Lineage {
  /** Instrument or processor type that produced the stream, e.g. "sim-scalar". */
  plugin: string;
  version: string;
  /** Stable hash of the plugin's options. */
  optionsHash: string;
  /** Streams this one was computed from (processors), empty for instruments. */
  inputs: string[];
}

/** A stream as registered with the manager. */
export interface StreamInfo {
  /** Unique stream name, e.g. "plant.tags" or "digitizer.ch0". */
  name: string;
  kind: 'scalar' | 'waveform' | 'table';
  /** The schema every batch of the stream must have. */
  schema: Schema;
  lineage: Lineage;
  /** Scalar streams: the tag table. */
  tags?: TagTable;
  /** Waveform streams: the channels present. */
  channels?: number[];
  /** Waveform streams: sample interval in ns. */
  dtNs?: number;
  /** Free-form units/description per field (stored as dataset attributes). */
  units?: Record<string, string>;
}

/** A batch of a scalar or generic table stream. */
export interface TableBatch {
  kind: 'scalar' | 'table';
  stream: string;
  batch: RecordBatch;
}

/**
 * A batch of waveform events: `batch` holds records rows, `samples` their waveforms back to back.
 * In flight, `wave_offset` indexes `samples` (batch-local); storage and merge rewrite it to the
 * global wave-pool position.
 */
export interface WaveBatch {
  kind: 'waveform';
  stream: string;
  batch: RecordBatch;
  samples: Uint16Array;
  /**
   * Optional promise from the producer: no later event of this stream has `timestamp` (ps) below
   * this. Lets a merge advance past a quiet input; a batch may carry it with zero rows.
   */
  watermarkPs?: bigint;
  /** Set by the merge: position of samples[0] in the run's global wave pool. */
  globalSampleOffset?: bigint;
}

/** Everything that moves through the pipeline. Passed by reference, never copied per subscriber. */
export type StreamBatch = TableBatch | WaveBatch;

/** Bytes a batch holds (column buffers plus samples): the unit of flow control. */
export function batchBytes(sb: StreamBatch): number {
  let bytes = 0;
  for (const child of sb.batch.data.children) {
    bytes += child.values?.byteLength ?? 0;
  }
  if (sb.kind === 'waveform') bytes += sb.samples.byteLength;
  return bytes;
}
