import type { WaveBatch } from '../schema/batch.ts';
import { allocRecordColumns, makeRecordsBatch } from '../schema/waveform.ts';
import type { RecordColumns } from '../schema/waveform.ts';
import { keyViews } from './key-views.ts';
import type { OutputPool } from './output-pool.ts';
import type { KeyViews } from './key-views.ts';

function words(a: { buffer: ArrayBufferLike; byteOffset: number; byteLength: number }): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.byteLength >> 2);
}

/**
 * An input batch prepared for gathering: its columns (64-bit integer ones as 32-bit words, so no
 * BigInt is made; baseline as float64, which loads and stores move bit for bit on x64, NaN
 * payloads included), samples (also as 32-bit words) and key views. One field per column keeps
 * the row-by-row copy to plain loads from one object shape.
 */
export class SourceBatch {
  readonly v: KeyViews;
  readonly tsW: Uint32Array;
  readonly base: Float64Array;
  readonly timeW: Uint32Array;
  readonly pid: Int32Array;
  readonly ch: Int16Array;
  readonly dt: Int32Array;
  readonly trig: Int16Array;
  readonly flags: Uint32Array;
  readonly len: Int32Array;
  /**
   * The samples as 32-bit words, for copying waveforms two samples at a time: sample i is half
   * word `(i + s32Pad) >> 1` (low half when `i + s32Pad` is even). Covers the whole words inside
   * the samples' bytes.
   */
  readonly s32: Uint32Array;
  readonly s32Pad: number;
  /** Position in the output builder's current source list, valid while `gen` matches it. */
  slot = 0;
  gen = -1;

  constructor(
    readonly cols: RecordColumns,
    readonly samples: Uint16Array,
  ) {
    this.v = keyViews(cols);
    this.tsW = this.v.tsLo; // the timestamps as 32-bit words
    this.base = cols.baseline;
    this.timeW = words(cols.time);
    this.pid = cols.pid;
    this.ch = cols.channel;
    this.dt = cols.dt;
    this.trig = cols.trigger_type;
    this.flags = cols.flags;
    this.len = cols.event_length;
    const base = samples.byteOffset & ~3;
    this.s32 = new Uint32Array(samples.buffer, base, (samples.byteOffset + samples.byteLength - base) >> 2);
    this.s32Pad = (samples.byteOffset - base) >> 1;
  }
}

/** Runs shorter than this are copied element by element; longer ones with TypedArray.set. */
const BULK_ROWS = 16;
/** Waveforms shorter than this are copied by a loop; longer ones with TypedArray.set. */
const BULK_SAMPLES = 64;

let generations = 0;

/**
 * Collects runs of input rows in output order and assembles output WaveBatches: one allocation
 * per column and one for the samples, `event_id` numbered in output order, `wave_offset`
 * rewritten to positions in the new sample slice, `globalSampleOffset` tracking the run-wide
 * wave pool. The plan is kept in typed arrays (source index, from, to, flags per run: no object
 * per run or per event). Long runs are copied a column at a time with TypedArray.set, short ones
 * (interleaved inputs: mostly one row) row by row, every column in one pass.
 */
export class WaveOutputBuilder {
  private sources: SourceBatch[] = [];
  private gen = generations++;
  private runSrc = new Int32Array(256);
  private runFrom = new Int32Array(256);
  private runTo = new Int32Array(256);
  private runFlags = new Uint32Array(256);
  /** Some run of the current plan has flags (late events): only then does the build OR them in. */
  private flagged = false;
  private runs = 0;
  /** Rows in the plan (not yet taken). */
  private planned = 0;
  /** Their samples. */
  private plannedSamples = 0;
  private nextEventId = 0;
  private nextSample = 0n;

  constructor(
    private readonly stream: string,
    private readonly maxRows: number,
    /** Where output buffers come from (given-back batches are reused); none: new ones. */
    private readonly pool?: OutputPool,
    /** A batch ends before the event that would take its samples past this (unless that event is its first). */
    private readonly maxSamples = Infinity,
  ) {}

  /** Rows appended and not yet taken. */
  get rows(): number {
    return this.planned;
  }

  /** The plan holds at least one full batch (maxRows rows, or samples past maxSamples). */
  get full(): boolean {
    return this.planned >= this.maxRows || this.plannedSamples > this.maxSamples;
  }

  get eventIdNext(): number {
    return this.nextEventId;
  }

  get sampleNext(): bigint {
    return this.nextSample;
  }

  /** Continues event ids and wave pool positions from another builder (the merge kernel's). */
  continueFrom(nextEventId: number, nextSample: bigint): void {
    this.nextEventId = nextEventId;
    this.nextSample = nextSample;
  }

