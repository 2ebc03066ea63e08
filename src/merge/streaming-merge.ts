import { DaqError } from '../errors.ts';
import { batchBytes } from '../schema/batch.ts';
import type { WaveBatch } from '../schema/batch.ts';
import { recordColumns, RecordFlags } from '../schema/waveform.ts';
import { cmpNumKeys, cmpRowKey, cmpRows, gallop, keyTime, lowerBound, MIN_NUM_KEY, rowKey, timeKey } from './key-views.ts';
import { LoserTree } from './loser-tree.ts';
import type { NumKey } from './key-views.ts';
import { SourceBatch, WaveOutputBuilder } from './wave-output.ts';
import { OutputPool } from './output-pool.ts';
import { KERNEL_MAX_SLOTS, KERNEL_SLOT_EMPTY, kernelModule, MergeKernel } from './wasm-kernel.ts';
import type { CopyInProblem, KernelBatch, MergeKernelApi } from './wasm-kernel.ts';
import { nativeKernel, NativeMergeKernel } from './native-kernel.ts';

/** What happens to an event whose key is below what the merge already emitted. */
export type LatePolicy = 'reject' | 'flag';

/** How a drain hands its output to the sink. */
export interface DrainOptions {
  /**
   * The sink borrows each batch: its columns and samples are valid only until the sink returns
   * (the kernel path hands out views of its output area, which the next output batch overwrites;
   * the JS path's buffers go back to the merge for reuse). A sink that copies what it needs (an
   * HDF5 append, a network write) saves the merge's copy out of its output area. Needs a sink. A
   * batch the sink keeps past its return reads later output, or nothing once the kernel's memory
   * has grown.
   */
  borrow?: boolean;
}

export interface StreamingMergeOptions {
  /** Name of the output stream. */
  output: string;
  /**
   * An input silent this long *while another input pushed* stops holding the watermark back
   * (counted); see "Silence" on {@link StreamingMerge}. Default 2000 ms.
   */
  silenceTimeoutMs?: number;
  /** `flag`: emit late events at their arrival position with RecordFlags.LATE; `reject`: drop and record them. */
  latePolicy?: LatePolicy;
  /**
   * Above this many buffered bytes `push` returns false: the caller must apply backpressure.
   * Besides, a kernel holds its output area (about 76 bytes × maxOutputRows, plus samples; the
   * native kernel nothing else: it reads the batches where they are) and the WebAssembly one a
   * chunk per input (up to kernelChunkRows rows, by default 16384 shared among the inputs, at most
   * 2048; and up to 64 Ki samples, or 1 Mi samples shared among the inputs when there are more than
   * 16; a whole batch when its events' samples are not in row order), and its WebAssembly memory,
   * once grown to a peak, is not returned while the merge lives; `recycle` keeps up to 64 MiB of
   * output buffers.
   */
  maxBufferedBytes?: number;
  /** Most rows per output batch. Default 8192. */
  maxOutputRows?: number;
  /**
   * An output batch ends before the event that would take its samples past this; an event longer
   * than that gets a batch of its own. Default 1 Mi samples (2 MiB). With the row limit, this keeps
   * an output batch (about 2.5 MB at most, but for one long event) in the CPU's cache while it is
   * gathered, copied out and, by a recycling consumer, reused; 65536-row batches are 8 MB at 32
   * samples an event (the merge bench's BENCH_OUT_ROWS and BENCH_OUT_SAMPLES compare; README).
   */
  maxOutputSamples?: number;
  /** Clock for silence timeouts (ms), read on every push. */
  now?: () => number;
  /**
   * Inner merge loop and output build: `native` (the C kernel, src/merge/native, built by `npm ci`
   * where a C compiler is), `wasm` (WebAssembly kernel, src/merge/wasm), `js`, or `auto` (default):
   * starts on the JS path; a kernel (the native one when it is built and loads, else WebAssembly's)
   * when the inputs interleave finely (mean run of one input 6 events or less, over windows of 2^16
   * events, the first one 2^12); the JS path when they come in bursts (mean run 16 or more: its
   * bulk column copies are faster there), when neither kernel is available, and from the point
   * where the kernel fails (its memory cannot grow, more than 4096 inputs, a batch whose
   * waveforms lie outside its samples: `wasm` and `native` throw DAQ_ERR_BATCH_INVALID for those).
   * Switching happens between merge steps, also within one large drain; the output is the same on
   * every path. `native` throws DAQ_ERR_USAGE naming why when the native kernel is not there.
   */
  kernel?: 'auto' | 'native' | 'wasm' | 'js';
  /**
   * WebAssembly kernel: rows of one input copied into the kernel's memory at a time, as the merge reaches
   * them (fewer when their samples exceed the chunk's sample budget). Default: 16384 shared out
   * among the inputs, from 256 to 2048 (2048 up to 8 inputs, 256 from 64): small enough that every
   * input's chunk stays in cache.
   */
  kernelChunkRows?: number;
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
  src: SourceBatch;
  row: number;
  end: number;
  bytes: number;
  release?: () => void;
  /** The kernel's check of the batch (kernel path; the field always exists: one object shape). */
  kb: KernelBatch | undefined;
}

