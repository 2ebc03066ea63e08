import { DaqError } from '../errors.ts';
import { batchBytes } from '../schema/batch.ts';
import type { WaveBatch } from '../schema/batch.ts';
import { recordColumns, RecordFlags } from '../schema/waveform.ts';
import type { RecordColumns } from '../schema/waveform.ts';
import { cmpKeys, compareKey, MIN_KEY } from './record-key.ts';
import type { RecordKey } from './record-key.ts';
import { WaveOutputBuilder } from './wave-output.ts';

/** What happens to an event whose key is below what the merge already emitted. */
export type LatePolicy = 'reject' | 'flag';

export interface StreamingMergeOptions {
  /** Name of the output stream. */
  output: string;
  /** An input silent this long stops holding the watermark back (counted). Default 2000 ms. */
  silenceTimeoutMs?: number;
  /** `flag`: emit late events at their arrival position with RecordFlags.LATE; `reject`: drop and record them. */
  latePolicy?: LatePolicy;
  /** Above this many buffered bytes `push` returns false: the caller must apply backpressure. */
  maxBufferedBytes?: number;
  /** Most rows per output batch. */
  maxOutputRows?: number;
  /** Clock for silence timeouts (ms). */
  now?: () => number;
}

/** A gap in stored data: what was dropped, from which stream and why (stored with the run). */
export interface LossRecord {
  stream: string;
  reason: 'late';
  tMinPs: bigint;
  tMaxPs: bigint;
  rows: number;
}

interface Pending {
  wb: WaveBatch;
  cols: RecordColumns;
  row: number;
  end: number;
  bytes: number;
  release?: () => void;
}

interface Input {
  id: string;
  /** Position among inputs: breaks ties between equal keys (stable merge). */
  index: number;
  queue: Pending[];
  head: number;
  /** Key of the last event pushed (null before the first). */
  last: RecordKey | null;
  /** Producer's promise: no later event below this timestamp. */
  watermarkPs: bigint | null;
  ended: boolean;
  timedOut: boolean;
  lastPushMs: number;
  bufferedBytes: number;
  bufferedEvents: number;
  lateEvents: number;
  timeouts: number;
}

export interface InputStats {
  buffered_bytes: number;
  buffered_events: number;
  late_events: number;
  timeouts: number;
  timed_out: boolean;
  ended: boolean;
}

/**
 * Incremental k-way merge of waveform streams, each sorted by (timestamp, pid, channel), into one
 * globally ordered stream (seed 000, DESIGN.md "Streaming merge").
 *
 * **Watermark.** Each live input bounds what may be emitted by the key of the last event it
 * pushed (raised by its `watermarkPs` promise, if any); the merge emits exactly the buffered
 * events whose key is *strictly below* the smallest bound over live inputs. An event equal to the
 * bound waits, because the input that set the bound may still send an equal key that a stable
 * merge must put first. Ended inputs do not bound; neither do inputs silent for longer than
 * `silenceTimeoutMs` (counted) until they speak again.
 *
 * **Ties.** Equal keys from different inputs come out in the order the inputs were added; equal
 * keys within an input in arrival order — a stable sort of the concatenation.
 *
 * **Late events** (key below the last emitted key, e.g. from an input that timed out) are never
 * reordered: `flag` emits them at their arrival position with `RecordFlags.LATE`; `reject` drops
 * them and records a {@link LossRecord}. Late events are always a prefix of the batch that
 * brings them, since inputs are sorted.
 *
 * **Output.** Batches carry batch-local `wave_offset` like every in-flight batch, plus
 * `globalSampleOffset` (position of their first sample in the run's wave pool); `event_id` is
 * 0, 1, 2, ... in output order. Each event's samples are copied once, runs in bulk.
 */
export class StreamingMerge {
  private readonly inputs = new Map<string, Input>();
  private readonly order: Input[] = [];
  private readonly out: WaveOutputBuilder;
  private readonly opts: Required<StreamingMergeOptions>;
  private lastEmitted: RecordKey | null = null;
  private buffered = 0;
  readonly losses: LossRecord[] = [];
  private emittedEvents = 0;
  private emittedSamples = 0n;

  constructor(opts: StreamingMergeOptions) {
    this.opts = {
      silenceTimeoutMs: 2000,
      latePolicy: 'flag',
      maxBufferedBytes: 256 * 1024 * 1024,
      maxOutputRows: 65536,
      now: Date.now,
      ...opts,
    };
    this.out = new WaveOutputBuilder(this.opts.output, this.opts.maxOutputRows);
  }

