import { Field, Float64, Int64, Schema, Uint32, Uint8 } from 'apache-arrow';
import { columnValues, makeBatch } from './batch.ts';
import type { RecordBatch } from 'apache-arrow';

/** Quality codes for scalar points (uint8). 0 is good; anything else marks the point. */
export const Quality = {
  GOOD: 0,
  UNCERTAIN: 1,
  BAD: 2,
  COMM_FAILURE: 3,
  SENSOR_FAILURE: 4,
  OUT_OF_RANGE: 5,
} as const;

/**
 * Scalar points: one row per (tag, time). `timestamp_ns` is Unix ns; `tag` is an id into the
 * stream's tag table ({@link TagInfo}), which carries the name, unit and value type.
 */
export const scalarSchema = new Schema(
  [
    new Field('timestamp_ns', new Int64(), false, new Map([['unit', 'ns']])),
    new Field('tag', new Uint32(), false),
    new Field('value', new Float64(), false),
    new Field('quality', new Uint8(), false),
  ],
  new Map([['daq.kind', 'scalar']]),
);

/** One entry of a scalar stream's tag table. */
export interface TagInfo {
  id: number;
  name: string;
  unit: string;
  /** Value type as declared by the instrument; values travel as float64. */
  type: 'float64' | 'int32' | 'bool';
}

/**
 * A scalar stream's tag table as the pipeline reads it: an array of {@link TagInfo} (what
 * plugins declare) or any object that lists its tags the same way without holding one object per
 * tag (a built-in simulator's table of a million tags is computed on demand: ~90 MB less heap
 * than the array). Readers use only these members; `toJSON` (arrays have none: JSON.stringify
 * writes them as they are) gives the plain array for the WAL's stream registry.
 */
export interface TagTable {
  readonly length: number;
  [Symbol.iterator](): Iterator<TagInfo>;
  map<U>(fn: (tag: TagInfo, index: number) => U): U[];
  slice(start?: number, end?: number): TagInfo[];
}

/** The table as a plain array (the table itself when it is one; else one object per tag, made now). */
export function tagArray(tags: TagTable): readonly TagInfo[] {
  return Array.isArray(tags) ? (tags as readonly TagInfo[]) : tags.slice();
}

/** Column arrays of a scalar batch. Passed by reference: no copy is made. */
export interface ScalarColumns {
  timestampNs: BigInt64Array;
  tag: Uint32Array;
  value: Float64Array;
  quality: Uint8Array;
}

/** Builds a scalar RecordBatch over the given typed arrays (zero-copy). */
export function makeScalarBatch(cols: ScalarColumns): RecordBatch {
  return makeBatch(scalarSchema, [cols.timestampNs, cols.tag, cols.value, cols.quality]);
}

/** Returns the typed arrays behind a scalar batch (zero-copy when the batch has one chunk per column). */
export function scalarColumns(batch: RecordBatch): ScalarColumns {
  return {
    timestampNs: columnValues<BigInt64Array>(batch, 0),
    tag: columnValues<Uint32Array>(batch, 1),
    value: columnValues<Float64Array>(batch, 2),
    quality: columnValues<Uint8Array>(batch, 3),
  };
}

/** Concatenates scalar columns into fresh arrays (one allocation per column). */
export function concatScalarColumns(parts: ScalarColumns[]): ScalarColumns {
  const n = parts.reduce((a, c) => a + c.tag.length, 0);
  const out: ScalarColumns = { timestampNs: new BigInt64Array(n), tag: new Uint32Array(n), value: new Float64Array(n), quality: new Uint8Array(n) };
  let o = 0;
  for (const c of parts) {
    out.timestampNs.set(c.timestampNs, o);
    out.tag.set(c.tag, o);
    out.value.set(c.value, o);
    out.quality.set(c.quality, o);
    o += c.tag.length;
  }
  return out;
}
