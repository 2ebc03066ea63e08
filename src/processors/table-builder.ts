import type { RecordBatch, Schema } from 'apache-arrow';
import { makeBatch } from '../schema/batch.ts';

type Typed = Float64Array | BigInt64Array | Int32Array | Int16Array | Uint32Array | Uint8Array;
type TypedCtor = { new (n: number): Typed };

/**
 * Growable typed-array columns for a processor's output table: rows are appended column by
 * column (no object per row), then `take()` returns a RecordBatch over exact-length copies.
 */
export class TableBuilder {
  rows = 0;
  private capacity: number;
  readonly cols: Typed[];

  constructor(
    private readonly schema: Schema,
    private readonly ctors: TypedCtor[],
    initialCapacity = 1024,
  ) {
    this.capacity = initialCapacity;
    this.cols = ctors.map((C) => new C(initialCapacity));
  }

  /** Makes room for `n` more rows; returns the index of the first one (then write `cols[c][i]`). */
  reserve(n: number): number {
    const need = this.rows + n;
    if (need > this.capacity) {
      let cap = this.capacity * 2;
      while (cap < need) cap *= 2;
      for (let c = 0; c < this.cols.length; c++) {
        const next = new this.ctors[c]!(cap);
        next.set(this.cols[c]! as never);
        this.cols[c] = next;
      }
      this.capacity = cap;
    }
    const at = this.rows;
    this.rows = need;
    return at;
  }

  /** The rows so far as a batch (null when empty); the builder starts over. */
  take(): RecordBatch | null {
    if (this.rows === 0) return null;
    const out = makeBatch(
      this.schema,
      this.cols.map((c) => c.slice(0, this.rows)),
    );
    this.rows = 0;
    return out;
  }
}
