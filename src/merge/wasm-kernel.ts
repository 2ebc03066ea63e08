import { readFileSync } from 'node:fs';
import type { WaveBatch } from '../schema/batch.ts';
import { makeRecordsBatch } from '../schema/waveform.ts';
import type { RecordColumns } from '../schema/waveform.ts';
import type { NumKey } from './key-views.ts';

/**
 * The WebAssembly kernel of StreamingMerge (source: wasm/assembly/merge-kernel.ts, AssemblyScript,
 * built by `npm run build:wasm`): a loser tree over the inputs' head keys that writes the output
 * order, then a gather of the 11 columns and the samples in that order, in the kernel's linear
 * memory. Input batches are copied in once when pushed (one bulk copy per column; the kernel checks
 * their order and offsets while it derives their keys), output batches copied out once (one per
 * column).
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
  alloc(size: number): number;
  free(ptr: number): void;
  batchBytes(n: number, S: number): number;
  samplesOffset(n: number): number;
  prepare(blk: number, n: number, S: number, hasPrev: number, pTs: bigint, pP: bigint): number;
  setOutput(cap: number, sampleCap: number): number;
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

/** An input batch copied into the kernel's memory (columns, its keys, samples). */
export interface KernelBatch {
  /** The allocation. */
  ptr: number;
  /** Its size (counted against the merge's maxBufferedBytes, beside the JS batch). */
  bytes: number;
}

/** What the kernel found wrong with a batch it was given (the batch is then not kept). */
export type CopyInProblem = { order: number } | 'offsets';

const U64_MAX_AS_I64 = -1n;
const I64_MAX = (1n << 63n) - 1n;

/** A key's timestamp as the kernel's i64. */
function keyTs(k: NumKey): bigint {
  return (BigInt(k.hi) << 32n) | BigInt(k.lo >>> 0);
}

/** A key's (pid, channel) as the kernel's k2 without the slot (an i64 carrying the u64's bits). */
function keyP(k: NumKey): bigint {
  return BigInt.asIntN(64, (BigInt((k.pid ^ 0x80000000) >>> 0) << 32n) | (BigInt(k.ch + 32768) << 16n));
}

/** One merge's kernel instance (its own memory). */
export class MergeKernel {
  private readonly x: Exports;
  private outCap: number;
  private sampleCap: number;
  private nextSample = 0n;

  constructor(mod: WebAssembly.Module, maxRows: number) {
    this.x = new WebAssembly.Instance(mod, {}).exports as unknown as Exports;
    this.outCap = maxRows;
    this.sampleCap = Math.min(maxRows * 64, 1 << 24);
    this.x.setOutput(maxRows, this.sampleCap);
    this.x.setNextId(0n);
  }

  /**
   * Copies a batch in (one copy per column and one for the samples) and has the kernel check it:
   * rows in key order, the first one not below `prev` (the input's last key), every waveform
   * inside the batch's samples. Returns the batch, or what is wrong with it (then not kept).
   */
  copyIn(c: RecordColumns, samples: Uint16Array, prev: NumKey | null): KernelBatch | CopyInProblem {
    const n = c.timestamp.length;
    const S = samples.length;
    const bytes = this.x.batchBytes(n, S);
    const ptr = this.x.alloc(bytes);
    const buf = this.x.memory.buffer;
    const h = ptr + 16;
    new BigInt64Array(buf, h, n).set(c.timestamp);
    new BigInt64Array(buf, h + 8 * n, n).set(c.time);
    new BigInt64Array(buf, h + 16 * n, n).set(c.wave_offset);
    new Float64Array(buf, h + 24 * n, n).set(c.baseline);
    new Int32Array(buf, h + 32 * n, n).set(c.pid);
    new Int32Array(buf, h + 36 * n, n).set(c.dt);
    new Uint32Array(buf, h + 40 * n, n).set(c.flags);
    new Int32Array(buf, h + 44 * n, n).set(c.event_length);
    new Int16Array(buf, h + 48 * n, n).set(c.channel);
    new Int16Array(buf, h + 50 * n, n).set(c.trigger_type);
    new Uint16Array(buf, ptr + this.x.samplesOffset(n), S).set(samples);
    const st = prev ? this.x.prepare(ptr, n, S, 1, keyTs(prev), keyP(prev)) : this.x.prepare(ptr, n, S, 0, 0n, 0n);
    if (st === 0) return { ptr, bytes };
    this.x.free(ptr);
    return st === 1 ? { order: this.x.badRow.value as number } : 'offsets';
  }

  release(b: KernelBatch): void {
    this.x.free(b.ptr);
  }

  setSlots(m: number): void {
    this.x.setSlots(m);
  }

  setSlot(s: number, b: KernelBatch, row: number, end: number): void {
    this.x.setSlot(s, b.ptr, row, end);
  }

  exhaust(s: number): void {
    this.x.exhaust(s);
  }

  refilled(s: number): void {
    this.x.refilled(s);
  }

  build(): void {
    this.x.build();
  }

  rowOf(s: number): number {
    return this.x.rowOf(s);
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

  /** Runs the merge; OUT_FULL and NEED_SAMPLES are handled here (full batches go to `ready`). */
  run(ready: WaveBatch[], stream: string): number {
    for (;;) {
      const st = this.x.run();
      if (st === KERNEL_OUT_FULL) ready.push(this.take(stream));
      else if (st === KERNEL_NEED_SAMPLES) this.grow();
      else return st;
    }
  }

  /** Rows [row, row + count) of b with flags ORed in (late events), in arrival order. */
  append(b: KernelBatch, row: number, count: number, flags: number, ready: WaveBatch[], stream: string): void {
    while (count > 0) {
      const st = this.x.append(b.ptr, row, count, flags);
      const e = this.x.emitted.value as number;
      count -= e;
      row += e;
      if (st === KERNEL_OUT_FULL) ready.push(this.take(stream));
      else if (st === KERNEL_NEED_SAMPLES) this.grow();
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

  /** The output rows so far as one batch (copied out: one copy per column). */
  take(stream: string): WaveBatch {
    const n = this.x.outN.value as number;
    const S = this.x.outS.value as number;
    const buf = this.x.memory.buffer;
    const p = this.x.outColsPtr();
    const R = this.outCap;
    // ArrayBuffer.prototype.slice: a fresh buffer per column, copied once, not zeroed first.
    const cut = (at: number, size: number) => buf.slice(at, at + size * n);
    const c: RecordColumns = {
      timestamp: new BigInt64Array(cut(p, 8)),
      pid: new Int32Array(cut(p + 40 * R, 4)),
      channel: new Int16Array(cut(p + 56 * R, 2)),
      baseline: new Float64Array(cut(p + 24 * R, 8)),
      event_id: new BigInt64Array(cut(p + 32 * R, 8)),
      dt: new Int32Array(cut(p + 44 * R, 4)),
      trigger_type: new Int16Array(cut(p + 58 * R, 2)),
      flags: new Uint32Array(cut(p + 48 * R, 4)),
      wave_offset: new BigInt64Array(cut(p + 16 * R, 8)),
      event_length: new Int32Array(cut(p + 52 * R, 4)),
      time: new BigInt64Array(cut(p + 8 * R, 8)),
    };
    const sp = this.x.outSamplesPtr();
    const samples = new Uint16Array(buf.slice(sp, sp + 2 * S));
    this.x.resetOutput();
    const globalSampleOffset = this.nextSample;
    this.nextSample += BigInt(S);
    return { kind: 'waveform', stream, batch: makeRecordsBatch(c), samples, globalSampleOffset };
  }
}
