/**
 * Buffers of output batches that the consumer gave back (StreamingMerge.recycle), reused for later
 * output batches. A fresh buffer per column per batch costs an allocation, page faults on new
 * memory, and garbage collections that V8 starts for the external memory (in the merge bench, about
 * a quarter of the kernel path's time per record).
 */
export class OutputPool {
  /** Buffers handed out and not given back: only those are taken back (a foreign buffer, or one given back twice, is ignored). */
  private readonly lent = new WeakSet<ArrayBuffer>();
  private readonly free: ArrayBuffer[][];

  /**
   * @param kinds buffer kinds (an output column each; buffers of one kind are alike in size)
   * @param keep most buffers kept per kind (the rest are left to the garbage collector)
   */
  constructor(kinds: number, private readonly keep = 4) {
    this.free = Array.from({ length: kinds }, () => []);
  }

  /**
   * A buffer of at least `bytes` bytes for a column of this kind: a given-back one when one is
   * large enough, else a new one of `capacity` bytes (at least `bytes`) that later batches fit.
   */
  get(kind: number, bytes: number, capacity = bytes): ArrayBuffer {
    const list = this.free[kind]!;
    let b: ArrayBuffer | undefined;
    while ((b = list.pop()) !== undefined && b.byteLength < bytes);
    if (b === undefined) b = new ArrayBuffer(Math.max(bytes, capacity));
    this.lent.add(b);
    return b;
  }

  /** Takes back a buffer that `get` handed out. */
  put(kind: number, b: ArrayBuffer): void {
    if (!this.lent.delete(b)) return;
    const list = this.free[kind]!;
    if (list.length < this.keep) list.push(b);
  }

  /** Buffers held for reuse (tests, stats). */
  get held(): number {
    return this.free.reduce((a, l) => a + l.length, 0);
  }
}
