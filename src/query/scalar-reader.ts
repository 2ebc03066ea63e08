import { Field, Float64, Int64, Schema, Table, Uint32, Uint8, Utf8, vectorFromArray } from 'apache-arrow';
import type { Dataset, File as H5File } from 'h5wasm/node';
import { DaqError } from '../errors.ts';
import { makeBatch } from '../schema/batch.ts';
import { concatScalarColumns } from '../schema/scalar.ts';
import type { ScalarColumns } from '../schema/scalar.ts';
import { at, dataset, gatherRows, length1d, lowerBound, readAll, required, slice } from './h5-slices.ts';

/** Columns of scalar query results (Arrow tables): timestamp_ns (Unix ns), tag id, value, quality. */
export const pointSchema = new Schema([
  new Field('timestamp_ns', new Int64(), false, new Map([['unit', 'ns']])),
  new Field('tag', new Uint32(), false),
  new Field('value', new Float64(), false),
  new Field('quality', new Uint8(), false),
]);

/** Tag table of a scalar stream: parallel arrays, position k describes tag `id[k]`. */
export interface TagTable {
  id: Uint32Array;
  name: string[];
  unit: string[];
  type: string[];
}

/**
 * Tag indexes up to this many entries (sparse rows, or dense ids) are read whole and kept; larger
 * sparse ones are binary-searched on disk, larger dense ones read one block of counts per lookup.
 */
const SMALL_INDEX = 1 << 16;
/** A tag with more points than this in a segment is binary-searched on disk rather than read whole. */
const LARGE_TAG_ROWS = 1 << 18;
/** A tag with more points than this in a segment is first checked on its end timestamps (two 1-row reads). */
const SKIP_CHECK_ROWS = 1 << 12;

interface Seg {
  f: H5File;
  base: string;
  /** Rows of the segment (every row belongs to one tag of the index). */
  rows: number;
  ix: TagIndex;
  col: { ts: Dataset; value: Dataset; quality: Dataset };
}

/** Tags present in an id range of a segment, with their rows `[start, start+count)`. */
interface Entries {
  tag: Uint32Array;
  start: Float64Array;
  count: Float64Array;
}

/**
 * A segment's tag index, whichever its layout (docs/file-layout.md): rows of tags idLo <= tag < idHi
 * are the contiguous `[rowOf(idLo), rowOf(idHi))`, each tag's sorted by time.
 */
interface TagIndex {
  /** Tag `id`'s rows, or null when it has none in the segment. */
  find(id: number): { start: number; count: number } | null;
  /** First row of the tags >= id (the segment's row count when there are none). */
  rowOf(id: number): number;
  /** The tags present with idLo <= tag < idHi, ascending. */
  entries(idLo: number, idHi: number): Entries;
  /** An id strictly inside (idLo, idHi) splitting the range's tags about evenly, with how many the range holds; null under two. */
  split(idLo: number, idHi: number): { id: number; tags: number } | null;
}

/** Rows of a sorted int64 dataset as numbers (starts and counts of a segment are < 2^53). */
const toF64 = (v: BigInt64Array): Float64Array => Float64Array.from(v, Number);

/**
 * The sparse layout (segments written before 2026-11-24, and segments where few ids have points):
 * one row (tag, start, count) per tag present, sorted by tag. Small indexes are read whole; larger
 * ones are binary-searched on disk.
 */
class SparseIndex implements TagIndex {
  private readonly n: number;
  private ids: Uint32Array | null = null;
  constructor(
    private readonly tag: Dataset,
    private readonly start: Dataset,
    private readonly count: Dataset,
    private readonly rows: number,
  ) {
    this.n = length1d(tag);
  }