  append(src: SourceBatch, from: number, to: number, flags: number): void {
    if (to <= from) return;
    this.planned += to - from;
    this.plannedSamples += rowSamples(src.len, from, to);
    let si = src.slot;
    if (src.gen !== this.gen) {
      si = src.slot = this.sources.length;
      src.gen = this.gen;
      this.sources.push(src);
    }
    const last = this.runs - 1;
    // Extend the previous run when it continues the same batch with the same flags.
    if (last >= 0 && this.runSrc[last] === si && this.runTo[last] === from && this.runFlags[last] === flags) {
      this.runTo[last] = to;
      return;
    }
    if (this.runs === this.runSrc.length) this.grow();
    const k = this.runs++;
    this.runSrc[k] = si;
    this.runFrom[k] = from;
    this.runTo[k] = to;
    this.runFlags[k] = flags;
    if (flags) this.flagged = true;
  }

  private grow(): void {
    const n = this.runSrc.length * 2;
    const g = <T extends Int32Array | Uint32Array>(a: T, b: T): T => {
      b.set(a);
      return b;
    };
    this.runSrc = g(this.runSrc, new Int32Array(n));
    this.runFrom = g(this.runFrom, new Int32Array(n));
    this.runTo = g(this.runTo, new Int32Array(n));
    this.runFlags = g(this.runFlags, new Uint32Array(n));
  }

  /**
   * The planned rows as output batches of maxRows rows, or fewer where the next event would take
   * the batch's samples past maxSamples (the last one smaller); with `fullOnly`, only the full
   * batches: the remaining rows stay planned.
   */
  take(fullOnly = false): WaveBatch[] {
    const out: WaveBatch[] = [];
    const runs = this.runs;
    const from = this.runFrom;
    const to = this.runTo;
    let k = 0;
    while (k < runs) {
      if (fullOnly && !this.full) {
        // Keep runs k.. (the first one maybe narrowed by a split) as the plan.
        this.runSrc.copyWithin(0, k, runs);
        from.copyWithin(0, k, runs);
        to.copyWithin(0, k, runs);
        this.runFlags.copyWithin(0, k, runs);
        this.runs = runs - k;
        return out;
      }
      // One output batch: runs k0..k1, at most maxRows rows and (but for its first event)
      // maxSamples samples; a run split between two batches is narrowed in place (its from/to)
      // while each batch is built.
      const k0 = k;
      let n = 0;
      let ns = 0;
      let split = -1;
      let cut = 0;
      for (; k < runs; k++) {
        const f = from[k]!;
        const t = to[k]!;
        const rs = rowSamples(this.sources[this.runSrc[k]!]!.len, f, t);
        if (n + t - f > this.maxRows || ns + rs > this.maxSamples) {
          // The rows of this run that still fit (the batch's first event always does).
          const len = this.sources[this.runSrc[k]!]!.len;
          let r = f;
          while (r < t && n + r - f < this.maxRows && (ns + len[r]! <= this.maxSamples || (n === 0 && r === f))) ns += len[r++]!;
          n += r - f;
          if (r === t) k++; // the whole run: the batch ends after it
          else if (r > f) {
            split = k;
            cut = r;
          }
          break;
        }
        n += t - f;
        ns += rs;
        if (n === this.maxRows) {
          k++;
          break;
        }
      }
      let b: WaveBatch;
      if (split >= 0) {
        const end = to[split]!;
        to[split] = cut;
        b = this.build(k0, split, n);
        to[split] = end;
        from[split] = cut;
        k = split; // the next batch continues run `split`
      } else {
        b = this.build(k0, k - 1, n);
      }
      out.push(b);
      this.planned -= n;
      this.plannedSamples -= b.samples.length;
    }
    this.sources = [];
    this.gen = generations++;
    this.runs = 0;
    this.flagged = false;
    return out;
  }

  /**
   * Builds one batch of n rows from runs k0..k1. Each loop is a small function of its own, so
   * that V8 optimises it whole with complete type feedback: inlined here, the loops were
   * on-stack-replaced and deoptimised at every call (branches not yet taken in that batch).
   */
  private build(k0: number, k1: number, n: number): WaveBatch {
    const total = sampleTotal(this.sources, this.runSrc, this.runFrom, this.runTo, k0, k1);
    // Every column and sample is written below: buffers given back to the pool can be reused.
    const c = this.pool ? this.pool.columns(n, this.maxRows) : allocRecordColumns(n);
    const d = new OutColumns(c, this.pool ? this.pool.samples(total) : new Uint16Array(total));
    copyRuns(d, c, this.sources, this.runSrc, this.runFrom, this.runTo, k0, k1);
    if (this.flagged) orFlags(d.flags, this.runFlags, this.runFrom, this.runTo, k0, k1);
    numberRows(d.idW, n, this.nextEventId);
    this.nextEventId += n;
    const globalSampleOffset = this.nextSample;
    this.nextSample += BigInt(total);
    return { kind: 'waveform', stream: this.stream, batch: makeRecordsBatch(c), samples: d.samples, globalSampleOffset };
  }
}

