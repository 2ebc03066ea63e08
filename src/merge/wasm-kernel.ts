import { readFileSync } from 'node:fs';
import type { WaveBatch } from '../schema/batch.ts';
import { makeRecordsBatch } from '../schema/waveform.ts';
import type { RecordColumns } from '../schema/waveform.ts';
import type { NumKey } from './key-views.ts';
import type { OutputPool } from './output-pool.ts';

/**
 * The WebAssembly kernel of StreamingMerge (source: wasm/assembly/merge-kernel.ts, AssemblyScript,
 * built by `npm run build:wasm`): a loser tree over the inputs' head keys that writes the output
 * order, then a gather of the 11 columns and the samples in that order, in the kernel's linear
 * memory. A pushed batch is checked whole (order and offsets, on a scratch copy of five columns),
 * then copied in a chunk at a time (KERNEL_CHUNK_ROWS rows of one input, one bulk copy per column
 * and one for their samples) as the merge reaches it: the chunks of every input stay in cache,
 * where whole batches of 64 inputs would not. Output batches are copied out once (one copy per
 * column) into buffers from the merge's OutputPool.
 */

export const KERNEL_DONE = 0;
export const KERNEL_SLOT_EMPTY = 1;
export const KERNEL_OUT_FULL = 2;
export const KERNEL_NEED_SAMPLES = 3;

/** Most inputs the kernel merges (the slot index is 16 bits of its keys). */
export const KERNEL_MAX_SLOTS = 4096;

interface Exports {
  memory: WebAssembly.Memory;
  outN: WebAssembly.Global;
  outS: WebAssembly.Global;
  lastTs: WebAssembly.Global;
  lastPid: WebAssembly.Global;
  lastCh: WebAssembly.Global;
  emitted: WebAssembly.Global;
  emptySlot: WebAssembly.Global;
  needSamples: WebAssembly.Global;
  runs: WebAssembly.Global;
  badRow: WebAssembly.Global;
  sequential: WebAssembly.Global;
  alloc(size: number): number;
  free(ptr: number): void;
  batchBytes(n: number, S: number): number;
  samplesOffset(n: number): number;
  prepare(blk: number, n: number, S: number, hasPrev: number, pTs: bigint, pP: bigint): number;
  setBlock(blk: number, n: number, S: number, base: number): void;
  setOutput(cap: number, sampleCap: number, budget: number): number;
  growSamples(cap: number): void;
  outColsPtr(): number;
  outSamplesPtr(): number;
  resetOutput(): void;
  setSlots(m: number): void;
  rowOf(s: number): number;
  setSlot(s: number, blk: number, row: number, end: number): void;
  exhaust(s: number): void;
  refilled(s: number): void;
  build(): void;
  setBound(ts: bigint, p: bigint): void;
  setNextId(id: bigint): void;
  getNextId(): bigint;
  append(blk: number, row: number, count: number, f: number): number;
  run(): number;
}

let compiled: WebAssembly.Module | null | undefined;

/** The compiled kernel, or null when WebAssembly (or the .wasm file) is unavailable. */
export function kernelModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(readFileSync(new URL('./wasm/merge-kernel.wasm', import.meta.url)));
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

/** An input batch a kernel checked (order, offsets): what StreamingMerge holds and hands back to the kernel. */
export interface KernelBatch {
  cols: RecordColumns;
  samples: Uint16Array;
}

/**
 * A batch the WebAssembly kernel checked. Its rows are copied into the kernel's memory a chunk at
 * a time while they are merged, so the kernel's working set stays in cache.
 */
export interface WasmKernelBatch extends KernelBatch {
  /** Events' samples lie in row order without overlap: the samples of rows [a, b) are one range. */
  sequential: boolean;
  /**
   * wave_offset as 32-bit words (the SourceBatch's offLo): row r's offset is word 2r (checked to
   * lie within the samples, so below 2^32), read without making a BigInt.
   */
  offW: Uint32Array;
}

/** A block's header, and slack after its samples (merge-kernel.ts: H, SLACK). */
const BLOCK_HEADER = 16;
const BLOCK_SLACK = 128;

