/**
 * Min/max decimation for display: `n` points become at most `buckets` buckets, each keeping its
 * minimum and maximum, so a spike of one sample in a million still shows. Works on typed arrays;
 * returns the x of each bucket's first point.
 */
export interface Decimated {
  x: Float64Array;
  min: Float64Array;
  max: Float64Array;
}

/**
 * Decimates y (with x positions, or sample indices when x is null) from `start` to `end` into
 * `buckets` equal-count buckets. With fewer points than buckets, every point is its own bucket.
 */
export function minMaxDecimate(
  y: ArrayLike<number>,
  buckets: number,
  x: ArrayLike<number> | null = null,
  start = 0,
  end = y.length,
): Decimated {
  const n = Math.max(0, end - start);
  const b = Math.max(0, Math.min(buckets, n));
  const out: Decimated = { x: new Float64Array(b), min: new Float64Array(b), max: new Float64Array(b) };
  for (let k = 0; k < b; k++) {
    // Bucket k covers [start + floor(k·n/b), start + floor((k+1)·n/b)).
    const a = start + Math.floor((k * n) / b);
    const e = start + Math.floor(((k + 1) * n) / b);
    let lo = y[a]!;
    let hi = lo;
    // Selects rather than branches: on noisy data a branch per point mispredicts.
    for (let i = a + 1; i < e; i++) {
      const v = y[i]!;
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
    }
    out.x[k] = x ? x[a]! : a;
    out.min[k] = lo;
    out.max[k] = hi;
  }
  return out;
}

/**
 * The same decimation over a ring: the `count` logical points start at physical index `first`
 * of `y` and `x` (equal lengths) and wrap at their end. Reads the ring in place: no copy.
 */
export function minMaxDecimateRing(y: Float64Array, x: Float64Array, first: number, count: number, buckets: number): Decimated {
  const b = Math.max(0, Math.min(buckets, count, y.length));
  const out: Decimated = { x: new Float64Array(b), min: new Float64Array(b), max: new Float64Array(b) };
  minMaxDecimateRingInto(y, x, first, count, buckets, out, 0);
  return out;
}

/**
 * {@link minMaxDecimateRing} writing its buckets into `out` from index `at` (so that several
 * series fill one set of frame columns); returns the number of buckets written.
 */
export function minMaxDecimateRingInto(y: Float64Array, x: Float64Array, first: number, count: number, buckets: number, out: Decimated, at: number): number {
  const cap = y.length;
  const n = Math.max(0, Math.min(count, cap));
  const b = Math.max(0, Math.min(buckets, n));
  for (let k = 0; k < b; k++) {
    // Logical bucket [a, e) is physical [p, pe), or [p, cap) then [0, pe) where it wraps.
    const a = Math.floor((k * n) / b);
    const e = Math.floor(((k + 1) * n) / b);
    let p = first + a;
    if (p >= cap) p -= cap;
    let pe = first + e;
    if (pe > cap) pe -= cap;
    let lo = y[p]!;
    let hi = lo;
    out.x[at + k] = x[p]!;
    const stop = pe > p ? pe : cap;
    for (let i = p + 1; i < stop; i++) {
      const v = y[i]!;
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
    }
    if (pe <= p) {
      for (let i = 0; i < pe; i++) {
        const v = y[i]!;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
      }
    }
    out.min[at + k] = lo;
    out.max[at + k] = hi;
  }
  return b;
}
