import type { WaveBatch } from '../schema/batch.ts';
import { allocRecordColumns, makeRecordsBatch } from '../schema/waveform.ts';
import type { RecordColumns } from '../schema/waveform.ts';
import { keyViews } from './key-views.ts';
import type { KeyViews } from './key-views.ts';

/** An input batch prepared for gathering: its columns, samples and 32-bit word views. */
export class SourceBatch {
  readonly v: KeyViews;
  readonly timeLo: Uint32Array;
  readonly timeHi: Int32Array;

  constructor(
    readonly cols: RecordColumns,
    readonly samples: Uint16Array,
  ) {
    this.v = keyViews(cols);
    this.timeLo = new Uint32Array(cols.time.buffer, cols.time.byteOffset, cols.time.length * 2);
    this.timeHi = new Int32Array(cols.time.buffer, cols.time.byteOffset, cols.time.length * 2);
  }
}

/** Runs shorter than this are copied element by element; longer ones with TypedArray.set. */
const BULK_ROWS = 16;
/** Waveforms shorter than this are copied by a loop; longer ones with TypedArray.set. */
const BULK_SAMPLES = 64;

/**
 * Collects runs of input rows in output order and assembles output WaveBatches: one allocation
 * per column and one for the samples, `event_id` numbered in output order, `wave_offset`
 * rewritten to positions in the new sample slice, `globalSampleOffset` tracking the run-wide
 * wave pool. The plan is kept in plain arrays (no object per run or per event); 64-bit columns
 * are copied as 32-bit words, so no BigInt is allocated on this path.
 */
export class WaveOutputBuilder {
  private src: SourceBatch[] = [];
  private from: number[] = [];
  private to: number[] = [];
  private flags: number[] = [];
  private rows = 0;
  private nextEventId = 0;
  private nextSample = 0n;

  constructor(
    private readonly stream: string,
    private readonly maxRows: number,
  ) {}

  append(src: SourceBatch, from: number, to: number, flags: number): void {
    if (to <= from) return;
    const last = this.src.length - 1;
    // Extend the previous run when it continues the same batch with the same flags.
    if (last >= 0 && this.src[last] === src && this.to[last] === from && this.flags[last] === flags) {
      this.to[last] = to;
    } else {
      this.src.push(src);
      this.from.push(from);
      this.to.push(to);
      this.flags.push(flags);
    }
    this.rows += to - from;
  }

  take(): WaveBatch[] {
    const out: WaveBatch[] = [];
    let k = 0;
    let a = this.from[0] ?? 0;
    while (k < this.src.length) {
      // One output batch: runs k0..k1, the first from a0, the last up to b1, at most maxRows rows.
      const k0 = k;
      const a0 = a;
      let k1 = k;
      let b1 = a;
      let n = 0;
      for (;;) {
        const avail = this.to[k]! - a;
        const take = Math.min(avail, this.maxRows - n);
        n += take;
        k1 = k;
        b1 = a + take;
        if (take < avail) {
          a = b1; // the batch is full mid-run: the next one continues run k
          break;
        }
        k++;
        if (k >= this.src.length) break;
        a = this.from[k]!;
        if (n === this.maxRows) break;
      }
      out.push(this.build(k0, a0, k1, b1, n));
    }
    this.src = [];
    this.from = [];
    this.to = [];
    this.flags = [];
    this.rows = 0;
    return out;
  }