  addInput(id: string): void {
    if (this.inputs.has(id)) throw new DaqError('DAQ_ERR_USAGE', `merge input "${id}" added twice`);
    const input: Input = {
      id,
      index: this.order.length,
      queue: [],
      head: 0,
      last: null,
      watermarkPs: null,
      ended: false,
      timedOut: false,
      lastPushMs: this.opts.now(),
      bufferedBytes: 0,
      bufferedEvents: 0,
      lateEvents: 0,
      timeouts: 0,
    };
    this.inputs.set(id, input);
    this.order.push(input);
  }

  /**
   * Buffers a batch of input `id`. `release` is called once the merge no longer holds the batch
   * (all its rows emitted or dropped). Returns false when the merge holds more than
   * `maxBufferedBytes`: the caller should hold its producers until `drain` frees space.
   */
  push(id: string, wb: WaveBatch, release?: () => void): boolean {
    const input = this.input(id);
    if (input.ended) throw new DaqError('DAQ_ERR_USAGE', `merge input "${id}" pushed after end()`);
    input.lastPushMs = this.opts.now();
    input.timedOut = false;
    if (wb.watermarkPs !== undefined && (input.watermarkPs === null || wb.watermarkPs > input.watermarkPs)) input.watermarkPs = wb.watermarkPs;
    const n = wb.batch.numRows;
    if (n === 0) {
      release?.();
      return this.buffered < this.opts.maxBufferedBytes;
    }
    const cols = recordColumns(wb.batch);
    this.checkOrder(input, cols, n);
    input.last = { t: cols.timestamp[n - 1]!, pid: cols.pid[n - 1]!, ch: cols.channel[n - 1]! };

    // Late events form a prefix: those below the last emitted key.
    let start = 0;
    if (this.lastEmitted) start = this.lowerBound(cols, 0, n, this.lastEmitted, false);
    if (start > 0) {
      input.lateEvents += start;
      if (this.opts.latePolicy === 'flag') {
        this.out.append(cols, wb.samples, 0, start, RecordFlags.LATE);
      } else {
        this.losses.push({ stream: id, reason: 'late', tMinPs: cols.timestamp[0]!, tMaxPs: cols.timestamp[start - 1]!, rows: start });
      }
    }
    if (start === n) {
      release?.();
    } else {
      const bytes = batchBytes(wb);
      input.queue.push({ wb, cols, row: start, end: n, bytes, release });
      input.bufferedBytes += bytes;
      input.bufferedEvents += n - start;
      this.buffered += bytes;
    }
    return this.buffered < this.opts.maxBufferedBytes;
  }

  /** The input will send nothing more: it stops bounding the watermark. */
  end(id: string): void {
    this.input(id).ended = true;
  }

  /** Marks inputs silent for longer than the timeout, so they stop holding output back. */
  tick(nowMs = this.opts.now()): void {
    for (const input of this.order) {
      if (!input.ended && !input.timedOut && nowMs - input.lastPushMs > this.opts.silenceTimeoutMs) {
        input.timedOut = true;
        input.timeouts++;
      }
    }
  }

  /** Emits every buffered event the watermark allows, as output batches. */
  drain(): WaveBatch[] {
    this.mergeBelow(this.bound());
    return this.collect();
  }

  /** Every input has ended: emits everything buffered. */
  finish(): WaveBatch[] {
    for (const input of this.order) input.ended = true;
    return this.drain();
  }

  get bufferedBytes(): number {
    return this.buffered;
  }

  stats(): { emitted_events: number; emitted_samples: number; buffered_bytes: number; inputs: Record<string, InputStats> } {
    return {
      emitted_events: this.emittedEvents,
      emitted_samples: Number(this.emittedSamples),
      buffered_bytes: this.buffered,
      inputs: Object.fromEntries(
        this.order.map((i) => [
          i.id,
          {
            buffered_bytes: i.bufferedBytes,
            buffered_events: i.bufferedEvents,
            late_events: i.lateEvents,
            timeouts: i.timeouts,
            timed_out: i.timedOut,
            ended: i.ended,
          },
        ]),
      ),
    };
  }

  private input(id: string): Input {
    const input = this.inputs.get(id);
    if (!input) throw new DaqError('DAQ_ERR_STREAM_UNKNOWN', `merge has no input "${id}"`, { details: { stream: id } });
    return input;
  }

  private checkOrder(input: Input, c: RecordColumns, n: number): void {
    let pt = input.last ? input.last.t : MIN_KEY.t;
    let pp = input.last ? input.last.pid : MIN_KEY.pid;
    let pc = input.last ? input.last.ch : MIN_KEY.ch;
    for (let r = 0; r < n; r++) {
      const t = c.timestamp[r]!;
      const p = c.pid[r]!;
      const ch = c.channel[r]!;
      if (compareKey(t, p, ch, pt, pp, pc) < 0) {
        throw new DaqError(
          'DAQ_ERR_MERGE_ORDER',
          `merge input "${input.id}": row ${r} has (timestamp ${t}, pid ${p}, channel ${ch}) below the previous (${pt}, ${pp}, ${pc}); inputs must be sorted by (timestamp, pid, channel)`,
          { details: { stream: input.id, row: r } },
        );
      }
      pt = t;
      pp = p;
      pc = ch;
    }
  }

