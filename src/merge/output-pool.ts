import { RECORD_FIELDS, recordColumnsOn } from '../schema/waveform.ts';
import type { RecordColumns } from '../schema/waveform.ts';

/** Buffer kind of the samples (the columns' kinds are their indexes in RECORD_FIELDS). */
export const SAMPLES = RECORD_FIELDS.length;
/** Buffer kind of an output area's columns: every column in one buffer (the native kernel's, handed out whole). */
export const AREA = SAMPLES + 1;

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
  /** A buffer came back: the consumer recycles. */
  private recycling = false;
  private heldBytes = 0;
  /** Per kind, the largest buffer asked for: once the consumer recycles, new buffers are at least as large, so later batches fit them. */
  private readonly largest: number[];

  /**
   * @param maxBytes most bytes kept for reuse (buffers beyond are left to the garbage collector):
   *   by default 64 MiB, the output of one drain at 64 inputs of 8192-row batches
   */
  constructor(private readonly maxBytes = 64 * 1024 * 1024) {
    this.free = Array.from({ length: AREA + 1 }, () => []);
    this.largest = new Array<number>(AREA + 1).fill(0);
  }

  /**
   * A buffer of at least `bytes` bytes for a column of this kind: a given-back one when one is
   * large enough, else a new one; once buffers come back, of `capacity` bytes or the largest size
   * asked for so far if more (at least `bytes`), so that later batches fit it.
   */
  get(kind: number, bytes: number, capacity = bytes): ArrayBuffer {
    const list = this.free[kind]!;
    let b: ArrayBuffer | undefined;
    while ((b = list.pop()) !== undefined) {
      this.heldBytes -= b.byteLength;
      if (b.byteLength >= bytes) break;
    }
    if (bytes > this.largest[kind]!) this.largest[kind] = bytes;
    // Room to spare only once the consumer gives buffers back: else it would just be held.
    if (b === undefined) b = new ArrayBuffer(this.recycling ? Math.max(bytes, capacity, this.largest[kind]!) : bytes);
    this.lent.add(b);
    return b;
  }

  /** Takes back a buffer that `get` handed out. */
  put(kind: number, b: ArrayBuffer): void {
    if (!this.lent.delete(b)) return;
    this.recycling = true;
    if (this.heldBytes + b.byteLength > this.maxBytes) return;
    this.heldBytes += b.byteLength;
    this.free[kind]!.push(b);
  }

  /**
   * Columns for an output batch of n rows (contents undefined: every one must be written), from
   * given-back buffers where they fit (see `get` for the size of new ones).
   */
  columns(n: number, capacity: number): RecordColumns {
    return recordColumnsOn(n, (kind, z) => this.get(kind, n * z, capacity * z));
  }

  /** Samples for an output batch (contents undefined); new buffers get an eighth more. */
  samples(count: number): Uint16Array {
    return new Uint16Array(this.get(SAMPLES, count * 2, count * 2 + ((count >> 3) << 1)), 0, count);
  }

  /** Takes back the buffers of a batch's columns and samples (those that `columns`, `samples` or `get` handed out). */
  putBatch(c: RecordColumns, samples: Uint16Array): void {
    const area = c.timestamp.buffer as ArrayBuffer;
    if (c.pid.buffer === area) this.put(AREA, area); // the columns lie in one area (the native kernel's)
    else RECORD_FIELDS.forEach((f, kind) => this.put(kind, c[f.name].buffer as ArrayBuffer));
    this.put(SAMPLES, samples.buffer as ArrayBuffer);
  }

  /** Buffers held for reuse (tests, stats). */
  get held(): number {
    return this.free.reduce((a, l) => a + l.length, 0);
  }
}
