import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { DaqError } from '../errors.ts';
import type { WaveBatch } from '../schema/batch.ts';
import { makeRecordsBatch } from '../schema/waveform.ts';
import type { RecordColumns } from '../schema/waveform.ts';
import type { NumKey } from './key-views.ts';
import { AREA, SAMPLES } from './output-pool.ts';
import type { OutputPool } from './output-pool.ts';
import { copyColumns, KERNEL_NEED_SAMPLES, KERNEL_OUT_FULL, keyP, keyTs, outputBatch, outputViews } from './wasm-kernel.ts';
import type { CopyInProblem, KernelBatch, MergeKernelApi } from './wasm-kernel.ts';

/**
 * The native kernel of StreamingMerge (source: native/merge-kernel.c, a Node-API addon that
 * `npm ci` builds into build/merge-kernel.node when a C compiler is there; `npm run build:native`
 * builds it again). The same merge as the WebAssembly kernel, reading the inputs' columns where
 * they lie, with prefetch: about 1.6x the WebAssembly kernel's records/s at 64 inputs (merge bench,
 * README), and full output batches leave in its output area without a copy (take).
 */

/** The addon's functions (merge-kernel.c documents each). */
export interface Addon {
  sharedBytes: number;
  batchBytes: number;
  create(maxRows: number, budget: number, cols: ArrayBuffer, smp: ArrayBuffer, sampleCap: number): [object, ArrayBuffer];
  setArea(h: object, cols: ArrayBuffer, smp: ArrayBuffer, sampleCap: number): void;
  growSamples(h: object, cap: number): ArrayBuffer;
  describe(...cols: ArrayBufferView[]): ArrayBuffer;
  prepare(h: object, desc: ArrayBuffer, hasPrev: boolean, pTs: bigint, pP: bigint): number;
  setSlots(h: object, m: number): void;
  setSlot(h: object, s: number, desc: ArrayBuffer, row: number, end: number): void;
  exhaust(h: object, s: number): void;
  refilled(h: object, s: number): void;
  build(h: object): void;
  rowOf(h: object, s: number): number;
  setBound(h: object, ts: bigint, p: bigint): void;
  run(h: object): number;
  append(h: object, desc: ArrayBuffer, row: number, count: number, flags: number): number;
}

const SOURCE_DIR = new URL('./native/', import.meta.url);
/** Where `npm ci` (scripts/build-native.mjs) puts the addon and its build stamp. */
export const NATIVE_ADDON = fileURLToPath(new URL('../../build/merge-kernel.node', import.meta.url));
export const NATIVE_STAMP = fileURLToPath(new URL('../../build/merge-kernel.json', import.meta.url));

let loaded: NativeLoad | undefined;

/** The native kernel's addon, or null and why not. */
export interface NativeLoad {
  addon: Addon | null;
  why: string;
}

/** sha1 over the kernel's sources, every file in src/merge/native by name (scripts/build-native.mjs stamps the addon with the same). */
export function nativeSourceHash(): string {
  const h = createHash('sha1');
  for (const f of readdirSync(SOURCE_DIR).sort()) h.update(f).update(readFileSync(new URL(f, SOURCE_DIR)));
  return h.digest('hex');
}

/** The native kernel for this process (loaded once): see loadNativeKernel. */
export function nativeKernel(): NativeLoad {
  loaded ??= loadNativeKernel();
  return loaded;
}

/**
 * Loads the addon at `file` when its build stamp names the sources here; otherwise (or with
 * `DAQ_MERGE_NATIVE=0` in env) null and why: not built, built from other sources, does not load.
 */
export function loadNativeKernel(file = NATIVE_ADDON, stampFile = NATIVE_STAMP, env: NodeJS.ProcessEnv = process.env): NativeLoad {
  if (env['DAQ_MERGE_NATIVE'] === '0') return { addon: null, why: 'DAQ_MERGE_NATIVE=0' };
  if (!existsSync(file)) return { addon: null, why: `${file} is not built (npm run build:native; it needs a C compiler)` };
  let stamp: { source?: string };
  try {
    stamp = JSON.parse(readFileSync(stampFile, 'utf8')) as { source?: string };
  } catch {
    return { addon: null, why: `${file} has no build stamp (${stampFile}): npm run build:native` };
  }
  if (stamp.source !== nativeSourceHash()) return { addon: null, why: `${file} was built from another version of src/merge/native: npm run build:native` };
  try {
    const addon = createRequire(import.meta.url)(file) as Addon;
    if (addon.sharedBytes !== 64 || addon.batchBytes !== 104 || typeof addon.run !== 'function' || typeof addon.setArea !== 'function') return { addon: null, why: `${file} is not this version's kernel` };
    return { addon, why: 'loaded' };
  } catch (e) {
    return { addon: null, why: `${file} does not load: ${(e as Error).message.split('\n')[0]}` };
  }
}