/** Offset of the samples in a kernel block of n rows (merge-kernel.ts: samplesOffset; a test checks they agree). */
export function blockSamplesOffset(n: number): number {
  return BLOCK_HEADER + ((n * 52 + 7) & ~7);
}

/**
 * Rows per chunk copied in for a slot, unless set (kernelChunkRows): CHUNK_ROWS_TOTAL shared out
 * among the inputs, from KERNEL_CHUNK_ROWS to MAX_CHUNK_ROWS (fewer when their samples exceed the
 * chunk's sample budget, chunkSamples). At 64 inputs, 256 rows of mean length 32 keep every
 * input's chunk (about 2 MB in all) in cache; with fewer inputs, longer chunks cost fewer copies
 * (the merge bench's BENCH_CHUNK_ROWS fixes the rows, to compare).
 */
export const KERNEL_CHUNK_ROWS = 256;
export const MAX_CHUNK_ROWS = 2048;
export const CHUNK_ROWS_TOTAL = 16384;

/** Rows per chunk when m inputs are merged (kernelChunkRows not set). */
export function chunkRowsFor(m: number): number {
  return Math.max(KERNEL_CHUNK_ROWS, Math.min(MAX_CHUNK_ROWS, Math.floor(CHUNK_ROWS_TOTAL / Math.max(1, m))));
}
/** Most samples per chunk (a chunk holds at least one row). */
export const CHUNK_SAMPLES = 65536;
/**
 * Samples of all the slots' chunks together: past 16 inputs a chunk's budget is this shared out
 * (at least MIN_CHUNK_SAMPLES), so long events do not push the inputs' chunks out of cache (at 64
 * inputs and 256 samples an event, 16 Ki samples a chunk merged faster than 64 Ki; at 8
 * inputs 64 Ki stays faster).
 */
export const CHUNK_SAMPLES_TOTAL = 1 << 20;
export const MIN_CHUNK_SAMPLES = 4096;

/** The sample budget of each slot's chunk when m inputs are merged. */
export function chunkSamplesFor(m: number): number {
  return Math.max(MIN_CHUNK_SAMPLES, Math.min(CHUNK_SAMPLES, Math.floor(CHUNK_SAMPLES_TOTAL / Math.max(1, m))));
}

/** What the kernel found wrong with a batch it was given (the batch is then not kept). */
export type CopyInProblem = { order: number } | 'offsets';

const U64_MAX_AS_I64 = -1n;
const I64_MAX = (1n << 63n) - 1n;

/** A key's timestamp as the kernel's i64. */
export function keyTs(k: NumKey): bigint {
  return (BigInt(k.hi) << 32n) | BigInt(k.lo >>> 0);
}

/** A key's (pid, channel) as the kernel's k2 without the slot (an i64 carrying the u64's bits). */
export function keyP(k: NumKey): bigint {
  return BigInt.asIntN(64, (BigInt((k.pid ^ 0x80000000) >>> 0) << 32n) | (BigInt(k.ch + 32768) << 16n));
}

/**
 * What StreamingMerge asks of a kernel (MergeKernel here, NativeMergeKernel in native-kernel.ts):
 * check a batch (copyIn), merge steps over slots up to a bound (setSlots, setSlot, build, setBound,
 * run; SLOT_EMPTY: setSlot or exhaust, then refilled), late rows appended as they are (append),
 * output batches taken (take; views when `borrow`).
 */
export interface MergeKernelApi<B extends KernelBatch = KernelBatch> {
  copyIn(c: RecordColumns, samples: Uint16Array, offW: Uint32Array, prev: NumKey | null): B | CopyInProblem;
  setSlots(m: number): void;
  setSlot(s: number, b: B, row: number, end: number): void;
  exhaust(s: number): void;
  refilled(s: number): void;
  build(): void;
  rowOf(s: number): number;
  readonly emptySlot: number;
  setBound(bound: NumKey | null): void;
  readonly nextId: bigint;
  lastKey(): NumKey;
  run(emit: (b: WaveBatch) => void, stream: string): number;
  append(b: B, row: number, count: number, flags: number, emit: (b: WaveBatch) => void, stream: string): void;
  readonly runs: number;
  continueFrom(nextEventId: number, nextSample: bigint): void;
  readonly nextSampleOffset: bigint;
  readonly pendingRows: number;
  borrow: boolean;
  take(stream: string): WaveBatch;
}