  /** First row of the index whose tag is >= id (binary search; on disk for big indexes). */
  private lowerBound(id: number): number {
    if (id >= 2 ** 32) return this.n;
    let lo = 0;
    let hi = this.n;
    if (this.n <= SMALL_INDEX) {
      this.ids ??= readAll<Uint32Array>(this.tag);
      const ids = this.ids;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (ids[mid]! < id) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    }
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (at<number>(this.tag, mid) < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private tagAt(k: number): number {
    return this.ids ? this.ids[k]! : at<number>(this.tag, k);
  }

  find(id: number): { start: number; count: number } | null {
    const k = this.lowerBound(id);
    if (k >= this.n || this.tagAt(k) !== id) return null;
    const count = Number(at<bigint>(this.count, k));
    return count > 0 ? { start: Number(at<bigint>(this.start, k)), count } : null;
  }

  rowOf(id: number): number {
    const k = this.lowerBound(id);
    return k < this.n ? Number(at<bigint>(this.start, k)) : this.rows;
  }

  entries(idLo: number, idHi: number): Entries {
    const k0 = this.lowerBound(idLo);
    const k1 = this.lowerBound(idHi);
    if (k1 <= k0) return { tag: new Uint32Array(0), start: new Float64Array(0), count: new Float64Array(0) };
    return { tag: slice<Uint32Array>(this.tag, k0, k1), start: toF64(slice<BigInt64Array>(this.start, k0, k1)), count: toF64(slice<BigInt64Array>(this.count, k0, k1)) };
  }

  split(idLo: number, idHi: number): { id: number; tags: number } | null {
    const k0 = this.lowerBound(idLo);
    const k1 = this.lowerBound(idHi);
    return k1 - k0 >= 2 ? { id: this.tagAt((k0 + k1) >>> 1), tags: k1 - k0 } : null;
  }
}

/** Dense counts: uint8, uint16 or uint32, the narrowest holding the segment's largest count. */
type Counts = Uint8Array | Uint16Array | Uint32Array;

/**
 * The dense layout: `count[id]` for every id up to the largest present (0 when absent), rows in id
 * order, and `block_start[j]`, the first row of id `j·block`. One tag's rows take one read of the
 * counts of its block (one chunk) and the block starts (read once per segment); small indexes
 * (up to {@link SMALL_INDEX} ids) are read whole and kept as prefix sums.
 */
class DenseIndex implements TagIndex {
  private readonly n: number;
  private blockStart: Float64Array | null = null;
  /** Prefix sums of the counts (n + 1), read on first use, for small indexes. */
  private small: Float64Array | null = null;
  constructor(
    private readonly count: Dataset,
    private readonly blockStartDs: Dataset,
    private readonly block: number,
    private readonly rows: number,
  ) {
    this.n = length1d(count);
  }

  private get prefix(): Float64Array | null {
    if (this.small || this.n > SMALL_INDEX) return this.small;
    const c = readAll<Counts>(this.count);
    const p = new Float64Array(this.n + 1);
    for (let i = 0; i < this.n; i++) p[i + 1] = p[i]! + c[i]!;
    this.small = p;
    return p;
  }

  /** Rows of ids [id0, id1] (inclusive, id1 < n) as the first row of id0 and the counts of the ids (one chunk when in one block). */
  private run(id0: number, id1: number): { row: number; counts: Counts } {
    const j = Math.floor(id0 / this.block);
    const b0 = j * this.block;
    this.blockStart ??= toF64(readAll<BigInt64Array>(this.blockStartDs));
    const c = slice<Counts>(this.count, b0, id1 + 1);
    let row = this.blockStart[j]!;
    for (let i = 0; i < id0 - b0; i++) row += c[i]!;
    return { row, counts: c.subarray(id0 - b0) };
  }

  find(id: number): { start: number; count: number } | null {
    if (id >= this.n) return null;
    const p = this.prefix;
    if (p) {
      const count = p[id + 1]! - p[id]!;
      return count > 0 ? { start: p[id]!, count } : null;
    }
    const r = this.run(id, id);
    const count = r.counts[0]!;
    return count > 0 ? { start: r.row, count } : null;
  }

  rowOf(id: number): number {
    if (id >= this.n) return this.rows;
    const p = this.prefix;
    if (p) return p[id]!;
    if (id % this.block === 0) {
      this.blockStart ??= toF64(readAll<BigInt64Array>(this.blockStartDs));
      return this.blockStart[id / this.block]!;
    }
    return this.run(id, id - 1).row; // reads the counts of [block start, id)
  }

  entries(idLo: number, idHi: number): Entries {
    const a = Math.min(idLo, this.n);
    const b = Math.min(idHi, this.n);
    if (b <= a) return { tag: new Uint32Array(0), start: new Float64Array(0), count: new Float64Array(0) };
    let row: number;
    let counts: ArrayLike<number>;
    const p = this.prefix;
    if (p) {
      row = p[a]!;
      counts = Float64Array.from({ length: b - a }, (_, i) => p[a + i + 1]! - p[a + i]!);
    } else {
      const r = this.run(a, b - 1);
      row = r.row;
      counts = r.counts;
    }
    let m = 0;
    for (let i = 0; i < counts.length; i++) if (counts[i]! > 0) m++;
    const out = { tag: new Uint32Array(m), start: new Float64Array(m), count: new Float64Array(m) };
    let k = 0;
    for (let i = 0; i < counts.length; i++) {
      const c = counts[i]!;
      if (c === 0) continue;
      out.tag[k] = a + i;
      out.start[k] = row;
      out.count[k] = c;
      row += c;
      k++;
    }
    return out;
  }

  split(idLo: number, idHi: number): { id: number; tags: number } | null {
    const a = Math.min(idLo, this.n);
    const b = Math.min(idHi, this.n);
    return b - a >= 2 ? { id: (a + b) >>> 1, tags: b - a } : null;
  }
}

/** The tag index of `/<base>/tag_index` in either layout, or null when the segment has none. */
function openTagIndex(f: H5File, base: string, rows: number): TagIndex | null {
  const p = `${base}/tag_index`;
  const count = dataset(f, `${p}/count`);
  if (!count) return null;
  const tag = dataset(f, `${p}/tag`);
  if (tag) return new SparseIndex(tag, required(f, `${p}/start`), count, rows);
  const g = f.get(p) as { attrs?: Record<string, { value: unknown }> } | null;
  const block = Number(g?.attrs?.['block_tags']?.value ?? 0);
  if (!(block > 0)) throw new DaqError('DAQ_ERR_HDF5', `${f.filename}: /${p} has a dense count but no block_tags attribute`, { details: { file: f.filename, field: p } });
  return new DenseIndex(count, required(f, `${p}/block_start`), block, rows);
}

type Cols = ScalarColumns;

const emptyCols = (n: number): Cols => ({ timestampNs: new BigInt64Array(n), tag: new Uint32Array(n), value: new Float64Array(n), quality: new Uint8Array(n) });

/** First row in [lo, hi) of a sorted int64 dataset whose value is ≥ x, one element read per step. */
function diskLowerBound(d: Dataset, x: bigint, lo: number, hi: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (at<bigint>(d, mid) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Queries over one scalar stream of a run (`/scalars/<stream>` in each segment). Points of one tag
 * in a segment are the rows `[start, start+count)` its tag index names, sorted by time, so one
 * tag's window reads only its rows (a few dataset slices). Segments are in time order, so a tag's
 * points across segments are concatenated segment after segment.
 */
export class ScalarStreamReader {
  private readonly segs: Seg[];
  private table: TagTable | null = null;
  private byName: Map<string, number> | null = null;

  constructor(
    readonly stream: string,
    files: H5File[],
  ) {
    this.segs = [];
    for (const f of files) {
      const base = `scalars/${stream}`;
      const ts = dataset(f, `${base}/timestamp_ns`);
      if (!ts) continue;
      const rows = length1d(ts);
      // Segments written before 2026-11-23 also hold a per-point `tag` column and
      // `tag_index/t_{min,max}_ns`; neither is needed (the index names each row's tag).
      const ix = openTagIndex(f, base, rows);
      if (!ix) continue;
      const r = (p: string) => required(f, `${base}/${p}`);
      this.segs.push({ f, base, rows, ix, col: { ts, value: r('value'), quality: r('quality') } });
    }
  }

  /** The tag table (from the newest segment that has one: the sink writes the full table each time). */
  tags(): TagTable {
    if (this.table) return this.table;
    for (let k = this.segs.length - 1; k >= 0; k--) {
      const s = this.segs[k]!;
      const id = dataset(s.f, `${s.base}/tags/id`);
      if (!id || length1d(id) === 0) continue;
      const str = (p: string) => {
        const d = dataset(s.f, `${s.base}/tags/${p}`);
        return d ? (readAll<ArrayLike<string>>(d) as unknown as string[]).map(String) : new Array<string>(length1d(id)).fill('');
      };
      this.table = { id: readAll<Uint32Array>(id), name: str('name'), unit: str('unit'), type: str('type') };
      return this.table;
    }
    this.table = { id: new Uint32Array(0), name: [], unit: [], type: [] };
    return this.table;
  }

  /** Tag id of a tag name. */
  tagId(name: string): number {
    if (!this.byName) {
      const t = this.tags();
      this.byName = new Map();
      for (let k = 0; k < t.id.length; k++) this.byName.set(t.name[k]!, t.id[k]!);
    }
    const id = this.byName.get(name);
    if (id === undefined) throw new DaqError('DAQ_ERR_STREAM_UNKNOWN', `stream "${this.stream}" has no tag "${name}"`, { details: { stream: this.stream, tag: name } });
    return id;
  }

  /** Tag `id`'s points with tMin <= t < tMax in one segment (reads only that tag's rows). */
  private tagRows(s: Seg, id: number, tMin: bigint, tMax: bigint): Cols | null {
    const e = s.ix.find(id);
    if (!e) return null;
    const { start, count } = e;
    // A long run of rows outside the window is skipped on its first and last timestamps.
    if (count > SKIP_CHECK_ROWS && (at<bigint>(s.col.ts, start + count - 1) < tMin || at<bigint>(s.col.ts, start) >= tMax)) return null;
    let a: number;
    let b: number;
    let ts: BigInt64Array;
    if (count > LARGE_TAG_ROWS) {
      a = diskLowerBound(s.col.ts, tMin, start, start + count);
      b = diskLowerBound(s.col.ts, tMax, a, start + count);
      ts = slice<BigInt64Array>(s.col.ts, a, b);
    } else {
      const all = slice<BigInt64Array>(s.col.ts, start, start + count);
      const la = lowerBound(all, tMin);
      const lb = lowerBound(all, tMax, la);
      ts = all.subarray(la, lb);
      a = start + la;
      b = start + lb;
    }
    if (b <= a) return null;
    return { timestampNs: ts, tag: new Uint32Array(b - a).fill(id), value: slice<Float64Array>(s.col.value, a, b), quality: slice<Uint8Array>(s.col.quality, a, b) };
  }

  /** One tag's points with `tMinNs <= timestamp_ns < tMaxNs`, in time order. */
  readTag(name: string, tMinNs: bigint, tMaxNs: bigint): Table {
    const id = this.tagId(name);
    return toTable(this.segs.map((s) => this.tagRows(s, id, tMinNs, tMaxNs)).filter((c): c is Cols => c !== null));
  }

  /**
   * Points of the named tags (default: every tag) with `tMinNs <= timestamp_ns < tMaxNs`, ordered
   * by tag id, then time, in one table. Named tags read only their rows; all tags read each
   * overlapping segment's rows once, sequentially. For windows larger than memory use
   * {@link iterWindow}.
   */
  readWindow(tMinNs: bigint, tMaxNs: bigint, tags?: string[]): Table {
    return toTable([...this.windowParts(tMinNs, tMaxNs, tags, Infinity)]);
  }

  /**
   * {@link readWindow} in pieces of at most 2·`maxRows` stored points (default 2^20), in the same
   * order: tag range by tag range (every segment's rows of those tags are contiguous), so memory is
   * bounded by the piece, not the window. Only a single tag with more stored points than that
   * (over all segments) makes a bigger piece; with `tags`, pieces are cut between tags and segments.
   * `onScanned(rows)` reports progress in stored rows examined, out of {@link storedRows}.
   */
  *iterWindow(tMinNs: bigint, tMaxNs: bigint, opts: { tags?: string[]; maxRows?: number; onScanned?: (rows: number) => void } = {}): Generator<Table> {
    for (const part of this.windowParts(tMinNs, tMaxNs, opts.tags, opts.maxRows ?? 1 << 20, opts.onScanned)) yield toTable([part]);
  }

  /** Points stored for this stream, or for the named tags (from the tag indexes; no point is read). */
  storedRows(tags?: string[]): number {
    if (!tags) return this.segs.reduce((a, s) => a + length1d(s.col.ts), 0);
    let n = 0;
    for (const id of new Set(tags.map((t) => this.tagId(t)))) {
      for (const s of this.segs) n += s.ix.find(id)?.count ?? 0;
    }
    return n;
  }

  /** Pieces of the window (tag-major, then time), each about `maxRows` points. */
  private *windowParts(tMinNs: bigint, tMaxNs: bigint, tags: string[] | undefined, maxRows: number, onScanned?: (rows: number) => void): Generator<Cols> {
    let scanned = 0;
    if (tags) {
      // Named tags: each tag's rows, segment after segment; pieces cut between tags or segments.
      const ids = [...new Set(tags.map((n) => this.tagId(n)))].sort((x, y) => x - y);
      let acc: Cols[] = [];
      let rows = 0;
      for (const id of ids) {
        for (const s of this.segs) {
          if (onScanned) scanned += s.ix.find(id)?.count ?? 0;
          const c = this.tagRows(s, id, tMinNs, tMaxNs);
          if (!c) continue;
          acc.push(c);
          rows += c.timestampNs.length;
          if (rows >= maxRows) {
            yield concat(acc);
            acc = [];
            rows = 0;
          }
        }
        onScanned?.(scanned);
      }
      if (acc.length > 0) yield concat(acc);
      return;
    }
    // Every tag, by ranges of tag ids: in each segment a range's rows are one contiguous slice.
    // A range is split in two while it holds more than 2·maxRows stored points and more than one
    // tag id (so a dense tag gets a piece of its own); ranges cover every id, including any
    // missing from the tag table.
    const stack: Array<[number, number]> = [[0, 2 ** 32]];
    while (stack.length > 0) {
      const [idLo, idHi] = stack.pop()!;
      if (Number.isFinite(maxRows) && idHi - idLo > 1) {
        const stored = this.rangeStoredRows(idLo, idHi);
        if (stored > 2 * maxRows) {
          // Split at the middle id present in the first segment that has some, else halve.
          const mid = this.splitId(idLo, idHi);
          stack.push([mid, idHi], [idLo, mid]); // low half first
          continue;
        }
        if (stored === 0) continue;
      }
      const piece = this.rangeRows(idLo, idHi, tMinNs, tMaxNs);
      scanned += piece.scanned;
      if (piece.cols.timestampNs.length > 0) yield piece.cols;
      onScanned?.(scanned);
    }
  }

  /** Stored points of tags idLo <= tag < idHi over every segment (index reads only). */
  private rangeStoredRows(idLo: number, idHi: number): number {
    let n = 0;
    for (const s of this.segs) if (s.rows > 0) n += s.ix.rowOf(idHi) - s.ix.rowOf(idLo);
    return n;
  }

  /** An id strictly inside (idLo, idHi) splitting the range's tags about evenly. */
  private splitId(idLo: number, idHi: number): number {
    let best = -1;
    let bestTags = -1;
    for (const s of this.segs) {
      const sp = s.ix.split(idLo, idHi);
      if (sp && sp.tags > bestTags) {
        bestTags = sp.tags;
        best = sp.id;
      }
    }
    return best > idLo && best < idHi ? best : idLo + Math.floor((idHi - idLo) / 2);
  }

  /** Rows of tags idLo <= tag < idHi in the window, from every segment, tag-major then time. */
  private rangeRows(idLo: number, idHi: number, tMinNs: bigint, tMaxNs: bigint): { cols: Cols; scanned: number } {
    const per: Array<{ cols: Cols; runTag: Uint32Array; runOff: Int32Array; runLen: Int32Array }> = [];
    let scanned = 0;
    for (const s of this.segs) {
      if (s.rows === 0) continue;
      const { tag: ixTag, start, count } = s.ix.entries(idLo, idHi);
      const m = ixTag.length;
      if (m === 0) continue;
      const r0 = start[0]!;
      const r1 = start[m - 1]! + count[m - 1]!;
      scanned += r1 - r0;
      const ts = slice<BigInt64Array>(s.col.ts, r0, r1);
      const runA = new Int32Array(m);
      const runB = new Int32Array(m);
      let total = 0;
      for (let k = 0; k < m; k++) {
        const a0 = start[k]! - r0;
        const b0 = a0 + count[k]!;
        runA[k] = lowerBound(ts, tMinNs, a0, b0);
        runB[k] = Math.max(runA[k]!, lowerBound(ts, tMaxNs, runA[k]!, b0));
        total += runB[k]! - runA[k]!;
      }
      if (total === 0) continue;
      const value = slice<Float64Array>(s.col.value, r0, r1);
      const quality = slice<Uint8Array>(s.col.quality, r0, r1);
      const cols = emptyCols(total);
      const runOff = new Int32Array(m);
      const runLen = new Int32Array(m);
      let o = 0;
      for (let k = 0; k < m; k++) {
        const a = runA[k]!;
        const b = runB[k]!;
        runOff[k] = o;
        runLen[k] = b - a;
        cols.timestampNs.set(ts.subarray(a, b), o);
        cols.tag.fill(ixTag[k]!, o, o + b - a);
        cols.value.set(value.subarray(a, b), o);
        cols.quality.set(quality.subarray(a, b), o);
        o += b - a;
      }
      per.push({ cols, runTag: ixTag, runOff, runLen });
    }
    // Tag-major across segments: each tag's runs, segment after segment.
    const total = per.reduce((a, p) => a + p.cols.timestampNs.length, 0);
    const out = emptyCols(total);
    const pos = new Int32Array(per.length);
    let o = 0;
    for (;;) {
      let tag = -1;
      for (let p = 0; p < per.length; p++) if (pos[p]! < per[p]!.runTag.length && (tag < 0 || per[p]!.runTag[pos[p]!]! < tag)) tag = per[p]!.runTag[pos[p]!]!;
      if (tag < 0) break;
      for (let p = 0; p < per.length; p++) {
        const r = per[p]!;
        const k = pos[p]!;
        if (k >= r.runTag.length || r.runTag[k] !== tag) continue;
        const a = r.runOff[k]!;
        const b = a + r.runLen[k]!;
        out.timestampNs.set(r.cols.timestampNs.subarray(a, b), o);
        out.tag.set(r.cols.tag.subarray(a, b), o);
        out.value.set(r.cols.value.subarray(a, b), o);
        out.quality.set(r.cols.quality.subarray(a, b), o);
        o += b - a;
        pos[p] = k + 1;
      }
    }
    return { cols: out, scanned };
  }

  /**
   * The newest stored point of every tag that has one: columns tag, name, timestamp_ns, value,
   * quality, ordered by tag id. Reads the last row of each tag, newest segment first, in few slices.
   */
  lastValues(): Table {
    const t = this.tags();
    const posOf = new Map<number, number>();
    for (let k = 0; k < t.id.length; k++) posOf.set(t.id[k]!, k);
    const found = new Uint8Array(t.id.length);
    const ts = new BigInt64Array(t.id.length);
    const value = new Float64Array(t.id.length);
    const quality = new Uint8Array(t.id.length);
    let left = t.id.length;
    for (let k = this.segs.length - 1; k >= 0 && left > 0; k--) {
      const s = this.segs[k]!;
      if (s.rows === 0) continue;
      const { tag: ixTag, start, count } = s.ix.entries(0, 2 ** 32);
      const rows: number[] = [];
      const dest: number[] = [];
      for (let j = 0; j < ixTag.length; j++) {
        const p = posOf.get(ixTag[j]!);
        if (p === undefined || found[p] || count[j]! === 0) continue;
        rows.push(start[j]! + count[j]! - 1);
        dest.push(p);
        found[p] = 1;
        left--;
      }
      const gts = gatherRows(s.col.ts, rows, new BigInt64Array(rows.length));
      const gv = gatherRows(s.col.value, rows, new Float64Array(rows.length));
      const gq = gatherRows(s.col.quality, rows, new Uint8Array(rows.length));
      dest.forEach((p, j) => {
        ts[p] = gts[j]!;
        value[p] = gv[j]!;
        quality[p] = gq[j]!;
      });
    }
    const order = [...t.id.keys()].filter((k) => found[k]).sort((x, y) => t.id[x]! - t.id[y]!);
    return new Table({
      tag: vectorFromArray(Uint32Array.from(order, (k) => t.id[k]!)),
      name: vectorFromArray(order.map((k) => t.name[k]!), new Utf8()),
      timestamp_ns: vectorFromArray(BigInt64Array.from(order, (k) => ts[k]!)),
      value: vectorFromArray(Float64Array.from(order, (k) => value[k]!)),
      quality: vectorFromArray(Uint8Array.from(order, (k) => quality[k]!)),
    });
  }

  /** Segments holding this stream (time-ordered: segment k's points precede segment k+1's). */
  segmentCount(): number {
    return this.segs.length;
  }

  /** Every point of segment `k` of this stream, sorted by tag, then time. */
  readSegment(k: number): { timestampNs: BigInt64Array; tag: Uint32Array; value: Float64Array; quality: Uint8Array } {
    const s = this.segs[k];
    if (!s) throw new DaqError('DAQ_ERR_RUN_NOT_FOUND', `stream "${this.stream}" has ${this.segs.length} segments, not ${k + 1}`, { details: { stream: this.stream } });
    return segmentColumns(s);
  }

  /** Every point of the stream, segment after segment (each sorted by tag, then time). */
  readAll(): ScalarColumns {
    return concat(this.segs.map(segmentColumns));
  }
}

/** Every row of a segment; each row's tag from the tag index (a tag names rows [start, start+count)). */
function segmentColumns(s: Seg): Cols {
  const ts = readAll<BigInt64Array>(s.col.ts);
  const tag = new Uint32Array(ts.length);
  if (s.rows > 0) {
    const { tag: ixTag, start, count } = s.ix.entries(0, 2 ** 32);
    for (let k = 0; k < ixTag.length; k++) tag.fill(ixTag[k]!, start[k]!, start[k]! + count[k]!);
  }
  return { timestampNs: ts, tag, value: readAll<Float64Array>(s.col.value), quality: readAll<Uint8Array>(s.col.quality) };
}

/** One segment's columns as they are; several concatenated once. */
const concat = (parts: Cols[]): Cols => (parts.length === 1 ? parts[0]! : concatScalarColumns(parts));

function toTable(parts: Cols[]): Table {
  const c = concat(parts.length ? parts : [emptyCols(0)]);
  return new Table([makeBatch(pointSchema, [c.timestampNs, c.tag, c.value, c.quality])]);
}
