/**
 * Cuts per-source sample series (a tag, a channel) into overlapping frames of `size` samples,
 * `hop` apart, carrying partial frames across batches. Values and times (float ns from a
 * reference, exact below 2^53 ns ≈ 104 days) live in typed arrays allocated on a source's first
 * sample, so memory is `16·size` bytes per source that has data.
 */
export class Framer {
  private readonly values: (Float64Array | undefined)[];
  private readonly times: (Float64Array | undefined)[];
  private readonly fill: Int32Array;

  constructor(
    slots: number,
    readonly size: number,
    readonly hop: number,
  ) {
    this.values = new Array(slots);
    this.times = new Array(slots);
    this.fill = new Int32Array(slots);
  }

  /** Appends one sample; returns true when the slot's frame is full (read it, then `advance`). */
  push(slot: number, value: number, tNs: number): boolean {
    let v = this.values[slot];
    let t = this.times[slot];
    if (!v || !t) {
      v = this.values[slot] = new Float64Array(this.size);
      t = this.times[slot] = new Float64Array(this.size);
    }
    const f = this.fill[slot]!;
    v[f] = value;
    t[f] = tNs;
    this.fill[slot] = f + 1;
    return f + 1 === this.size;
  }

  frameValues(slot: number): Float64Array {
    return this.values[slot]!;
  }

  frameTimes(slot: number): Float64Array {
    return this.times[slot]!;
  }

  /** Drops the first `hop` samples of a full frame, keeping the overlap. */
  advance(slot: number): void {
    const v = this.values[slot]!;
    const t = this.times[slot]!;
    v.copyWithin(0, this.hop);
    t.copyWithin(0, this.hop);
    this.fill[slot] = this.size - this.hop;
  }
}

/**
 * Exact float offset `ts[row] − ref` in ns for int64 timestamps, read through an Int32 view of
 * the BigInt64Array (little-endian) so no BigInt is allocated per row. Exact while |offset| < 2^53.
 */
export function int64Offset(words: Int32Array, row: number, refHi: number, refLo: number): number {
  const lo = words[2 * row]! >>> 0;
  const hi = words[2 * row + 1]!;
  return (hi - refHi) * 4294967296 + (lo - refLo);
}

/** Int32 view of a BigInt64Array's words, for {@link int64Offset}. */
export function int64Words(a: BigInt64Array): Int32Array {
  return new Int32Array(a.buffer, a.byteOffset, a.length * 2);
}

/** Splits a bigint into the (hi, lo) words {@link int64Offset} expects. */
export function splitInt64(v: bigint): { hi: number; lo: number } {
  return { hi: Number(BigInt.asIntN(32, v >> 32n)), lo: Number(BigInt.asUintN(32, v)) };
}