/** One merge's kernel instance (its own memory). */
export class MergeKernel implements MergeKernelApi<WasmKernelBatch> {
  private readonly x: Exports;
  private outCap: number;
  private sampleCap: number;
  private nextSample = 0n;

  /**
   * @param maxRows most rows per output batch
   * @param maxSamples an output batch ends before the event that would take its samples past this
   *   (an event longer than that gets a batch of its own)
   * @param pool where output buffers come from (the merge's: given-back batches are reused)
   * @param fixedChunkRows rows per chunk copied in; by default chunkRowsFor the slot count
   */
  constructor(mod: WebAssembly.Module, maxRows: number, maxSamples: number, private readonly pool: OutputPool, private readonly fixedChunkRows?: number) {
    this.x = new WebAssembly.Instance(mod, {}).exports as unknown as Exports;
    this.outCap = maxRows;
    // The sample area grows when an event needs it (NEED_SAMPLES): start no larger than a batch needs at 64 samples an event.
    this.sampleCap = Math.min(maxSamples, maxRows * 64, 1 << 24);
    this.x.setOutput(maxRows, this.sampleCap, maxSamples);
    this.x.setNextId(0n);
    this.chunkRows = fixedChunkRows ?? KERNEL_CHUNK_ROWS;
  }

  // Per slot: its batch, the chunk of it in the kernel's memory (rows [base, chunkEnd), at blk),
  // and where its rows to merge end.
  private slotBatch: (WasmKernelBatch | null)[] = [];
  private slotBase: number[] = [];
  private slotChunkEnd: number[] = [];
  private slotEnd: number[] = [];
  private slotBlk: number[] = [];

  /**
   * Has the kernel check a batch: rows in key order, the first one not below `prev` (the input's
   * last key), every waveform inside the batch's samples (the key, length and offset columns are
   * copied to a scratch area for this). offW: wave_offset as 32-bit words. Returns the batch, or
   * what is wrong with it.
   */
  copyIn(c: RecordColumns, samples: Uint16Array, offW: Uint32Array, prev: NumKey | null): WasmKernelBatch | CopyInProblem {
    const n = c.timestamp.length;
    const S = samples.length;
    // The kernel takes sample counts and offsets as 32-bit numbers (offW, i32 lengths): a larger
    // sample array is left to the JS path.
    if (S > 0x7fffffff) return 'offsets';
    const ptr = this.x.alloc(this.x.batchBytes(n, 0));
    try {
      const buf = this.x.memory.buffer;
      const h = ptr + 16;
      new BigInt64Array(buf, h, n).set(c.timestamp);
      new BigInt64Array(buf, h + 16 * n, n).set(c.wave_offset);
      new Int32Array(buf, h + 32 * n, n).set(c.pid);
      new Int32Array(buf, h + 44 * n, n).set(c.event_length);
      new Int16Array(buf, h + 48 * n, n).set(c.channel);
      const st = prev ? this.x.prepare(ptr, n, S, 1, keyTs(prev), keyP(prev)) : this.x.prepare(ptr, n, S, 0, 0n, 0n);
      if (st === 0) return { cols: c, samples, sequential: this.x.sequential.value === 1, offW };
      return st === 1 ? { order: this.x.badRow.value as number } : 'offsets';
    } finally {
      this.x.free(ptr);
    }
  }

  /** End of the chunk of b that starts at row a (rows before `end`). */
  private chunkEnd(b: WasmKernelBatch, a: number, end: number): number {
    if (!b.sequential) return end; // the chunk needs all the batch's samples: take every row at once
    let e = Math.min(end, a + this.chunkRows);
    const off = b.offW;
    const len = b.cols.event_length;
    const lo = off[2 * a]!;
    // Most rows (at least one) whose samples fit the budget: binary search on the sample ends.
    const budget = this.chunkSamples;
    if (off[2 * (e - 1)]! + len[e - 1]! - lo > budget) {
      let ok = a + 1;
      let bad = e;
      while (bad - ok > 1) {
        const mid = (ok + bad) >>> 1;
        if (off[2 * (mid - 1)]! + len[mid - 1]! - lo > budget) bad = mid;
        else ok = mid;
      }
      e = ok;
    }
    return e;
  }

