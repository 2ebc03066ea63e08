import { readFileSync } from 'node:fs';
import type { WaveBatch } from '../schema/batch.ts';
import { makeRecordsBatch } from '../schema/waveform.ts';
import type { RecordColumns } from '../schema/waveform.ts';
import type { NumKey } from './key-views.ts';

/**
 * The WebAssembly kernel of StreamingMerge (source: wasm/assembly/merge-kernel.ts, AssemblyScript,
 * built by `npm run build:wasm`): a loser tree over the inputs' head keys and the row-by-row gather
 * of the 11 columns and the samples, in the kernel's linear memory. Input batches are copied in
 * once when pushed (one bulk copy per column), output batches copied out once (one per column).
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
  cursor: WebAssembly.Global;
  alloc(size: number): number;
  ingest(st: number, n: number, S: number): number;
  skip(q: number, count: number): number;
  ptrOf(s: number): number;
  free(ptr: number): void;
  setOutput(cap: number, sampleCap: number): number;
  growSamples(cap: number): void;
  outColsPtr(): number;
  outSamplesPtr(): number;
  resetOutput(): void;
  setSlots(m: number): void;
  rowOf(s: number): number;
  setSlot(s: number, q: number, row: number, end: number): void;
  exhaust(s: number): void;
  refilled(s: number): void;
  build(): void;
  setBound(ts: bigint, p: bigint): void;
  setNextId(id: bigint): void;
  getNextId(): bigint;
  append(q: number, count: number, f: number): number;
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

/** An input batch copied into the kernel's memory, as records (fields, then samples). */
export interface KernelBatch {
  /** The allocation. */
  ptr: number;
  /** Address of the next record to merge. */
  q: number;
}

const U64_MAX_AS_I64 = -1n;
const I64_MAX = (1n << 63n) - 1n;

/** One merge's kernel instance (its own memory). */
export class MergeKernel {
  private readonly x: Exports;
  private outCap: number;
  private sampleCap: number;
  private nextSample = 0n;
  private stage = 0;
  private stageBytes = 0;

  constructor(mod: WebAssembly.Module, maxRows: number) {
    this.x = new WebAssembly.Instance(mod, {}).exports as unknown as Exports;
    this.outCap = maxRows;
    this.sampleCap = Math.min(maxRows * 64, 1 << 24);
    this.x.setOutput(maxRows, this.sampleCap);
    this.x.setNextId(0n);
  }

  /**
   * Copies a batch in: one copy per column and one for the samples to a staging area, which the
   * kernel turns into records. Null when an event's samples lie outside the batch's.
   */
  copyIn(c: RecordColumns, samples: Uint16Array): KernelBatch | null {
    const n = c.timestamp.length;
    const S = samples.length;
    const sOff = (n * 52 + 7) & ~7;
    const bytes = sOff + S * 2;
    if (bytes > this.stageBytes) {
      if (this.stage) this.x.free(this.stage);
      this.stageBytes = Math.max(bytes, this.stageBytes * 2);
      this.stage = this.x.alloc(this.stageBytes);
    }
    const ptr = this.stage;
    const buf = this.x.memory.buffer;
    new BigInt64Array(buf, ptr, n).set(c.timestamp);
    new BigInt64Array(buf, ptr + 8 * n, n).set(c.time);
    new BigInt64Array(buf, ptr + 16 * n, n).set(c.wave_offset);
    new Float64Array(buf, ptr + 24 * n, n).set(c.baseline);
    new Int32Array(buf, ptr + 32 * n, n).set(c.pid);
    new Int32Array(buf, ptr + 36 * n, n).set(c.dt);
    new Uint32Array(buf, ptr + 40 * n, n).set(c.flags);
    new Int32Array(buf, ptr + 44 * n, n).set(c.event_length);
    new Int16Array(buf, ptr + 48 * n, n).set(c.channel);
    new Int16Array(buf, ptr + 50 * n, n).set(c.trigger_type);
    new Uint16Array(buf, ptr + sOff, S).set(samples);
    const b = this.x.ingest(ptr, n, S);
    return b === 0 ? null : { ptr: b, q: b };
  }

  release(b: KernelBatch): void {
    this.x.free(b.ptr);
  }

  setSlots(m: number): void {
    this.x.setSlots(m);
  }

  setSlot(s: number, b: KernelBatch, row: number, end: number): void {
    this.x.setSlot(s, b.q, row, end);
  }

  ptrOf(s: number): number {
    return this.x.ptrOf(s);
  }

  /** Skips `count` records of b (dropped late events). */
  skip(b: KernelBatch, count: number): void {
    b.q = this.x.skip(b.q, count);
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
    if (!bound) {
      this.x.setBound(I64_MAX, U64_MAX_AS_I64);
      return;
    }
    const ts = (BigInt(bound.hi) << 32n) | BigInt(bound.lo >>> 0);
    const p = (BigInt((bound.pid ^ 0x80000000) >>> 0) << 32n) | (BigInt(bound.ch + 32768) << 16n);
    this.x.setBound(ts, BigInt.asIntN(64, p));
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

  /** The next `count` records of b with flags ORed in (late events), in output order. */
  append(b: KernelBatch, count: number, flags: number, ready: WaveBatch[], stream: string): void {
    while (count > 0) {
      const st = this.x.append(b.q, count, flags);
      count -= this.x.emitted.value as number;
      b.q = this.x.cursor.value as number;
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

  /** Runs merged so far (turns of the merge loop). */
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