/** A batch the native kernel checked, with the descriptor (its arrays' addresses) the kernel merges from. */
export interface NativeKernelBatch extends KernelBatch {
  desc: ArrayBuffer;
  /** Rows and samples when checked: a detached (transferred) array reads as length 0 (see alive). */
  n: number;
  S: number;
}

/**
 * Throws unless every array of b still has the length it had when checked: the kernel reads their
 * memory, which a transfer to a worker (postMessage) would have taken away. O(1): the lengths only.
 */
function alive(b: NativeKernelBatch): void {
  const c = b.cols;
  const n = b.n;
  if (
    c.timestamp.length !== n || c.time.length !== n || c.wave_offset.length !== n || c.baseline.length !== n || c.pid.length !== n || c.dt.length !== n ||
    c.flags.length !== n || c.event_length.length !== n || c.channel.length !== n || c.trigger_type.length !== n || b.samples.length !== b.S
  ) {
    throw new DaqError('DAQ_ERR_BATCH_INVALID', 'a merge input batch lost its arrays (transferred or detached) while the merge held it: producers must not transfer a batch they pushed until the merge releases it');
  }
}

/** One merge's native kernel (its own output area and tree). */
export class NativeMergeKernel implements MergeKernelApi<NativeKernelBatch> {
  private readonly h: object;
  private readonly i32: Int32Array;
  private readonly i64: BigInt64Array;
  private cols: ArrayBuffer;
  private smp: ArrayBuffer;
  private sampleCap: number;
  private nextSample = 0n;
  private slotBatch: (NativeKernelBatch | null)[] = [];

  /** As MergeKernel's (the sample area starts small and grows when an event needs it). */
  constructor(private readonly a: Addon, private readonly maxRows: number, private readonly maxSamples: number, private readonly pool: OutputPool) {
    this.sampleCap = Math.min(maxSamples, maxRows * 64, 1 << 24);
    this.cols = pool.get(AREA, maxRows * AREA_ROW_BYTES);
    this.smp = pool.get(SAMPLES, this.sampleCap * 2 + SLACK);
    const [h, shared] = a.create(maxRows, maxSamples, this.cols, this.smp, this.sampleCap);
    this.h = h;
    this.i32 = new Int32Array(shared, 0, 12);
    this.i64 = new BigInt64Array(shared, 48, 2);
  }

  copyIn(c: RecordColumns, samples: Uint16Array, _offW: Uint32Array, prev: NumKey | null): NativeKernelBatch | CopyInProblem {
    const desc = this.a.describe(c.timestamp, c.time, c.wave_offset, c.baseline, c.pid, c.dt, c.flags, c.event_length, c.channel, c.trigger_type, samples);
    const st = prev ? this.a.prepare(this.h, desc, true, keyTs(prev), keyP(prev)) : this.a.prepare(this.h, desc, false, 0n, 0n);
    if (st === 0) return { cols: c, samples, desc, n: c.timestamp.length, S: samples.length };
    return st === 1 ? { order: this.i32[I.badRow]! } : 'offsets';
  }

  setSlots(m: number): void {
    this.slotBatch = new Array<NativeKernelBatch | null>(m).fill(null);
    this.a.setSlots(this.h, m);
  }

  setSlot(s: number, b: NativeKernelBatch, row: number, end: number): void {
    alive(b);
    this.slotBatch[s] = b; // keeps its arrays alive while the kernel reads them
    this.a.setSlot(this.h, s, b.desc, row, end);
  }

  exhaust(s: number): void {
    this.slotBatch[s] = null;
    this.a.exhaust(this.h, s);
  }

  refilled(s: number): void {
    this.a.refilled(this.h, s);
  }

  build(): void {
    this.a.build(this.h);
  }

  rowOf(s: number): number {
    return this.a.rowOf(this.h, s);
  }

  get emptySlot(): number {
    return this.i32[I.emptySlot]!;
  }

  setBound(bound: NumKey | null): void {
    if (!bound) this.a.setBound(this.h, I64_MAX, -1n);
    else this.a.setBound(this.h, keyTs(bound), keyP(bound));
  }

  get nextId(): bigint {
    return this.i64[1]!;
  }

  lastKey(): NumKey {
    const ts = this.i64[0]!;
    return { hi: Number(ts >> 32n), lo: Number(BigInt.asUintN(32, ts)), pid: this.i32[I.lastPid]!, ch: this.i32[I.lastCh]! };
  }

