import { Table } from 'apache-arrow';
import type { Dataset } from 'h5wasm/node';
import { DaqError } from '../errors.ts';
import { makeRecordsBatch } from '../schema/waveform.ts';
import type { RecordColumns } from '../schema/waveform.ts';

/** One segment's part of the records table. */
export interface RecordsSegment {
  /** Row of this segment's first record in the view. */
  start: number;
  pool: Dataset;
}

export interface WavesResult {
  /** n × padTo samples, row-major; padding is zero. */
  data: Float32Array;
  /** n × padTo: 1 where data is a real sample. */
  mask: Uint8Array;
  /** True length of each waveform (before padding or truncation). */
  lengths: Int32Array;
}

/**
 * The `records` table of a run, every finished segment seen as one (seed 000's RecordsView).
 * Record columns are held in memory as typed arrays (tens of bytes per event); waveforms stay on
 * disk as uint16 and are read lazily, slice by slice, converted to float32 only when asked for.
 * `columns.wave_offset` is the run-global wave-pool position (segment `global_offset` + local).
 */
export class RecordsView {
  constructor(
    readonly columns: RecordColumns,
    private readonly segments: RecordsSegment[],
    private readonly localOffset: BigInt64Array,
  ) {}

  get length(): number {
    return this.columns.timestamp.length;
  }

  private segmentOf(i: number): RecordsSegment {
    if (!(i >= 0 && i < this.length)) throw new DaqError('DAQ_ERR_TRACE_RANGE', `record ${i} is outside 0..${this.length - 1}`, { details: { index: i } });
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.segments[mid]!.start <= i) lo = mid;
      else hi = mid - 1;
    }
    return this.segments[lo]!;
  }

  /** Raw uint16 samples of event i. */
  rawWave(i: number): Uint16Array {
    const seg = this.segmentOf(i);
    const off = Number(this.localOffset[i]);
    const len = this.columns.event_length[i]!;
    if (len === 0) return new Uint16Array(0);
    const out = seg.pool.slice([[off, off + len]]) as Uint16Array | null;
    if (!out || out.length !== len) throw new DaqError('DAQ_ERR_HDF5', `could not read ${len} samples of record ${i} at wave_pool[${off}]`, { details: { index: i } });
    return out;
  }

  /** Event i as float32; with `baselineCorrect`, the record's baseline is subtracted. */
  wave(i: number, opts: { baselineCorrect?: boolean } = {}): Float32Array {
    const raw = this.rawWave(i);
    const out = new Float32Array(raw.length);
    const b = opts.baselineCorrect ? this.columns.baseline[i]! : 0;
    for (let k = 0; k < raw.length; k++) out[k] = raw[k]! - b;
    return out;
  }

  /**
   * Gathers events into one padded float32 matrix (n × padTo) plus a mask and the true lengths,
   * ready for a model. `padTo` defaults to the longest event; longer events are truncated.
   */
  waves(indices: ArrayLike<number>, opts: { padTo?: number; baselineCorrect?: boolean } = {}): WavesResult {
    const n = indices.length;
    const lengths = new Int32Array(n);
    let longest = 0;
    for (let k = 0; k < n; k++) {
      lengths[k] = this.columns.event_length[indices[k]!]!;
      if (lengths[k]! > longest) longest = lengths[k]!;
    }
    const pad = opts.padTo ?? longest;
    const data = new Float32Array(n * pad);
    const mask = new Uint8Array(n * pad);
    for (let k = 0; k < n; k++) {
      const i = indices[k]!;
      const raw = this.rawWave(i);
      const b = opts.baselineCorrect ? this.columns.baseline[i]! : 0;
      const m = Math.min(raw.length, pad);
      const row = k * pad;
      for (let s = 0; s < m; s++) data[row + s] = raw[s]! - b;
      mask.fill(1, row, row + m);
    }
    return { data, mask, lengths };
  }

  /**
   * Indices of events with tMin <= timestamp < tMax (ps), by binary search on the sorted
   * `timestamp` column (never `time`), optionally only some channels.
   */
  queryTimeWindow(tMinPs: bigint, tMaxPs: bigint, opts: { channels?: number[] } = {}): Int32Array {
    const ts = this.columns.timestamp;
    const lower = (t: bigint) => {
      let lo = 0;
      let hi = ts.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (ts[mid]! < t) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    };
    const a = lower(tMinPs);
    const b = Math.max(a, lower(tMaxPs));
    if (!opts.channels) return Int32Array.from({ length: b - a }, (_, k) => a + k);
    const want = new Set(opts.channels);
    const out: number[] = [];
    for (let i = a; i < b; i++) if (want.has(this.columns.channel[i]!)) out.push(i);
    return Int32Array.from(out);
  }

  /** The records as an Arrow table (wave_offset run-global). */
  toArrow(): Table {
    return new Table([makeRecordsBatch(this.columns)]);
  }

  /** Batches of `size` records with their float32 waveforms. */
  *iterBatches(size: number): Generator<{ start: number; end: number; waves: Float32Array[] }> {
    for (let start = 0; start < this.length; start += size) {
      const end = Math.min(this.length, start + size);
      const waves: Float32Array[] = [];
      for (let i = start; i < end; i++) waves.push(this.wave(i));
      yield { start, end, waves };
    }
  }
}