/** An output batch's columns as the row-by-row copy writes them (64-bit columns as 32-bit words). */
class OutColumns {
  readonly tsW: Uint32Array;
  readonly base: Float64Array;
  readonly timeW: Uint32Array;
  readonly offW: Uint32Array;
  readonly idW: Uint32Array;
  readonly pid: Int32Array;
  readonly ch: Int16Array;
  readonly dt: Int32Array;
  readonly trig: Int16Array;
  readonly flags: Uint32Array;
  readonly len: Int32Array;
  /** The samples as 32-bit words (the array starts at byte 0 of its buffer). */
  readonly d32: Uint32Array;

  constructor(
    c: RecordColumns,
    readonly samples: Uint16Array,
  ) {
    this.d32 = new Uint32Array(samples.buffer, 0, samples.length >> 1);
    this.tsW = words(c.timestamp);
    this.base = c.baseline;
    this.timeW = words(c.time);
    this.offW = words(c.wave_offset);
    this.idW = words(c.event_id);
    this.pid = c.pid;
    this.ch = c.channel;
    this.dt = c.dt;
    this.trig = c.trigger_type;
    this.flags = c.flags;
    this.len = c.event_length;
  }
}

/** Samples of runs k0..k1. */
/** Samples of rows [from, to) (len: their event_length column). */
function rowSamples(len: Int32Array, from: number, to: number): number {
  let total = 0;
  for (let r = from; r < to; r++) total += len[r]!;
  return total;
}

function sampleTotal(sources: SourceBatch[], runSrc: Int32Array, from: Int32Array, to: Int32Array, k0: number, k1: number): number {
  let total = 0;
  for (let k = k0; k <= k1; k++) {
    const len = sources[runSrc[k]!]!.len;
    for (let r = from[k]!, b = to[k]!; r < b; r++) total += len[r]!;
  }
  return total;
}

/** event_id first, first + 1, ... for rows 0..n-1 (as 32-bit words). */
function numberRows(idW: Uint32Array, n: number, first: number): void {
  for (let r = 0; r < n; r++) {
    const id = first + r;
    idW[2 * r] = id;
    idW[2 * r + 1] = id > 0xffffffff ? Math.floor(id / 4294967296) : 0;
  }
}

/**
 * Copies runs k0..k1 to d from row 0 and sample 0: long runs a column at a time, short ones
 * (interleaved inputs: mostly one row) row by row, every column in one pass. Run flags are ORed in
 * afterwards, by `orFlags`, only when some run has them.
 */
function copyRuns(d: OutColumns, c: RecordColumns, sources: SourceBatch[], runSrc: Int32Array, from: Int32Array, to: Int32Array, k0: number, k1: number): void {
  const dTs = d.tsW, dBase = d.base, dTime = d.timeW, dOff = d.offW;
  const dPid = d.pid, dCh = d.ch, dDt = d.dt, dTrig = d.trig, dFlags = d.flags, dLen = d.len;
  const samples = d.samples;
  const d32 = d.d32;
  let o = 0;
  let so = 0;
  for (let k = k0; k <= k1; k++) {
    const s = sources[runSrc[k]!]!;
    const a = from[k]!;
    const b = to[k]!;
    if (b - a >= BULK_ROWS) {
      copyRun(c, s, a, b, o);
      so = copyRunSamples(samples, d32, dOff, s, a, b, o, so);
      o += b - a;
    } else {
      const sTs = s.tsW, sBase = s.base, sTime = s.timeW, sPid = s.pid, sCh = s.ch, sDt = s.dt, sTrig = s.trig, sFlags = s.flags;
      const sl = s.len, src = s.samples, offLo = s.v.offLo, offHi = s.v.offHi;
      for (let r = a; r < b; r++, o++) {
        const r2 = 2 * r;
        const o2 = 2 * o;
        dTs[o2] = sTs[r2]!;
        dTs[o2 + 1] = sTs[r2 + 1]!;
        dBase[o] = sBase[r]!; // a float column: copied as a double (x64 moves keep every bit)
        dTime[o2] = sTime[r2]!;
        dTime[o2 + 1] = sTime[r2 + 1]!;
        dPid[o] = sPid[r]!;
        dCh[o] = sCh[r]!;
        dDt[o] = sDt[r]!;
        dTrig[o] = sTrig[r]!;
        dFlags[o] = sFlags[r]!;
        const l = sl[r]!;
        dLen[o] = l;
        const hi = offHi[r2 + 1]!;
        const lo = offLo[r2]!;
        if (l >= BULK_SAMPLES || hi !== 0 || lo > 0x3fffffff || so > 0x3fffffff) {
          const off = lo + hi * 4294967296;
          samples.set(src.subarray(off, off + l), so);
        } else {
          copyWave(samples, d32, so, s, lo, l);
        }
        dOff[o2] = so;
        if (so > 0xffffffff) dOff[o2 + 1] = Math.floor(so / 4294967296); // else 0, as allocated
        so += l;
      }
    }
  }
}

