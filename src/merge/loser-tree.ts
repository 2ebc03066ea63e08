/**
 * A loser tree (tournament tree) over the head keys of m sorted inputs, for the k-way merge: the
 * smallest head is at the root; replacing the winner's key costs one comparison per level
 * (log2 m), with no object per input or per comparison.
 *
 * Keys are (timestamp int64 as hi/lo words, pid, channel), then slot index (the stable tie
 * break: slots are numbered in input order). Each key is also held as float64 numbers:
 * `t = hi·2^32 + lo` (rounded above 2^53 ps, but rounding is monotonic, so `t` only decides when
 * it differs and the exact words decide ties) and `p = pid·2^16 + channel + 2^15` (exact). An
 * exhausted slot has `t = +Infinity`.
 */
export class LoserTree {
  /** t per slot (see above). */
  readonly t: Float64Array;
  readonly hi: Int32Array;
  readonly lo: Uint32Array;
  /** pid·2^16 + channel + 2^15 per slot. */
  readonly p: Float64Array;
  /** node 0: the winner's slot; nodes 1..m-1: the loser of the match played there. */
  private readonly node: Int32Array;

  constructor(readonly m: number) {
    this.t = new Float64Array(m).fill(Infinity);
    this.hi = new Int32Array(m);
    this.lo = new Uint32Array(m);
    this.p = new Float64Array(m);
    this.node = new Int32Array(Math.max(1, m));
  }

  set(s: number, hi: number, lo: number, pid: number, ch: number): void {
    this.t[s] = hi * 4294967296 + lo;
    this.hi[s] = hi;
    this.lo[s] = lo;
    this.p[s] = pid * 65536 + ch + 32768;
  }

  exhaust(s: number): void {
    this.t[s] = Infinity;
  }

  /** Does slot a's key come before slot b's (ties: lower slot first)? */
  less(a: number, b: number): boolean {
    const ta = this.t[a]!;
    const tb = this.t[b]!;
    if (ta !== tb) return ta < tb;
    const ha = this.hi[a]!;
    const hb = this.hi[b]!;
    if (ha !== hb) return ha < hb;
    const la = this.lo[a]!;
    const lb = this.lo[b]!;
    if (la !== lb) return la < lb;
    const pa = this.p[a]!;
    const pb = this.p[b]!;
    if (pa !== pb) return pa < pb;
    return a < b;
  }

  /** Plays every match, once the keys are set. */
  build(): void {
    const m = this.m;
    if (m === 1) {
      this.node[0] = 0;
      return;
    }
    // win[j]: winner below node j; leaves are nodes m..2m-1 (slot = node - m).
    const win = new Int32Array(2 * m);
    for (let s = 0; s < m; s++) win[m + s] = s;
    for (let j = m - 1; j >= 1; j--) {
      const a = win[2 * j]!;
      const b = win[2 * j + 1]!;
      if (this.less(b, a)) {
        win[j] = b;
        this.node[j] = a;
      } else {
        win[j] = a;
        this.node[j] = b;
      }
    }
    this.node[0] = win[1]!;
  }

  /** The slot with the smallest key (exhausted when its t is +Infinity). */
  winner(): number {
    return this.node[0]!;
  }

  /**
   * After slot s (the winner) got a new key: replays its matches up to the root; returns the new
   * winner. The climbing key's t stays in a local, so a level costs one load and one compare
   * unless the t are equal.
   */
  replay(s: number): number {
    const t = this.t;
    const node = this.node;
    let w = s;
    let tw = t[s]!;
    for (let j = (s + this.m) >> 1; j >= 1; j >>= 1) {
      const l = node[j]!;
      const tl = t[l]!;
      if (tl < tw || (tl === tw && this.less(l, w))) {
        node[j] = w;
        w = l;
        tw = tl;
      }
    }
    node[0] = w;
    return w;
  }

  /** The second-smallest slot: the best of the winner's beaten opponents; -1 when m = 1. */
  runnerUp(): number {
    const w = this.node[0]!;
    let r = -1;
    for (let j = (w + this.m) >> 1; j >= 1; j >>= 1) {
      const l = this.node[j]!;
      if (r < 0 || this.less(l, r)) r = l;
    }
    return r;
  }
}