  /** Copies rows [a, e) of b (columns and their samples) into a new block of the kernel's memory. */
  private copyRows(b: WasmKernelBatch, a: number, e: number): number {
    const c = b.cols;
    const n = e - a;
    let sLo = 0;
    let sHi = b.samples.length;
    if (b.sequential) {
      sLo = b.offW[2 * a]!;
      sHi = b.offW[2 * (e - 1)]! + c.event_length[e - 1]!;
    }
    const S = sHi - sLo;
    const samplesAt = blockSamplesOffset(n);
    const ptr = this.x.alloc(samplesAt + S * 2 + BLOCK_SLACK);
    // One byte copy per column (the kernel's layout order, written out: each access site sees
    // one array type) and one for the samples.
    const mem = this.bytes();
    const h = ptr + 16;
    mem.set(new Uint8Array(c.timestamp.buffer, c.timestamp.byteOffset + a * 8, n * 8), h);
    mem.set(new Uint8Array(c.time.buffer, c.time.byteOffset + a * 8, n * 8), h + 8 * n);
    mem.set(new Uint8Array(c.wave_offset.buffer, c.wave_offset.byteOffset + a * 8, n * 8), h + 16 * n);
    mem.set(new Uint8Array(c.baseline.buffer, c.baseline.byteOffset + a * 8, n * 8), h + 24 * n);
    mem.set(new Uint8Array(c.pid.buffer, c.pid.byteOffset + a * 4, n * 4), h + 32 * n);
    mem.set(new Uint8Array(c.dt.buffer, c.dt.byteOffset + a * 4, n * 4), h + 36 * n);
    mem.set(new Uint8Array(c.flags.buffer, c.flags.byteOffset + a * 4, n * 4), h + 40 * n);
    mem.set(new Uint8Array(c.event_length.buffer, c.event_length.byteOffset + a * 4, n * 4), h + 44 * n);
    mem.set(new Uint8Array(c.channel.buffer, c.channel.byteOffset + a * 2, n * 2), h + 48 * n);
    mem.set(new Uint8Array(c.trigger_type.buffer, c.trigger_type.byteOffset + a * 2, n * 2), h + 50 * n);
    const sm = b.samples;
    mem.set(new Uint8Array(sm.buffer, sm.byteOffset + sLo * 2, S * 2), ptr + samplesAt);
    this.x.setBlock(ptr, n, S, sLo);
    return ptr;
  }

  private mem8: Uint8Array | null = null;

  /** The kernel's memory as bytes (a new view once it has grown). */
  private bytes(): Uint8Array {
    const buf = this.x.memory.buffer;
    if (this.mem8 === null || this.mem8.buffer !== buf) this.mem8 = new Uint8Array(buf);
    return this.mem8;
  }

  /** Slot s merges from row `row` of its batch: copies the next chunk in. */
  private loadChunk(s: number, row: number): void {
    const b = this.slotBatch[s]!;
    const e = this.chunkEnd(b, row, this.slotEnd[s]!);
    this.freeSlotBlock(s);
    const blk = this.copyRows(b, row, e);
    this.slotBlk[s] = blk;
    this.slotBase[s] = row;
    this.slotChunkEnd[s] = e;
    this.x.setSlot(s, blk, 0, e - row);
  }

  private freeSlotBlock(s: number): void {
    const blk = this.slotBlk[s]!;
    if (blk) this.x.free(blk);
    this.slotBlk[s] = 0;
  }

  /** Sample budget of a slot's chunk (chunkSamplesFor the slot count). */
  chunkSamples = CHUNK_SAMPLES;
  /** Rows per chunk (fixedChunkRows, or chunkRowsFor the slot count). */
  chunkRows = KERNEL_CHUNK_ROWS;

  /**
   * Chunks of the last merge step, by batch: the next step's setSlot takes its slot's chunk from
   * here when it covers the row it resumes from (a step ends at the watermark, part way through
   * every input's chunk; without this, each step would copy those rows in again, which with small
   * batches is a large part of the step).
   */
  private kept = new Map<WasmKernelBatch, { blk: number; base: number; end: number }>();