/** ORs each run's flags into its rows (runs k0..k1 from row 0). */
function orFlags(flags: Uint32Array, runFlags: Uint32Array, from: Int32Array, to: Int32Array, k0: number, k1: number): void {
  let o = 0;
  for (let k = k0; k <= k1; k++) {
    const f = runFlags[k]!;
    const n = to[k]! - from[k]!;
    if (f) for (let w = o; w < o + n; w++) flags[w] = flags[w]! | f;
    o += n;
  }
}

/** Copies rows [a, b) of s to rows from o of c, a column at a time. */
function copyRun(c: RecordColumns, s: SourceBatch, a: number, b: number, o: number): void {
  const sc = s.cols;
  c.timestamp.set(sc.timestamp.subarray(a, b), o);
  c.pid.set(sc.pid.subarray(a, b), o);
  c.channel.set(sc.channel.subarray(a, b), o);
  c.baseline.set(sc.baseline.subarray(a, b), o);
  c.dt.set(sc.dt.subarray(a, b), o);
  c.trigger_type.set(sc.trigger_type.subarray(a, b), o);
  c.flags.set(sc.flags.subarray(a, b), o);
  c.event_length.set(sc.event_length.subarray(a, b), o);
  c.time.set(sc.time.subarray(a, b), o);
}

/** Copies the waveforms of rows [a, b) of s from sample so on (one copy when they are back to back); writes their offsets; returns the next sample position. */
function copyRunSamples(samples: Uint16Array, d32: Uint32Array, offW: Uint32Array, s: SourceBatch, a: number, b: number, o: number, so: number): number {
  const offLo = s.v.offLo;
  const offHi = s.v.offHi;
  const lens = s.len;
  const src = s.samples;
  const first = offLo[2 * a]! + offHi[2 * a + 1]! * 4294967296;
  let expect = first;
  for (let r = a; r < b; r++) {
    if (offLo[2 * r]! + offHi[2 * r + 1]! * 4294967296 !== expect) {
      expect = -1;
      break;
    }
    expect += lens[r]!;
  }
  if (expect >= 0) samples.set(src.subarray(first, expect), so);
  for (let r = a, w = o; r < b; r++, w++) {
    const l = lens[r]!;
    if (expect < 0) {
      const off = offLo[2 * r]! + offHi[2 * r + 1]! * 4294967296;
      if (l >= BULK_SAMPLES || off > 0x3fffffff || so > 0x3fffffff) samples.set(src.subarray(off, off + l), so);
      else copyWave(samples, d32, so, s, off, l);
    }
    offW[2 * w] = so;
    offW[2 * w + 1] = (so > 0xffffffff ? Math.floor(so / 4294967296) : 0);
    so += l;
  }
  return so;
}

/**
 * Copies the l (< BULK_SAMPLES, so offsets below 2^30 + 64) samples of s from sample j on to
 * dst[d...] (d32: the same bytes as words): two samples per load and store, realigning by a
 * shift when the source and destination halves differ; a sample at a time for short waveforms,
 * the odd first or last sample, and a source word past the end of s32. About twice as fast
 * as a sample at a time for 32 samples; TypedArray.set of a subarray costs more to set up.
 */
function copyWave(dst: Uint16Array, d32: Uint32Array, d: number, s: SourceBatch, j: number, l: number): void {
  const src = s.samples;
  let i = d | 0;
  j = j | 0;
  const e = i + l;
  if (l >= 8) {
    if (i & 1) dst[i++] = src[j++]!;
    const n = (e - i) >> 1; // whole words to write
    const s32 = s.s32;
    const h = j + s.s32Pad;
    let ws = h >> 1;
    let wd = i >> 1;
    const wend = wd + n;
    if ((h & 1) === 0) {
      while (wd < wend) d32[wd++] = s32[ws++]! | 0;
      i += 2 * n;
      j += 2 * n;
    } else if (ws + n < s32.length) {
      let cur = s32[ws]! >>> 16;
      while (wd < wend) {
        const nx = s32[++ws]!;
        d32[wd++] = cur | (nx << 16);
        cur = nx >>> 16;
      }
      i += 2 * n;
      j += 2 * n;
    }
  }
  while (i < e) dst[i++] = src[j++]!;
}
