/** The last N latencies in a fixed Float64Array, for p50/p99 without unbounded growth. */
export class LatencyRing {
  private readonly buf: Float64Array;
  private n = 0;
  private next = 0;

  constructor(capacity: number) {
    this.buf = new Float64Array(capacity);
  }

  add(ms: number): void {
    this.buf[this.next] = ms;
    this.next = (this.next + 1) % this.buf.length;
    if (this.n < this.buf.length) this.n++;
  }

  /** Quantile q in [0, 1] of the kept values; 0 when empty. */
  quantile(q: number): number {
    if (this.n === 0) return 0;
    const s = this.buf.slice(0, this.n).sort();
    return s[Math.min(this.n - 1, Math.floor(q * this.n))]!;
  }

  /** Forgets every value (e.g. after a warm-up, so quantiles describe what follows). */
  clear(): void {
    this.n = 0;
    this.next = 0;
  }

  get count(): number {
    return this.n;
  }
}