interface Input {
  id: string;
  /** Position among inputs: breaks ties between equal keys (stable merge). */
  index: number;
  queue: Pending[];
  head: number;
  /** Key of the last event pushed (null before the first). */
  last: NumKey | null;
  /** Producer's promise: no later event below this timestamp. */
  watermarkPs: bigint | null;
  ended: boolean;
  timedOut: boolean;
  lastPushMs: number;
  bufferedBytes: number;
  lateEvents: number;
  timeouts: number;
}

/** Events of `input` not yet emitted (counted when asked: the merge loop keeps no tally). */
function bufferedEvents(input: Input): number {
  let n = 0;
  for (let h = input.head; h < input.queue.length; h++) n += input.queue[h]!.end - input.queue[h]!.row;
  return n;
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
 * merge must put first. Ended inputs do not bound; neither do timed-out inputs (below) until
 * they speak again.
 *
 * **Silence** is measured against the other inputs, not the wall clock alone, so that a stall of
 * the whole process (GC, disk, CPU starvation) never looks like silent instruments. `tick` times
 * input i out (counted) when another input pushed more than `silenceTimeoutMs` after i's silence
 * began, where the silence begins at i's last push (or `addInput`), or at the end of the last
 * *lull* if later: a push that comes more than `silenceTimeoutMs` after the previous push of any
 * input ends a lull (nobody spoke: a process-wide stall, or every instrument quiet), and every
 * silence clock restarts there. So a dead input among live ones is timed out as soon as the others
 * have been heard for `silenceTimeoutMs` without it; after a stall no input is timed out; the only input
 * of a merge is never timed out (it holds back only its own events with its newest key, which wait
 * for its next push, `end` or `finish`).
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
 * 0, 1, 2, ... in output order. Each event's samples are copied once, runs in bulk. A consumer
 * that is done with an output batch may give it back with `recycle`: its buffers are reused
 * instead of allocating new ones.
 */
export class StreamingMerge {
  private readonly inputs = new Map<string, Input>();
  private readonly order: Input[] = [];
  private readonly out: WaveOutputBuilder;
  private readonly opts: Required<Omit<StreamingMergeOptions, 'kernelChunkRows'>> & Pick<StreamingMergeOptions, 'kernelChunkRows'>;
  private lastEmitted: NumKey | null = null;
  private buffered = 0;
  /** Time of the newest push of any input (ms, `now` clock). */
  private lastAnyPushMs: number;
  /** End of the last lull (no push from any input for longer than the timeout): silence restarts here. */
  private resumedMs: number;
  readonly losses: LossRecord[] = [];
  private emittedEvents = 0;
  private emittedSamples = 0n;
  /** The kernel (native or WebAssembly), null on the JS path. */
  private kernel: MergeKernelApi | null = null;
  /** Complete output batches not yet handed on: the drain's result, or those a throwing sink left. */
  private ready: WaveBatch[] = [];
  /** The running drain's sink: each output batch goes there as soon as it is complete. */
  private sink: ((b: WaveBatch) => void) | null = null;
  /** Hands a complete output batch on (in output order: every path switch first emits what the old path held). */
  private readonly emit = (b: WaveBatch): void => {
    this.emitAll([b]);
  };

  private emitAll(bs: WaveBatch[]): void {
    for (const b of bs) {
      this.emittedEvents += b.batch.numRows;
      this.emittedSamples += BigInt(b.samples.length);
      this.ready.push(b);
    }
    if (this.sink) this.deliver(this.sink);
  }

  /**
   * Gives the sink the ready batches in order (one it throws on counts as given; the rest stay
   * ready). A borrowing sink's batches are the merge's again once it returns: the JS path's go
   * back to the pool; the kernel's are views of its output area, which its next run overwrites.
   * A view is never left ready for later: batches are made only while `ready` is empty (a drain
   * hands on what a throwing sink left before it merges anything, and a throw ends the drain), and
   * each goes to the sink as soon as it is made.
   */
  private deliver(sink: (b: WaveBatch) => void): void {
    while (this.ready.length > 0) {
      const b = this.ready.shift()!;
      sink(b);
      if (this.borrowing) this.recycle(b);
    }
  }
  /** The running drain's sink borrows its batches (DrainOptions.borrow). */
  private borrowing = false;
  /** `auto`: the path follows the mean run length. */
  private readonly adaptive: boolean;
  /** The kernel failed (or is unavailable): the JS path stays. */
  private kernelFailed = false;
  /** Events and runs merged since the last path decision. */
  private windowRows = 0;
  private windowRuns = 0;
  /** Events in the current decision window: FIRST_ADAPT_WINDOW for the first decision, then ADAPT_WINDOW. */
  private window = FIRST_ADAPT_WINDOW;
  /** Output buffers given back by `recycle` (both paths' output comes from here). */
  private readonly pool = new OutputPool();

  constructor(opts: StreamingMergeOptions) {
    this.opts = {
      silenceTimeoutMs: 2000,
      latePolicy: 'flag',
      maxBufferedBytes: 256 * 1024 * 1024,
      maxOutputRows: 8192,
      maxOutputSamples: 1 << 20,
      now: Date.now,
      kernel: 'auto',
      ...opts,
    };
    for (const [name, max] of [['maxOutputRows', KERNEL_ROW_LIMIT], ['maxOutputSamples', 0x7fffffff], ['kernelChunkRows', KERNEL_ROW_LIMIT]] as const) {
      const v = this.opts[name];
      if (v === undefined) continue;
      if (!Number.isInteger(v) || v < 1 || v > max) throw new DaqError('DAQ_ERR_USAGE', `merge option ${name} must be an integer from 1 to ${max}, got ${v}`);
    }
    this.out = new WaveOutputBuilder(this.opts.output, this.opts.maxOutputRows, this.pool, this.opts.maxOutputSamples);
    this.adaptive = this.opts.kernel === 'auto';
    if (this.opts.kernel === 'native') {
      const n = nativeKernel();
      if (!n.addon) throw new DaqError('DAQ_ERR_USAGE', `merge kernel "native" asked for, but ${n.why}`);
    } else if (this.opts.kernel === 'wasm' && !kernelModule()) {
      throw new DaqError('DAQ_ERR_USAGE', 'merge kernel "wasm" asked for, but WebAssembly or merge-kernel.wasm is unavailable');
    }
    // auto starts on the JS path and takes a kernel once the inputs prove to interleave.
    if (this.opts.kernel !== 'js' && !this.adaptive) this.kernel = this.newKernel();
    else if (this.adaptive && !nativeKernel().addon && !kernelModule()) this.kernelFailed = true;
    this.lastAnyPushMs = this.resumedMs = this.opts.now();
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
      lateEvents: 0,
      timeouts: 0,
    };
    this.inputs.set(id, input);
    this.order.push(input);
    if (this.kernel && this.order.length > KERNEL_MAX_SLOTS) this.toJs(true);
  }

  /** Which inner loop runs now. */
  get path(): 'native' | 'wasm' | 'js' {
    if (!this.kernel) return 'js';
    return this.kernel instanceof NativeMergeKernel ? 'native' : 'wasm';
  }

  /** A new kernel: the one asked for; for auto the native one when it loads, else WebAssembly's (null without either). */
  private newKernel(): MergeKernelApi | null {
    const { maxOutputRows, maxOutputSamples } = this.opts;
    if (this.opts.kernel !== 'wasm') {
      const n = nativeKernel().addon;
      if (n) return new NativeMergeKernel(n, maxOutputRows, maxOutputSamples, this.pool);
    }
    const mod = kernelModule();
    return mod ? new MergeKernel(mod, maxOutputRows, maxOutputSamples, this.pool, this.opts.kernelChunkRows) : null;
  }

  /**
   * Leaves the kernel for the JS path (between merge steps): its finished output is kept for the
   * next collect, the JS builder continues its event ids and sample positions; the inputs' JS
   * batches are still held, so nothing else moves.
   */
  private toJs(failed: boolean): void {
    const k = this.kernel;
    if (failed) this.kernelFailed = true;
    if (!k) return;
    if (k.pendingRows > 0) this.emit(k.take(this.opts.output));
    this.out.continueFrom(Number(k.nextId), k.nextSampleOffset);
    this.dropKernelChecks();
    this.kernel = null;
  }

  /** Forgets the kernel's checks of the buffered batches (the kernel is being dropped). */
  private dropKernelChecks(): void {
    for (const input of this.order) for (let h = input.head; h < input.queue.length; h++) input.queue[h]!.kb = undefined;
  }

  /** Leaves the JS path for the kernel (between drains: the JS builder holds no runs): the kernel checks the buffered batches. */
  private toKernel(): void {
    if (this.kernelFailed || this.order.length > KERNEL_MAX_SLOTS) return;
    const k = this.newKernel();
    if (!k) return;
    try {
      for (const input of this.order) {
        for (let h = input.head; h < input.queue.length; h++) {
          const p = input.queue[h]!;
          const kb = k.copyIn(p.src.cols, p.src.samples, p.src.v.offLo, null);
          if (!isKernelBatch(kb)) throw new RangeError('bad offsets'); // the JS path copes with them: stay there
          p.kb = kb;
        }
      }
    } catch (e) {
      if (!(e instanceof WebAssembly.RuntimeError) && !(e instanceof RangeError)) throw e;
      this.dropKernelChecks();
      this.kernelFailed = true;
      return;
    }
    k.continueFrom(this.out.eventIdNext, this.out.sampleNext);
    k.borrow = this.borrowing;
    this.kernel = k;
  }

  /**
   * `auto`: after 2^16 events (the first time after 2^12: a merge that starts on the JS path
   * should not stay there long when its inputs interleave), the kernel for fine interleaving, the
   * JS path for bursts (hysteresis 6 / 16). The JS builder's output is emitted only when the JS
   * path is left (batches are not cut at decision windows).
   */
  private adapt(): void {
    if (this.windowRows < this.window) return;
    const mean = this.windowRows / Math.max(1, this.windowRuns);
    this.windowRows = 0;
    this.windowRuns = 0;
    this.window = ADAPT_WINDOW;
    if (this.kernel && mean >= 16) {
      this.toJs(false);
    } else if (!this.kernel && mean <= 6) {
      this.collect();
      this.toKernel();
    }
  }

  /**
   * Buffers a batch of input `id`. `release` is called once the merge no longer holds the batch
   * (all its rows emitted or dropped). Returns false when the merge holds more than
   * `maxBufferedBytes`: the caller should hold its producers until `drain` frees space.
   */
  push(id: string, wb: WaveBatch, release?: () => void): boolean {
    const input = this.input(id);
    if (input.ended) throw new DaqError('DAQ_ERR_USAGE', `merge input "${id}" pushed after end()`);
    const now = this.opts.now();
    if (now - this.lastAnyPushMs > this.opts.silenceTimeoutMs) this.resumedMs = now; // a lull ends
    this.lastAnyPushMs = now;
    input.lastPushMs = now;
    input.timedOut = false;
    if (wb.watermarkPs !== undefined && (input.watermarkPs === null || wb.watermarkPs > input.watermarkPs)) input.watermarkPs = wb.watermarkPs;
    const n = wb.batch.numRows;
    if (n === 0) {
      release?.();
      return this.buffered < this.opts.maxBufferedBytes;
    }
    const src = new SourceBatch(recordColumns(wb.batch), wb.samples);
    // On the kernel path the kernel checks the order while it takes the batch in.
    let kb: KernelBatch | undefined;
    if (this.kernel) {
      let got: KernelBatch | CopyInProblem | null = null;
      try {
        got = this.kernel.copyIn(src.cols, wb.samples, src.v.offLo, input.last);
      } catch (e) {
        if (!(e instanceof WebAssembly.RuntimeError) && !(e instanceof RangeError)) throw e;
        this.toJs(true); // the kernel's memory is full
      }
      if (got === 'offsets') {
        // Waveforms outside the batch's samples: the kernel cannot take it; the JS path can.
        if (!this.adaptive) this.badOffset(input);
        this.toJs(true);
      } else if (got !== null && 'order' in got) {
        this.orderError(input, src, got.order);
      } else if (got !== null) {
        kb = got;
      }
    }
    if (!kb) this.checkOrder(input, src, n);
    input.last = rowKey(src.v, n - 1);

    // Late events form a prefix: those below the last emitted key.
    let start = 0;
    if (this.lastEmitted) start = lowerBound(src.v, 0, n, this.lastEmitted, false);
    if (start > 0) {
      input.lateEvents += start;
      if (this.opts.latePolicy === 'flag') {
        if (this.kernel && kb) {
          this.kernel.append(kb, 0, start, RecordFlags.LATE, this.emit, this.opts.output);
        } else {
          this.out.append(src, 0, start, RecordFlags.LATE);
        }
      } else {
        this.losses.push({ stream: id, reason: 'late', tMinPs: src.cols.timestamp[0]!, tMaxPs: src.cols.timestamp[start - 1]!, rows: start });
      }
    }
    if (start === n) {
      release?.();
    } else {
      const bytes = batchBytes(wb);
      const p: Pending = { src, row: start, end: n, bytes, kb: undefined };
      if (release) p.release = release;
      if (kb && this.kernel) p.kb = kb;
      input.queue.push(p);
      input.bufferedBytes += bytes;
      this.buffered += bytes;
    }
    return this.buffered < this.opts.maxBufferedBytes;
  }

  /**
   * Gives back an output batch of this merge that the caller is done with (nothing may read its
   * columns or samples afterwards): its buffers are reused for later output, which saves an
   * allocation and the garbage collection it causes per column per batch. The merge keeps up to
   * 64 MiB of them (about 40 batches of the default limits at 32 samples an event); once batches
   * come back, new output buffers are made a full batch large, so that they can be reused.
   * Optional; batches not given back are collected as usual. Batches from elsewhere are ignored.
   */
  recycle(wb: WaveBatch): void {
    this.pool.putBatch(recordColumns(wb.batch), wb.samples);
  }

  /** The input will send nothing more: it stops bounding the watermark. */
  end(id: string): void {
    this.input(id).ended = true;
  }

  /**
   * Times out inputs that stayed silent while another input was heard for longer than
   * `silenceTimeoutMs` (see "Silence" above), so they stop holding output back. Only push times
   * count: a process-wide stall, during which nobody pushes, times nothing out.
   */
  tick(): void {
    // Newest and second-newest push over all inputs (ended ones too: they were heard then).
    let first = -Infinity;
    let firstAt = -1;
    let second = -Infinity;
    for (let k = 0; k < this.order.length; k++) {
      const t = this.order[k]!.lastPushMs;
      if (t > first) {
        second = first;
        first = t;
        firstAt = k;
      } else if (t > second) {
        second = t;
      }
    }
    for (let k = 0; k < this.order.length; k++) {
      const input = this.order[k]!;
      if (input.ended || input.timedOut) continue;
      const others = k === firstAt ? second : first;
      const silentSince = Math.max(input.lastPushMs, this.resumedMs);
      if (others - silentSince > this.opts.silenceTimeoutMs) {
        input.timedOut = true;
        input.timeouts++;
      }
    }
  }

  /**
   * Emits every buffered event the watermark allows, as output batches: returned, or, with a
   * `sink`, handed to it one by one as soon as each is complete (then [] is returned). A sink that
   * recycles each batch keeps the merge's output memory at about one batch however large the
   * drain (64 inputs of 8192-row batches make eight output batches per drain); it must not call
   * push, drain or finish. If the sink throws, the drain stops there and the error propagates: the
   * batch it was given counts as emitted; batches completed but not yet given are handed on first
   * by the next drain, which goes on from there (nothing lost, nothing twice).
   */
  drain(sink?: (b: WaveBatch) => void, opts: DrainOptions = {}): WaveBatch[] {
    if (this.sink) throw new DaqError('DAQ_ERR_USAGE', 'merge drain called from its own sink');
    if (opts.borrow && !sink) throw new DaqError('DAQ_ERR_USAGE', 'merge drain: `borrow` needs a sink (the batches are valid only while it runs)');
    const bound = this.bound();
    this.sink = sink ?? null;
    this.borrowing = opts.borrow === true;
    if (this.kernel) this.kernel.borrow = this.borrowing;
    try {
      if (sink) this.deliver(sink);
      for (;;) {
        // `auto` on the JS path stops at the end of each decision window, so that the path can
        // change within a large drain.
        const more = this.mergeBelow(bound);
        if (this.adaptive) this.adapt();
        if (!more) break;
      }
      this.collect();
    } finally {
      this.sink = null;
      this.borrowing = false;
      if (this.kernel) this.kernel.borrow = false;
    }
    const out = this.ready;
    this.ready = [];
    return out;
  }

  /** Every input has ended: emits everything buffered (as `drain`). */
  finish(sink?: (b: WaveBatch) => void, opts: DrainOptions = {}): WaveBatch[] {
    for (const input of this.order) input.ended = true;
    return this.drain(sink, opts);
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
            buffered_events: bufferedEvents(i),
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

  private checkOrder(input: Input, src: SourceBatch, n: number): void {
    const v = src.v;
    for (let r = 0; r < n; r++) {
      const bad = r === 0 ? input.last !== null && cmpRowKey(v, 0, input.last) < 0 : cmpRows(v, r, v, r - 1) < 0;
      if (bad) this.orderError(input, src, r);
    }
  }

  /** Row r of src is below the row before it (row 0: below the input's last key). */
  private orderError(input: Input, src: SourceBatch, r: number): never {
    const c = src.cols;
    const prev = r === 0 ? `(${keyTime(input.last!)}, ${input.last!.pid}, ${input.last!.ch}) of the previous batch` : `(${c.timestamp[r - 1]}, ${c.pid[r - 1]}, ${c.channel[r - 1]})`;
    throw new DaqError(
      'DAQ_ERR_MERGE_ORDER',
      `merge input "${input.id}": row ${r} has (timestamp ${c.timestamp[r]}, pid ${c.pid[r]}, channel ${c.channel[r]}) below ${prev}; inputs must be sorted by (timestamp, pid, channel)`,
      { details: { stream: input.id, row: r } },
    );
  }

  /** Smallest bound over live inputs; null = unbounded (no live input). */
  private bound(): NumKey | null {
    let bound: NumKey | null = null;
    for (const input of this.order) {
      if (input.ended || input.timedOut) continue;
      let b: NumKey = input.last ?? MIN_NUM_KEY;
      if (input.watermarkPs !== null) {
        const w = timeKey(input.watermarkPs);
        if (cmpNumKeys(w, b) > 0) b = w;
      }
      if (bound === null || cmpNumKeys(b, bound) < 0) bound = b;
    }
    return bound;
  }

  /**
   * k-way merge of every buffered event with key < bound: a loser tree over the inputs that hold
   * events (one comparison per level per event, keys in typed arrays); when the same input wins
   * twice in a row, its run up to the runner-up's head (and the bound) is found by galloping and
   * emitted as one run, so bursts are copied in bulk and interleaved events cost log2(k).
   */
  private mergeBelow(bound: NumKey | null): boolean {
    if (this.kernel) {
      this.mergeBelowKernel(this.kernel, bound);
      if (this.kernel) return false;
      // The kernel failed part way (its state was synced back): the JS path goes on.
    }
    const slots: Input[] = [];
    for (const input of this.order) if (input.head < input.queue.length) slots.push(input);
    const m = slots.length;
    if (m === 0) return false;
    // `auto`: stop where the path decision window ends (the caller decides, then comes back).
    const stopAt = this.adaptive && !this.kernelFailed ? Math.max(1, this.window - this.windowRows) : Infinity;
    let early = false;
    const tree = new LoserTree(m);
    // Each slot's current batch, so an event costs no queue lookups.
    const cur: Pending[] = [];
    for (let s = 0; s < m; s++) {
      const input = slots[s]!;
      const p = input.queue[input.head]!;
      cur.push(p);
      const v = p.src.v;
      tree.set(s, v.tsHi[2 * p.row + 1]!, v.tsLo[2 * p.row]!, v.pid[p.row]!, v.ch[p.row]!);
    }
    tree.build();
    // The bound as numbers: bT decides unless equal as float64, then the exact words.
    const bT = bound ? bound.hi * 4294967296 + bound.lo : Infinity;
    const bHi = bound ? bound.hi : 0;
    const bLo = bound ? bound.lo : 0;
    const bP = bound ? bound.pid * 65536 + bound.ch + 32768 : 0;
    const t = tree.t;
    const out = this.out;

    let lastSrc: SourceBatch | null = null;
    let lastRow = 0;
    let prev = -1;
    let runs = 0;
    let rows = 0;
    let w = tree.winner();
    try {
      for (;;) {
        if (rows >= stopAt) {
          early = true;
          break;
        }
        const tw = t[w]!;
        if (!(tw < bT)) {
          // Not below the bound (or exhausted: +Infinity), unless equal as float64 and below exactly.
          if (tw !== bT || tw === Infinity) break;
          const h = tree.hi[w]!;
          const l = tree.lo[w]!;
          if (h > bHi || (h === bHi && (l > bLo || (l === bLo && tree.p[w]! >= bP)))) break;
        }
        const p = cur[w]!;
        const src = p.src;
        const v = src.v;
        const row = p.row;
        let end = row + 1;
        if (w === prev && end < p.end) {
          // Won twice in a row: the run goes on while its rows precede the runner-up and the bound.
          let lim = p.end;
          const u = tree.runnerUp();
          if (u >= 0 && t[u] !== Infinity) lim = gallop(v, end, lim, tree.hi[u]!, tree.lo[u]!, tree.p[u]!, w < u);
          if (bound && lim > end) lim = gallop(v, end, lim, bHi, bLo, bP, false);
          end = lim;
        }
        prev = w;
        out.append(src, row, end, 0);
        runs++;
        rows += end - row;
        lastSrc = src;
        lastRow = end - 1;
        p.row = end;
        if (end < p.end) {
          tree.set(w, v.tsHi[2 * end + 1]!, v.tsLo[2 * end]!, v.pid[end]!, v.ch[end]!);
        } else {
          const q = this.consumed(slots[w]!);
          if (q) {
            cur[w] = q;
            const qv = q.src.v;
            const r = q.row;
            tree.set(w, qv.tsHi[2 * r + 1]!, qv.tsLo[2 * r]!, qv.pid[r]!, qv.ch[r]!);
          } else {
            tree.exhaust(w);
          }
        }
        w = tree.replay(w);
        // A full output batch goes out at once (to the drain's sink, which may recycle it).
        if (out.full) this.emitAll(out.take(true));
      }
    } finally {
      // Also when the sink throws: the merge's state stays that of what was merged.
      if (lastSrc) this.lastEmitted = rowKey(lastSrc.v, lastRow);
      this.windowRuns += runs;
      this.windowRows += rows;
    }
    return early;
  }

  /**
   * mergeBelow on the kernel: the same loser tree and runs, over the batches' copies in its
   * memory; when a slot's batch runs out, the kernel returns and the next batch is set here.
   */
  private mergeBelowKernel(k: MergeKernelApi, bound: NumKey | null): void {
    const slots: Input[] = [];
    for (const input of this.order) if (input.head < input.queue.length) slots.push(input);
    const m = slots.length;
    if (m === 0) return;
    const cur: Pending[] = [];
    k.setSlots(m);
    for (let s = 0; s < m; s++) {
      const input = slots[s]!;
      const p = input.queue[input.head]!;
      cur.push(p);
      k.setSlot(s, p.kb!, p.row, p.end);
    }
    k.build();
    k.setBound(bound);
    const id0 = k.nextId;
    const runs0 = k.runs;
    let failed = false;
    try {
      for (;;) {
        let st: number;
        try {
          st = k.run(this.emit, this.opts.output);
        } catch (e) {
          if (!(e instanceof WebAssembly.RuntimeError) && !(e instanceof RangeError)) throw e;
          failed = true; // the sample area could not grow: the JS path takes over from here
          break;
        }
        if (st === KERNEL_SLOT_EMPTY) {
          const s = k.emptySlot;
          cur[s]!.row = cur[s]!.end;
          const q = this.consumed(slots[s]!);
          if (q) {
            cur[s] = q;
            k.setSlot(s, q.kb!, q.row, q.end);
          } else {
            k.exhaust(s);
          }
          k.refilled(s);
        } else {
          break;
        }
      }
    } finally {
      // Also when the sink throws: the inputs resume after the rows the kernel merged.
      for (let s = 0; s < m; s++) {
        const p = cur[s]!;
        if (p.row < p.end) p.row = k.rowOf(s);
      }
      if (k.nextId !== id0) this.lastEmitted = k.lastKey();
      this.windowRuns += (k.runs - runs0) | 0;
      this.windowRows += Number(k.nextId - id0);
    }
    if (failed) this.toJs(true);
  }

  private badOffset(input: Input): never {
    throw new DaqError('DAQ_ERR_BATCH_INVALID', `merge input "${input.id}": an event's wave_offset/event_length lie outside its batch's samples`, { details: { stream: input.id } });
  }

  /** The head batch of `input` is fully emitted: releases it; returns the next one, if any. */
  private consumed(input: Input): Pending | undefined {
    const p = input.queue[input.head]!;
    input.bufferedBytes -= p.bytes;
    this.buffered -= p.bytes;
    input.queue[input.head] = undefined as never;
    input.head++;
    if (input.head === input.queue.length) {
      input.queue.length = 0;
      input.head = 0;
    }
    p.release?.();
    return input.queue[input.head];
  }

  /** Emits what the kernel and the JS builder hold. */
  private collect(): void {
    if (this.kernel && this.kernel.pendingRows > 0) this.emit(this.kernel.take(this.opts.output));
    this.emitAll(this.out.take());
  }
}

/** Events merged between two decisions of `auto`. */
const ADAPT_WINDOW = 65536;
const FIRST_ADAPT_WINDOW = 4096;
/** Most rows an output batch or a chunk may have (the kernel's output area is 76 bytes a row, in 32-bit addresses). */
const KERNEL_ROW_LIMIT = 1 << 24;

function isKernelBatch(x: KernelBatch | CopyInProblem): x is KernelBatch {
  return typeof x === 'object' && 'cols' in x;
}