  /** Smallest bound over live inputs; null = unbounded (no live input). */
  private bound(): RecordKey | null {
    let bound: RecordKey | null = null;
    for (const input of this.order) {
      if (input.ended || input.timedOut) continue;
      let b: RecordKey = input.last ?? MIN_KEY;
      if (input.watermarkPs !== null && (b === MIN_KEY || input.watermarkPs > b.t)) b = { t: input.watermarkPs, pid: MIN_KEY.pid, ch: MIN_KEY.ch };
      if (bound === null || cmpKeys(b, bound) < 0) bound = b;
    }
    return bound;
  }

  /** First row in [lo, hi) whose key is >= key (or > key when `after`). */
  private lowerBound(c: RecordColumns, lo: number, hi: number, key: RecordKey, after: boolean): number {
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const cmp = compareKey(c.timestamp[mid]!, c.pid[mid]!, c.channel[mid]!, key.t, key.pid, key.ch);
      if (cmp < 0 || (after && cmp === 0)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private headKey(i: Input): RecordKey {
    const p = i.queue[i.head]!;
    return { t: p.cols.timestamp[p.row]!, pid: p.cols.pid[p.row]!, ch: p.cols.channel[p.row]! };
  }

  /** Heap order: head key, then input index (stable ties). */
  private less(a: Input, ak: RecordKey, b: Input, bk: RecordKey): boolean {
    const c = cmpKeys(ak, bk);
    return c < 0 || (c === 0 && a.index < b.index);
  }

  /** k-way merge of every buffered event with key < bound, copying runs in bulk. */
  private mergeBelow(bound: RecordKey | null): void {
    const heap: Input[] = [];
    const keys = new Map<Input, RecordKey>();
    const push = (i: Input) => {
      keys.set(i, this.headKey(i));
      heap.push(i);
      let c = heap.length - 1;
      while (c > 0) {
        const p = (c - 1) >> 1;
        if (!this.less(heap[c]!, keys.get(heap[c]!)!, heap[p]!, keys.get(heap[p]!)!)) break;
        [heap[c], heap[p]] = [heap[p]!, heap[c]!];
        c = p;
      }
    };
    const pop = (): Input => {
      const top = heap[0]!;
      const last = heap.pop()!;
      if (heap.length > 0) {
        heap[0] = last;
        let c = 0;
        for (;;) {
          const l = 2 * c + 1;
          const r = l + 1;
          let m = c;
          if (l < heap.length && this.less(heap[l]!, keys.get(heap[l]!)!, heap[m]!, keys.get(heap[m]!)!)) m = l;
          if (r < heap.length && this.less(heap[r]!, keys.get(heap[r]!)!, heap[m]!, keys.get(heap[m]!)!)) m = r;
          if (m === c) break;
          [heap[c], heap[m]] = [heap[m]!, heap[c]!];
          c = m;
        }
      }
      return top;
    };
    for (const input of this.order) if (input.head < input.queue.length) push(input);

    while (heap.length > 0) {
      const i = pop();
      const ik = keys.get(i)!;
      if (bound && cmpKeys(ik, bound) >= 0) break; // the smallest head is not emittable: nothing is
      const p = i.queue[i.head]!;
      // The run ends at the bound, or where the next input's head must come first.
      let end = bound ? this.lowerBound(p.cols, p.row, p.end, bound, false) : p.end;
      if (heap.length > 0) {
        const j = heap[0]!;
        end = Math.min(end, this.lowerBound(p.cols, p.row, end, keys.get(j)!, i.index < j.index));
      }
      this.out.append(p.cols, p.wb.samples, p.row, end, 0);
      const lastRow = end - 1;
      this.lastEmitted = { t: p.cols.timestamp[lastRow]!, pid: p.cols.pid[lastRow]!, ch: p.cols.channel[lastRow]! };
      i.bufferedEvents -= end - p.row;
      p.row = end;
      if (p.row === p.end) {
        i.bufferedBytes -= p.bytes;
        this.buffered -= p.bytes;
        i.queue[i.head] = undefined as never;
        i.head++;
        if (i.head === i.queue.length) {
          i.queue.length = 0;
          i.head = 0;
        }
        p.release?.();
      }
      if (i.head < i.queue.length) push(i);
    }
  }

  private collect(): WaveBatch[] {
    const batches = this.out.take();
    for (const b of batches) {
      this.emittedEvents += b.batch.numRows;
      this.emittedSamples += BigInt(b.samples.length);
    }
    return batches;
  }
}
