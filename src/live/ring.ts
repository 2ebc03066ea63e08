import { minMaxDecimateRing, minMaxDecimateRingInto } from './decimate.ts';
import type { Decimated } from './decimate.ts';

/**
 * A fixed-capacity ring of (time, value) points for one tag's trend: appending overwrites the
 * oldest point, so memory stays bounded whatever the rate.
 */
export class TrendRing {
  readonly t: Float64Array;
  readonly v: Float64Array;
  private next = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    this.t = new Float64Array(capacity);
    this.v = new Float64Array(capacity);
  }

  push(tMs: number, value: number): void {
    this.t[this.next] = tMs;
    this.v[this.next] = value;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
  }

  get length(): number {
    return this.count;
  }

  /** Min/max decimation of the points, oldest first, into at most `buckets` buckets (in place: no copy). */
  decimate(buckets: number): Decimated {
    const first = (this.next - this.count + this.capacity) % this.capacity;
    return minMaxDecimateRing(this.v, this.t, first, this.count, buckets);
  }

  /** The same, written into `out` from index `at`; returns the number of buckets, min(buckets, length). */
  decimateInto(buckets: number, out: Decimated, at: number): number {
    const first = (this.next - this.count + this.capacity) % this.capacity;
    return minMaxDecimateRingInto(this.v, this.t, first, this.count, buckets, out, at);
  }

  /** The points oldest first, as fresh arrays. */
  ordered(): { t: Float64Array; v: Float64Array } {
    const t = new Float64Array(this.count);
    const v = new Float64Array(this.count);
    const first = (this.next - this.count + this.capacity) % this.capacity;
    const head = Math.min(this.count, this.capacity - first);
    t.set(this.t.subarray(first, first + head));
    v.set(this.v.subarray(first, first + head));
    t.set(this.t.subarray(0, this.count - head), head);
    v.set(this.v.subarray(0, this.count - head), head);
    return { t, v };
  }
}
