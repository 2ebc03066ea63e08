import { Table } from 'apache-arrow';
import type { RecordBatch } from 'apache-arrow';
import type { Dataset } from 'h5wasm/node';
import { DaqError } from '../errors.ts';
import { makeRecordsBatch } from '../schema/waveform.ts';
import type { RecordColumns } from '../schema/waveform.ts';
import { lowerBound, slice, sliceU16View } from './h5-slices.ts';
import type { PoolFile } from './pool-file.ts';

/** One segment's part of the records table. */
export interface RecordsSegment {
  /** Row of this segment's first record in the view. */
  start: number;
  /** That segment's `/wave_pool` (or `/streams/<s>/wave_pool`). */
  pool: Dataset;
  /** The same pool read with positional file reads (contiguous `<u2`), or null: read through h5wasm. */
  direct?: PoolFile | null;
}

export interface WavesOptions {
  /** Row width; default the longest requested event. Longer events are truncated (see `lengths`). */
  padTo?: number;
  /** Build the mask (default true); false returns an empty mask and skips its cost. */
  mask?: boolean;
  /** Subtract each record's `baseline` (default false). */
  baselineCorrect?: boolean;
  /**
   * Buffers to fill instead of allocating (at least n × padTo each): a training loop reusing one
   * batch buffer skips the page faults of fresh memory, which cost more than the gather itself.
   * The result's `data` / `mask` are views of them.
   */
  out?: { data: Float32Array; mask?: Uint8Array };
}

export interface WavesResult {
  /** n × padTo samples, row-major; padding is zero. */
  data: Float32Array;
  /** n × padTo: 1 where data is a real sample (empty when `mask: false`). */
  mask: Uint8Array;
  /** True length of each waveform (before padding or truncation). */
  lengths: Int32Array;
}

/** A batch from {@link RecordsView.iterBatches}: the same shape as a waveform batch in flight. */
export interface RecordsBatch {
  /** Rows [start, end) of the view. */
  start: number;
  end: number;
  /** Records with `wave_offset` rewritten to index `samples` (batch-local). */
  records: RecordBatch;
  /** The batch's waveforms back to back, raw uint16 ADC counts. */
  samples: Uint16Array;
}

/**
 * Reads of nearby waveforms of one segment are merged into one read when the gap is at most `gap`
 * samples, and the merged read is at most `span` samples (bounds the scratch buffer). Through
 * h5wasm each call costs ~50-100 µs whatever its size, so merging wide pays; a direct pread costs
 * ~2-3 µs, so it merges only small gaps and reads in cache-sized spans.
 */
const MERGE = {
  h5wasm: { gap: 1 << 16, span: 1 << 22 },
  direct: { gap: 1 << 12, span: 1 << 17 },
};

/** A typed array over fresh memory that is not zeroed first: the caller writes every element. */
function uninitialised<T extends Float32Array | Uint16Array | Uint8Array>(Ctor: { new (b: ArrayBuffer, o: number, n: number): T; BYTES_PER_ELEMENT: number }, n: number): T {
  const b = Buffer.allocUnsafeSlow(n * Ctor.BYTES_PER_ELEMENT);
  return new Ctor(b.buffer as ArrayBuffer, b.byteOffset, n);
}

/**
 * Positions of `indices` in ascending order of their values (stable), or null when already
 * ascending. Packs (value, position) into one float64 key for a native typed-array sort.
 */
function readOrder(indices: ArrayLike<number>): Int32Array | null {
  const n = indices.length;
  let sorted = true;
  for (let k = 1; k < n; k++) {
    if (indices[k]! < indices[k - 1]!) {
      sorted = false;
      break;
    }
  }
  if (sorted) return null;
  const order = new Int32Array(n);
  const P = 2 ** 21;
  if (n <= P) {
    const keys = new Float64Array(n);
    for (let k = 0; k < n; k++) keys[k] = indices[k]! * P + k; // indices < 2^31: exact below 2^53
    keys.sort();
    for (let q = 0; q < n; q++) order[q] = keys[q]! % P;
    return order;
  }
  for (let k = 0; k < n; k++) order[k] = k;
  order.sort((x, y) => indices[x]! - indices[y]! || x - y);
  return order;
}