  /** A new merge step over m slots (setSlot each, then build). */
  setSlots(m: number): void {
    this.chunkSamples = chunkSamplesFor(m);
    this.chunkRows = this.fixedChunkRows ?? chunkRowsFor(m);
    for (const k of this.kept.values()) this.x.free(k.blk); // not taken up by the step that just ended
    this.kept.clear();
    for (let s = 0; s < this.slotBlk.length; s++) {
      const b = this.slotBatch[s];
      const blk = this.slotBlk[s]!;
      if (b && blk) this.kept.set(b, { blk, base: this.slotBase[s]!, end: this.slotChunkEnd[s]! });
      else if (blk) this.x.free(blk);
    }
    this.slotBatch = new Array<WasmKernelBatch | null>(m).fill(null);
    this.slotBase = new Array<number>(m).fill(0);
    this.slotChunkEnd = new Array<number>(m).fill(0);
    this.slotEnd = new Array<number>(m).fill(0);
    this.slotBlk = new Array<number>(m).fill(0);
    this.x.setSlots(m);
  }

  /** Slot s merges rows [row, end) of b. */
  setSlot(s: number, b: WasmKernelBatch, row: number, end: number): void {
    this.slotBatch[s] = b;
    this.slotEnd[s] = end;
    const k = this.kept.get(b);
    if (k && k.base <= row && row < k.end) {
      this.kept.delete(b);
      this.freeSlotBlock(s);
      this.slotBlk[s] = k.blk;
      this.slotBase[s] = k.base;
      this.slotChunkEnd[s] = k.end;
      this.x.setSlot(s, k.blk, row - k.base, k.end - k.base);
    } else {
      this.loadChunk(s, row);
    }
  }

  exhaust(s: number): void {
    this.freeSlotBlock(s);
    this.slotBatch[s] = null;
    this.x.exhaust(s);
  }

  refilled(s: number): void {
    this.x.refilled(s);
  }

  build(): void {
    this.x.build();
  }

  /** Slot s's next row in its batch. */
  rowOf(s: number): number {
    return this.slotBase[s]! + this.x.rowOf(s);
  }

  get emptySlot(): number {
    return this.x.emptySlot.value as number;
  }

  setBound(bound: NumKey | null): void {
    if (!bound) this.x.setBound(I64_MAX, U64_MAX_AS_I64);
    else this.x.setBound(keyTs(bound), keyP(bound));
  }

  get nextId(): bigint {
    return this.x.getNextId();
  }

  lastKey(): NumKey {
    const ts = BigInt.asIntN(64, this.x.lastTs.value as bigint);
    return { hi: Number(ts >> 32n), lo: Number(BigInt.asUintN(32, ts)), pid: this.x.lastPid.value as number, ch: this.x.lastCh.value as number };
  }

  /** Runs the merge; OUT_FULL and NEED_SAMPLES are handled here (full batches go to `emit`). */
  run(emit: (b: WaveBatch) => void, stream: string): number {
    for (;;) {
      const st = this.x.run();
      if (st === KERNEL_OUT_FULL) emit(this.take(stream));
      else if (st === KERNEL_NEED_SAMPLES) this.grow();
      else if (st !== KERNEL_SLOT_EMPTY) return st;
      else {
        const s = this.emptySlot;
        if (this.slotChunkEnd[s]! >= this.slotEnd[s]!) return st;
        // The chunk is merged (and gathered), not the batch: the next chunk.
        this.loadChunk(s, this.slotChunkEnd[s]!);
        this.x.refilled(s);
      }
    }
  }

  /** Rows [row, row + count) of b with flags ORed in (late events), in arrival order. */
  append(b: WasmKernelBatch, row: number, count: number, flags: number, emit: (b: WaveBatch) => void, stream: string): void {
    const end = row + count;
    while (row < end) {
      const e = this.chunkEnd(b, row, end);
      const blk = this.copyRows(b, row, e);
      try {
        let r = 0;
        while (r < e - row) {
          const st = this.x.append(blk, r, e - row - r, flags);
          r += this.x.emitted.value as number;
          if (st === KERNEL_OUT_FULL) emit(this.take(stream));
          else if (st === KERNEL_NEED_SAMPLES) this.grow();
        }
      } finally {
        this.x.free(blk);
      }
      row = e;
    }
  }