  /** Runs the merge; OUT_FULL and NEED_SAMPLES are handled here (full batches go to `emit`). */
  run(emit: (b: WaveBatch) => void, stream: string): number {
    for (;;) {
      const st = this.a.run(this.h);
      if (st === KERNEL_OUT_FULL) {
        emit(this.take(stream));
        for (const b of this.slotBatch) if (b) alive(b); // the sink ran: it must not have taken an input's arrays
      } else if (st === KERNEL_NEED_SAMPLES) this.grow();
      else return st;
    }
  }

  append(b: NativeKernelBatch, row: number, count: number, flags: number, emit: (b: WaveBatch) => void, stream: string): void {
    alive(b);
    const end = row + count;
    while (row < end) {
      const st = this.a.append(this.h, b.desc, row, end - row, flags);
      row += this.i32[I.emitted]!;
      if (st === KERNEL_OUT_FULL) {
        emit(this.take(stream));
        alive(b); // the sink ran: it must not have taken the batch's arrays
      } else if (st === KERNEL_NEED_SAMPLES) this.grow();
    }
  }

  private grow(): void {
    const need = this.i32[I.needSamples]!;
    let cap = this.sampleCap * 2;
    while (cap < need) cap *= 2;
    if (cap > 0x7fffffff) throw new RangeError(`merge kernel: an output batch of ${need} samples`);
    this.smp = this.a.growSamples(this.h, cap);
    this.sampleCap = cap;
  }

  get runs(): number {
    return this.i32[I.runs]!;
  }

  continueFrom(nextEventId: number, nextSample: bigint): void {
    this.i64[1] = BigInt(nextEventId);
    this.nextSample = nextSample;
  }

  get nextSampleOffset(): bigint {
    return this.nextSample;
  }

  get pendingRows(): number {
    return this.i32[I.outN]!;
  }

  /** As MergeKernel's: take() hands out views of the output area, valid until the kernel runs again. */
  borrow = false;

  /**
   * The output batch so far. Borrowing: views of the output area. Else, without copying: a batch
   * at least 7/8 full (rows) takes the area's columns with it as they lie, and samples filling at
   * least 3/4 of the sample area take that; the kernel goes on in new ones from the pool (a sample
   * area of this batch's samples and an eighth more, so the next batch fills it to ~8/9). What is
   * less full is copied out to buffers of its size. So a consumer that keeps batches holds at most
   * 8/7 of their columns' bytes and 4/3 of their samples' (~9/8 at steady event lengths).
   */
  take(stream: string): WaveBatch {
    const n = this.i32[I.outN]!;
    const S = this.i32[I.outS]!;
    const R = this.maxRows;
    const views = outputViews(this.cols, R, n);
    const sv = new Uint16Array(this.smp, 0, S);
    const at = this.nextSample;
    this.i32[I.outN] = 0;
    this.i32[I.outS] = 0;
    this.nextSample += BigInt(S);
    if (this.borrow) return outputBatch(stream, views, sv, true, this.pool, R, at);
    const full = n * 8 >= R * 7;
    const smpOut = S > 0 && S * 4 >= this.sampleCap * 3;
    let c = views;
    if (!full) copyColumns((c = this.pool.columns(n, R)), views);
    let samples: Uint16Array = sv;
    if (!smpOut) (samples = this.pool.samples(S)).set(sv);
    const out: WaveBatch = { kind: 'waveform', stream, batch: makeRecordsBatch(c), samples, globalSampleOffset: at };
    // The sample area left, or a full batch's samples filled less than 3/4 of it: one of their size and an eighth more.
    if (full) this.cols = this.pool.get(AREA, R * AREA_ROW_BYTES);
    if (full || smpOut) {
      this.sampleCap = Math.max(64, Math.min(this.maxSamples, S + (S >> 3) + 64));
      this.smp = this.pool.get(SAMPLES, this.sampleCap * 2 + SLACK);
      this.a.setArea(this.h, this.cols, this.smp, this.sampleCap);
    }
    return out;
  }
}

/** Bytes a row of the output area's columns takes (merge-core.h: outOpen), and bytes after its samples (SLACK). */
const AREA_ROW_BYTES = 60;
const SLACK = 128;

/** Where each counter sits in the shared area's int32 words (merge-kernel.c: Shared). */
const I = { outN: 0, outS: 1, emitted: 2, emptySlot: 3, needSamples: 4, runs: 5, badRow: 6, lastPid: 8, lastCh: 9 } as const;

const I64_MAX = (1n << 63n) - 1n;