/**
 * The `records` table of a run, every finished segment seen as one (seed 000's RecordsView).
 * Record columns are in memory as typed arrays (68 bytes per event); waveforms stay on disk as
 * uint16 and are read lazily, slice by slice, converted to float32 only when asked for.
 * `columns.wave_offset` is the run-global wave-pool position (segment `global_offset` + local).
 *
 * @example
 * const run = await openRun(dir);
 * const idx = run.records.queryTimeWindow(0n, 10n ** 12n, { channels: [0] }); // [tMin, tMax) ps
 * const { data, mask, lengths } = run.records.waves(idx, { padTo: 4096 });
 */
export class RecordsView {
  constructor(
    readonly columns: RecordColumns,
    private readonly segments: RecordsSegment[],
    /** wave_offset as stored: the position in its own segment's pool. */
    private readonly localOffset: BigInt64Array,
  ) {}

  get length(): number {
    return this.columns.timestamp.length;
  }

  private segmentIndex(i: number): number {
    if (!(Number.isInteger(i) && i >= 0 && i < this.length)) throw new DaqError('DAQ_ERR_TRACE_RANGE', `record ${i} is outside 0..${this.length - 1}`, { details: { index: i } });
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.segments[mid]!.start <= i) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Raw uint16 samples of event i (a fresh array). */
  rawWave(i: number): Uint16Array {
    const seg = this.segments[this.segmentIndex(i)]!;
    const off = Number(this.localOffset[i]);
    const end = off + this.columns.event_length[i]!;
    return seg.direct ? seg.direct.read(off, end) : slice<Uint16Array>(seg.pool, off, end);
  }

  /** Event i as float32; with `baselineCorrect`, the record's baseline is subtracted. */
  wave(i: number, opts: { baselineCorrect?: boolean } = {}): Float32Array {
    const seg = this.segments[this.segmentIndex(i)]!;
    const off = Number(this.localOffset[i]);
    const end = off + this.columns.event_length[i]!;
    // Straight from the scratch buffer (or h5wasm's heap) into the result: no intermediate copy.
    const raw = seg.direct ? seg.direct.view(off, end) : sliceU16View(seg.pool, off, end);
    const out = new Float32Array(raw.length);
    out.set(raw);
    const b = opts.baselineCorrect ? this.columns.baseline[i]! : 0;
    if (b !== 0) for (let k = 0; k < out.length; k++) out[k]! -= b;
    return out;
  }

  /**
   * Calls `use(k, samples)` for each `indices[k]` (in record order when `indices` is not
   * ascending, otherwise in the given order), reading nearby waveforms of one segment with one
   * read ({@link MERGE}): a pread at the pool's file offset when the pool is contiguous, else an
   * h5wasm call. `samples` is a view of a scratch buffer (or of h5wasm's heap): `use` must copy
   * or convert it before returning.
   */
  private gather(indices: ArrayLike<number>, use: (k: number, raw: Uint16Array) => void): void {
    const len = this.columns.event_length;
    const n = indices.length;
    // Unsorted indices (a random training batch) are visited in record order so that nearby
    // events share one read; `use` still receives each one's position k in `indices`.
    const order = readOrder(indices);
    const at = order ? (p: number): number => order[p]! : (p: number): number => p;
    let p = 0;
    while (p < n) {
      const i0 = indices[at(p)]!;
      const s = this.segmentIndex(i0);
      const a = Number(this.localOffset[i0]);
      let b = a + len[i0]!;
      let e = p + 1;
      const seg = this.segments[s]!;
      const { gap, span } = seg.direct ? MERGE.direct : MERGE.h5wasm;
      const segStart = seg.start;
      const segEnd = this.segments[s + 1]?.start ?? this.length;
      for (; e < n; e++) {
        const i = indices[at(e)]!;
        if (!(i >= segStart && i < segEnd)) break;
        const o = Number(this.localOffset[i]);
        const end = o + len[i]!;
        if (o < a || o - b > gap || Math.max(b, end) - a > span) break;
        if (end > b) b = end;
      }
      // A view of a scratch buffer (or of h5wasm's heap), valid until the next read: `use` must not keep it.
      const buf = seg.direct ? seg.direct.view(a, b) : sliceU16View(seg.pool, a, b);
      for (let q = p; q < e; q++) {
        const k = at(q);
        const i = indices[k]!;
        const o = Number(this.localOffset[i]) - a;
        use(k, buf.subarray(o, o + len[i]!));
      }
      p = e;
    }
  }