  /** Builds one batch of n rows from runs k0..k1 (the first starting at a0, the last ending at b1). */
  private build(k0: number, a0: number, k1: number, b1: number, n: number): WaveBatch {
    let total = 0;
    for (let k = k0; k <= k1; k++) {
      const len = this.src[k]!.cols.event_length;
      for (let r = k === k0 ? a0 : this.from[k]!, b = k === k1 ? b1 : this.to[k]!; r < b; r++) total += len[r]!;
    }

    const c = allocRecordColumns(n);
    const tsLo = new Uint32Array(c.timestamp.buffer);
    const tsHi = new Int32Array(c.timestamp.buffer);
    const idW = new Int32Array(c.event_id.buffer);
    const offW = new Int32Array(c.wave_offset.buffer);
    const timeLo = new Uint32Array(c.time.buffer);
    const timeHi = new Int32Array(c.time.buffer);
    const samples = new Uint16Array(total);
    let o = 0;
    let so = 0;
    for (let k = k0; k <= k1; k++) {
      const s = this.src[k]!;
      const a = k === k0 ? a0 : this.from[k]!;
      const b = k === k1 ? b1 : this.to[k]!;
      const flags = this.flags[k]!;
      const sc = s.cols;
      const len = b - a;
      if (len >= BULK_ROWS) {
        c.timestamp.set(sc.timestamp.subarray(a, b), o);
        c.pid.set(sc.pid.subarray(a, b), o);
        c.channel.set(sc.channel.subarray(a, b), o);
        c.baseline.set(sc.baseline.subarray(a, b), o);
        c.dt.set(sc.dt.subarray(a, b), o);
        c.trigger_type.set(sc.trigger_type.subarray(a, b), o);
        c.flags.set(sc.flags.subarray(a, b), o);
        c.event_length.set(sc.event_length.subarray(a, b), o);
        c.time.set(sc.time.subarray(a, b), o);
      } else {
        const v = s.v;
        for (let r = a, w = o; r < b; r++, w++) {
          tsLo[2 * w] = v.tsLo[2 * r]!;
          tsHi[2 * w + 1] = v.tsHi[2 * r + 1]!;
          c.pid[w] = sc.pid[r]!;
          c.channel[w] = sc.channel[r]!;
          c.baseline[w] = sc.baseline[r]!;
          c.dt[w] = sc.dt[r]!;
          c.trigger_type[w] = sc.trigger_type[r]!;
          c.flags[w] = sc.flags[r]!;
          c.event_length[w] = sc.event_length[r]!;
          timeLo[2 * w] = s.timeLo[2 * r]!;
          timeHi[2 * w + 1] = s.timeHi[2 * r + 1]!;
        }
      }
      if (flags) for (let w = o; w < o + len; w++) c.flags[w] = c.flags[w]! | flags;
      // Samples and new offsets: one copy when a long run's waveforms are back to back.
      const v = s.v;
      const src = s.samples;
      let contiguous = len >= BULK_ROWS;
      const first = v.offLo[2 * a]! + v.offHi[2 * a + 1]! * 4294967296;
      if (contiguous) {
        let expect = first;
        for (let r = a; r < b; r++) {
          if (v.offLo[2 * r]! + v.offHi[2 * r + 1]! * 4294967296 !== expect) {
            contiguous = false;
            break;
          }
          expect += sc.event_length[r]!;
        }
        if (contiguous) samples.set(src.subarray(first, expect), so);
      }
      for (let r = a, w = o; r < b; r++, w++) {
        const off = v.offLo[2 * r]! + v.offHi[2 * r + 1]! * 4294967296;
        const l = sc.event_length[r]!;
        if (!contiguous) {
          if (l >= BULK_SAMPLES) samples.set(src.subarray(off, off + l), so);
          else for (let i = 0; i < l; i++) samples[so + i] = src[off + i]!;
        }
        offW[2 * w] = so | 0;
        offW[2 * w + 1] = Math.floor(so / 4294967296);
        so += l;
      }
      o += len;
    }
    for (let w = 0; w < n; w++) {
      const id = this.nextEventId++;
      idW[2 * w] = id | 0;
      idW[2 * w + 1] = Math.floor(id / 4294967296);
    }
    const globalSampleOffset = this.nextSample;
    this.nextSample += BigInt(total);
    return { kind: 'waveform', stream: this.stream, batch: makeRecordsBatch(c), samples, globalSampleOffset };
  }
}