  private grow(): void {
    const need = this.x.needSamples.value as number;
    let cap = this.sampleCap * 2;
    while (cap < need) cap *= 2;
    this.x.growSamples(cap);
    this.sampleCap = cap;
  }

  /** Runs merged so far (changes of the winning input). */
  get runs(): number {
    return this.x.runs.value as number;
  }

  /** Continues event ids and wave pool positions (from the JS path). */
  continueFrom(nextEventId: number, nextSample: bigint): void {
    this.x.setNextId(BigInt(nextEventId));
    this.nextSample = nextSample;
  }

  get nextSampleOffset(): bigint {
    return this.nextSample;
  }

  get pendingRows(): number {
    return this.x.outN.value as number;
  }

  /**
   * take() hands out views of the output area instead of copies (StreamingMerge sets this while a
   * drain's sink borrows): such a batch is valid only until the kernel runs again.
   */
  borrow = false;

  /**
   * The output rows so far as one batch: copied out (one copy per column, into buffers from the
   * pool), or, when `borrow` is set, views of the kernel's output area.
   */
  take(stream: string): WaveBatch {
    const n = this.x.outN.value as number;
    const S = this.x.outS.value as number;
    const out = outputBatch(stream, outputViews(this.x.memory.buffer, this.outCap, n, this.x.outColsPtr()), new Uint16Array(this.x.memory.buffer, this.x.outSamplesPtr(), S), this.borrow, this.pool, this.outCap, this.nextSample);
    this.x.resetOutput();
    this.nextSample += BigInt(S);
    return out;
  }
}

/**
 * An output batch of a kernel's output area (v: its columns' views, sv: its samples'): the views
 * themselves when the consumer borrows, else copies in buffers from the pool (new column buffers
 * hold a full batch of maxRows).
 */
export function outputBatch(stream: string, v: RecordColumns, sv: Uint16Array, borrow: boolean, pool: OutputPool, maxRows: number, globalSampleOffset: bigint): WaveBatch {
  let c = v;
  let samples = sv;
  if (!borrow) {
    c = pool.columns(v.timestamp.length, maxRows);
    copyColumns(c, v);
    samples = pool.samples(sv.length);
    samples.set(sv);
  }
  return { kind: 'waveform', stream, batch: makeRecordsBatch(c), samples, globalSampleOffset };
}

/** The first n rows of an output area of R rows at byte p of buf (the kernels' layout: merge-kernel.ts), column by column (views, in field order). */
export function outputViews(buf: ArrayBuffer, R: number, n: number, p = 0): RecordColumns {
  return {
    timestamp: new BigInt64Array(buf, p, n),
    pid: new Int32Array(buf, p + 40 * R, n),
    channel: new Int16Array(buf, p + 56 * R, n),
    baseline: new Float64Array(buf, p + 24 * R, n),
    event_id: new BigInt64Array(buf, p + 32 * R, n),
    dt: new Int32Array(buf, p + 44 * R, n),
    trigger_type: new Int16Array(buf, p + 58 * R, n),
    flags: new Uint32Array(buf, p + 48 * R, n),
    wave_offset: new BigInt64Array(buf, p + 16 * R, n),
    event_length: new Int32Array(buf, p + 52 * R, n),
    time: new BigInt64Array(buf, p + 8 * R, n),
  };
}

/** Copies every column of src into dst (same row count). */
export function copyColumns(dst: RecordColumns, src: RecordColumns): void {
  dst.timestamp.set(src.timestamp);
  dst.pid.set(src.pid);
  dst.channel.set(src.channel);
  dst.baseline.set(src.baseline);
  dst.event_id.set(src.event_id);
  dst.dt.set(src.dt);
  dst.trigger_type.set(src.trigger_type);
  dst.flags.set(src.flags);
  dst.wave_offset.set(src.wave_offset);
  dst.event_length.set(src.event_length);
  dst.time.set(src.time);
}