  /**
   * Gathers events into one padded float32 matrix (n × padTo), a mask and the true lengths,
   * ready for a model. `padTo` defaults to the longest event; longer events are truncated.
   */
  waves(indices: ArrayLike<number>, opts: WavesOptions = {}): WavesResult {
    const n = indices.length;
    const lengths = new Int32Array(n);
    let longest = 0;
    for (let k = 0; k < n; k++) {
      this.segmentIndex(indices[k]!); // range check before any allocation
      lengths[k] = this.columns.event_length[indices[k]!]!;
      if (lengths[k]! > longest) longest = lengths[k]!;
    }
    const pad = opts.padTo ?? longest;
    if (!(Number.isInteger(pad) && pad >= 0)) throw new DaqError('DAQ_ERR_TRACE_RANGE', `padTo must be a non-negative integer, found ${pad}`, { details: { padTo: pad } });
    const withMask = opts.mask ?? true;
    const reuse = opts.out;
    if (reuse && (reuse.data.length < n * pad || (withMask && (reuse.mask?.length ?? 0) < n * pad))) {
      throw new DaqError('DAQ_ERR_TRACE_RANGE', `waves: out buffers need ${n * pad} elements (data ${reuse.data.length}, mask ${reuse.mask?.length ?? 'none'})`, { details: { needed: n * pad } });
    }
    // Fresh outputs are uninitialised memory (every element is written below: samples or padding
    // zeros): zeroed allocation costs as much again as the gather on this kind of machine.
    const data = reuse ? reuse.data.subarray(0, n * pad) : uninitialised(Float32Array, n * pad);
    const mask = reuse && withMask ? reuse.mask!.subarray(0, n * pad) : withMask ? uninitialised(Uint8Array, n * pad) : new Uint8Array(0);
    const base = this.columns.baseline;
    const correct = opts.baselineCorrect === true;
    this.gather(indices, (k, raw) => {
      const m = Math.min(raw.length, pad);
      const row = k * pad;
      // Uint16 → Float32 by TypedArray.set (native, vectorised: ~13 GB/s), then the baseline
      // subtracted in place (2× faster than converting and subtracting in one JS loop).
      data.set(m === raw.length ? raw : raw.subarray(0, m), row);
      const b = correct ? base[indices[k]!]! : 0;
      if (b !== 0) for (let s = row, e = row + m; s < e; s++) data[s]! -= b;
      if (m < pad) data.fill(0, row + m, row + pad);
      if (withMask) {
        mask.fill(1, row, row + m);
        if (m < pad) mask.fill(0, row + m, row + pad);
      }
    });
    return { data, mask, lengths };
  }

  /** Rows [start, end) of the events with `tMinPs <= timestamp < tMaxPs` (binary search, no allocation). */
  timeRange(tMinPs: bigint, tMaxPs: bigint): [start: number, end: number] {
    const ts = this.columns.timestamp;
    const a = lowerBound(ts, tMinPs);
    return [a, Math.max(a, lowerBound(ts, tMaxPs, a))];
  }

  /**
   * Indices of events with `tMinPs <= timestamp < tMaxPs` (half-open, so adjacent windows never
   * share an event), by binary search on the sorted `timestamp` column (never `time`); an empty
   * or inverted window gives none. With `channels`, only those channels.
   */
  queryTimeWindow(tMinPs: bigint, tMaxPs: bigint, opts: { channels?: ArrayLike<number> } = {}): Int32Array {
    const ts = this.columns.timestamp;
    const a = lowerBound(ts, tMinPs);
    const b = Math.max(a, lowerBound(ts, tMaxPs, a));
    if (!opts.channels) {
      const out = new Int32Array(b - a);
      for (let k = 0; k < out.length; k++) out[k] = a + k;
      return out;
    }
    const want = new Uint8Array(65536); // int16 channel + 32768
    for (let k = 0; k < opts.channels.length; k++) want[(opts.channels[k]! + 32768) & 0xffff] = 1;
    const ch = this.columns.channel;
    let n = 0;
    for (let i = a; i < b; i++) n += want[ch[i]! + 32768]!;
    const out = new Int32Array(n);
    for (let i = a, o = 0; i < b; i++) if (want[ch[i]! + 32768]) out[o++] = i;
    return out;
  }

  /** Records [start, end) as zero-copy column views (wave_offset run-global). */
  slice(start: number, end: number): RecordColumns {
    const c = this.columns;
    return {
      timestamp: c.timestamp.subarray(start, end),
      pid: c.pid.subarray(start, end),
      channel: c.channel.subarray(start, end),
      baseline: c.baseline.subarray(start, end),
      event_id: c.event_id.subarray(start, end),
      dt: c.dt.subarray(start, end),
      trigger_type: c.trigger_type.subarray(start, end),
      flags: c.flags.subarray(start, end),
      wave_offset: c.wave_offset.subarray(start, end),
      event_length: c.event_length.subarray(start, end),
      time: c.time.subarray(start, end),
    };
  }

  /** The records as an Arrow table (wave_offset run-global; zero-copy over the columns). */
  toArrow(): Table {
    return new Table([makeRecordsBatch(this.columns)]);
  }

  /**
   * Batches of up to `size` records with their raw waveforms, memory bounded by one batch. Each
   * batch is shaped like a waveform batch in flight: `records.wave_offset` indexes `samples`.
   * `range` limits the rows to [start, end) (default all), e.g. a {@link queryTimeWindow} span.
   */
  *iterBatches(size: number, range: { start?: number; end?: number } = {}): Generator<RecordsBatch> {
    if (!(Number.isInteger(size) && size > 0)) throw new DaqError('DAQ_ERR_TRACE_RANGE', `batch size must be a positive integer, found ${size}`, { details: { size } });
    const first = range.start ?? 0;
    const last = range.end ?? this.length;
    if (!(Number.isInteger(first) && Number.isInteger(last) && first >= 0 && last <= this.length)) {
      throw new DaqError('DAQ_ERR_TRACE_RANGE', `rows [${first}, ${last}) are outside 0..${this.length}`, { details: { start: first, end: last } });
    }
    for (let start = first; start < last; start += size) {
      const end = Math.min(last, start + size);
      const cols = this.slice(start, end);
      let total = 0;
      for (let i = start; i < end; i++) total += this.columns.event_length[i]!;
      const samples = uninitialised(Uint16Array, total); // every sample is written by the gather below
      const offsets = new BigInt64Array(end - start);
      const idx = new Int32Array(end - start);
      for (let k = 0; k < idx.length; k++) idx[k] = start + k;
      let o = 0;
      this.gather(idx, (k, raw) => {
        samples.set(raw, o);
        offsets[k] = BigInt(o);
        o += raw.length;
      });
      yield { start, end, records: makeRecordsBatch({ ...cols, wave_offset: offsets }), samples };
    }
  }
}
