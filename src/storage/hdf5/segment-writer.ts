import fs from 'node:fs';
import path from 'node:path';
import h5wasm, { Module, dtype_to_metadata } from 'h5wasm/node';
import type { Dataset, Group } from 'h5wasm/node';
import { DaqError, StorageError } from '../../errors.ts';
import { commitFileSync } from '../../util/fsync-dir.ts';
import { RECORD_FIELDS } from '../../schema/waveform.ts';
import type { ScalarSegmentPart, SegmentContent, SegmentSummary, TableSegmentPart, WaveSegmentPart } from '../segment.ts';
import { sortByTagThenTime } from './tag-sort.ts';
import type { SortedScalars } from './tag-sort.ts';
import { encodeTagTable, isEncodedTagTable } from './tag-table.ts';
import type { FixedStrings } from './tag-table.ts';

/**
 * Chunk lengths (elements), measured with `HDF5_BENCH_SWEEP=1 node bin/run-ts.js
 * test/bench/hdf5.bench.ts` (table in docs/file-layout.md). Reading a slice of a compressed
 * dataset inflates every chunk it touches, and HDF5's default 1 MiB chunk cache cannot keep a
 * larger chunk, so small chunks make one tag's window cheap: 2^14 points per scalar chunk read
 * one 2000-point tag in ~1 ms against ~25 ms with 2^20, for the same bytes on disk (±3%) and a
 * faster write. Uncompressed `wave_pool` chunks of 2^16 samples (128 KiB) read a random 1000-sample
 * waveform in ~55 µs against ~165 µs at 2^20, at the same write speed.
 */
export const CHUNKS = { scalar: 1 << 12, scalarValue: 1 << 11, wavePool: 1 << 16, records: 1 << 16, table: 1 << 16 } as const;
/** Deflate level: 1 is 2-3x faster than 6 and within 2% of its size on these columns (measured). */
export const DEFLATE_LEVEL = Number(process.env['DAQ_DEFLATE_LEVEL'] ?? 1);

/**
 * How a dataset is filtered. h5wasm sets one filter per dataset, so no shuffle+deflate pair;
 * every choice here is built into libhdf5 and read by stock h5py, HDFView and silx with no plugin.
 * - `deflate`: gzip, level {@link DEFLATE_LEVEL}.
 * - `scaleoffset`: lossless integer scale-offset (HDF5 filter 6, minimum bits per chunk): stores
 *   each chunk's values minus its minimum in as many bits as its range needs; for int64 ns
 *   timestamps spanning a segment that is ~5 bytes, whatever the jitter, 3-4x faster than deflate.
 */
export type Codec = 'raw' | 'deflate' | 'scaleoffset';

/** HDF5 filter ids and client data for h5wasm's `compression` / `compression_opts`. */
const FILTER: Record<Exclude<Codec, 'raw'>, () => { id: number | 'gzip'; opts: number[] }> = {
  deflate: () => ({ id: 'gzip', opts: [DEFLATE_LEVEL] }),
  // H5Z_FILTER_SCALEOFFSET = 6, cd_values = [H5Z_SO_INT = 2, H5Z_SO_INT_MINBITS_DEFAULT = 0]
  scaleoffset: () => ({ id: 6, opts: [2, 0] }),
};

/**
 * Chunk length for n elements with a target of `target`: chunks of equal size (the last one is
 * not a mostly empty chunk that an uncompressed dataset would still allocate in full).
 */
export function chunkLength(n: number, target: number): number {
  if (n <= target) return Math.max(1, n);
  return Math.ceil(n / Math.ceil(n / target));
}

const DTYPES: Record<string, string> = {
  timestamp: '<q',
  pid: '<i',
  channel: '<h',
  baseline: '<d',
  event_id: '<q',
  dt: '<i',
  trigger_type: '<h',
  flags: '<I',
  wave_offset: '<q',
  event_length: '<i',
  time: '<q',
};

/** The worker-thread writer (one long-lived thread, reused across segments). */
export { SegmentWriter } from './segment-writer-pool.ts';

/** `seg-<index zero-padded to 6>.h5`. */
export function segmentFileName(index: number): string {
  return `seg-${String(index).padStart(6, '0')}.h5`;
}

let ready: Promise<unknown> | null = null;
/** h5wasm's WebAssembly module, loaded once. */
export function h5ready(): Promise<unknown> {
  ready ??= h5wasm.ready;
  return ready;
}

/** h5wasm often reports failure by returning null or printing to stderr: check what it made. */
function check<T>(value: T | null | undefined, what: string, file: string): T {
  if (value === null || value === undefined) {
    throw new DaqError('DAQ_ERR_HDF5', `h5wasm could not ${what} in ${file}`, { details: { file } });
  }
  return value;
}

/** A scalar int64 attribute (shape [] : h5py reads a numpy int64, not a 1-element array). */
function int64Attr(obj: Pick<Group, 'create_attribute'>, name: string, v: bigint): void {
  obj.create_attribute(name, new BigInt64Array([v]) as never, [], '<q');
}

interface ColumnSpec {
  dtype: string | null;
  codec: Codec;
  chunk: number;
  unit?: string | undefined;
  /**
   * Chunks of exactly `chunk` elements (the last one partial) rather than cut equal: a reader can
   * then count on element `j·chunk` starting a chunk (the dense tag index's blocks).
   */
  aligned?: boolean;
  /**
   * Contiguous layout (no chunks, fixed size, never filtered): the raw data is one run of bytes in
   * the file, which the query side reads with plain positional reads (src/query/h5-locate.ts).
   */
  contiguous?: boolean;
}

function dataset(group: Group, name: string, data: ArrayLike<unknown> & { length: number }, spec: ColumnSpec, file: string): Dataset {
  const n = data.length;
  const args: Parameters<Group['create_dataset']>[0] = { name, data: data as never, shape: [n] };
  if (spec.dtype) args.dtype = spec.dtype;
  if (n > 0 && !spec.contiguous) {
    args.chunks = [spec.aligned ? Math.min(n, spec.chunk) : chunkLength(n, spec.chunk)];
    args.maxshape = [null];
    if (spec.codec !== 'raw') {
      const f = FILTER[spec.codec]();
      args.compression = f.id;
      args.compression_opts = f.opts;
    }
  }
  const ds = check(group.create_dataset(args), `create dataset ${name}`, file);
  const shape = ds.shape;
  if (!shape || shape[0] !== n) throw new DaqError('DAQ_ERR_HDF5', `h5wasm wrote ${shape?.[0]} elements to ${name} in ${file}, expected ${n}`, { details: { file, field: name } });
  if (spec.unit) ds.create_attribute('units', spec.unit);
  return ds;
}

/**
 * As {@link dataset} for `n > 0` elements already in h5wasm's heap at `ptr` (chunked, filtered by
 * `spec`), through h5wasm's low-level `create_dataset`: no copy into the heap.
 */
function heapDataset(group: Group, name: string, ptr: number, n: number, spec: ColumnSpec, file: string): Dataset {
  if (!spec.dtype || spec.contiguous || n <= 0) throw new Error(`heapDataset ${name}: needs a dtype, chunks and data`);
  const f = spec.codec === 'raw' ? null : FILTER[spec.codec]();
  const meta = {
    ...dtype_to_metadata(spec.dtype),
    shape: [BigInt(n)],
    maxshape: [H5S_UNLIMITED],
    chunks: [BigInt(spec.aligned ? Math.min(n, spec.chunk) : chunkLength(n, spec.chunk))],
    compression: f ? (f.id === 'gzip' ? 1 : f.id) : 0,
    compression_opts: f ? f.opts : [],
    track_order: false,
  };
  const status = Module.create_dataset(group.file_id, `${group.path}/${name}`, BigInt(ptr), meta as never);
  if (status < 0) throw new DaqError('DAQ_ERR_HDF5', `h5wasm could not create dataset ${group.path}/${name} in ${file}`, { details: { file, field: name } });
  const ds = check(group.get(name) as Dataset | null, `create dataset ${name}`, file);
  const shape = ds.shape;
  if (!shape || shape[0] !== n) throw new DaqError('DAQ_ERR_HDF5', `h5wasm wrote ${shape?.[0]} elements to ${name} in ${file}, expected ${n}`, { details: { file, field: name } });
  if (spec.unit) ds.create_attribute('units', spec.unit);
  return ds;
}

/** Record columns: deflate (sorted ids, offsets and small codes shrink 3-20x), baseline raw. */
const RECORD_SPECS = Object.fromEntries(
  RECORD_FIELDS.map((f) => [f.name, { dtype: DTYPES[f.name]!, codec: f.name === 'baseline' ? 'raw' : 'deflate', chunk: CHUNKS.records, unit: f.unit || undefined } satisfies ColumnSpec]),
) as Record<string, ColumnSpec>;

/** Scalar columns: ≤ 12 bytes per float64 point on disk (measured: docs/file-layout.md). */
export const SCALAR_SPECS = {
  timestamp_ns: { dtype: '<q', codec: 'scaleoffset', chunk: CHUNKS.scalar, unit: 'ns' },
  // 2^11 (16 KiB): h5wasm's zlib deflates the float64 values ~15 % faster than in 2^12 chunks, at
  // the same size (docs/file-layout.md); value deflate is most of the segment writer's time.
  value: { dtype: '<d', codec: 'deflate', chunk: CHUNKS.scalarValue },
  quality: { dtype: '<B', codec: 'deflate', chunk: CHUNKS.scalar },
} as const satisfies Record<string, ColumnSpec>;


function writeRecords(group: Group, part: WaveSegmentPart, file: string): void {
  const records = check(group.create_group('records'), 'create group records', file);
  records.create_attribute('NX_class', 'NXdata');
  records.create_attribute('signal', 'event_length');
  records.create_attribute('axes', 'timestamp');
  for (const f of RECORD_FIELDS) {
    dataset(records, f.name, part.records[f.name], RECORD_SPECS[f.name]!, file);
  }
  if (part.pool) {
    // Written once, on the acquisition path, into its own HDF5 file (`pool-header.ts`): linked,
    // not copied. h5py, h5dump and h5wasm follow the link relative to this file's folder.
    check(group.create_external_link(part.pool.file, '/wave_pool', 'wave_pool') as unknown as number, `link wave_pool to ${part.pool.file}`, file);
    return;
  }
  // Contiguous: the pool's size is known when the segment is written, and readers then find every
  // waveform at `offset + 2 × wave_offset` in the file (docs/file-layout.md).
  const pool = dataset(group, 'wave_pool', part.samples, { dtype: '<H', codec: 'raw', chunk: CHUNKS.wavePool, unit: 'ADC counts', contiguous: true }, file);
  int64Attr(pool, 'global_offset', part.globalSampleOffset);
  pool.create_attribute('dt_ns', part.dtNs);
}

/** `consume`: the part's arrays are let go once sorted (a writer thread's peak holds one copy, not two). */
function writeScalars(root: Group, part: ScalarSegmentPart, segmentIndex: number, file: string, consume: boolean, tagIndex: TagIndexLayout): void {
  const g = check(root.create_group(part.stream), `create group ${part.stream}`, file);
  g.create_attribute('NX_class', 'NXdata');
  g.create_attribute('signal', 'value');
  g.create_attribute('axes', 'timestamp_ns');
  const n = part.tag.length;
  // The columns are sorted straight into h5wasm's heap, where HDF5 reads them from: no sorted copy
  // in JS memory to allocate and then copy into the heap (the high-level create_dataset's way).
  const ptr = n > 0 ? Module._malloc(17 * n) : 0;
  if (n > 0 && !ptr) throw new DaqError('DAQ_ERR_HDF5', `h5wasm could not allocate ${17 * n} bytes for ${part.stream} in ${file}`, { details: { file } });
  try {
    // Views taken after the malloc (a heap that grows gets a new buffer); 8-byte columns first.
    const heap = Module.HEAPU8.buffer;
    const s = sortByTagThenTime(part, n > 0 ? { timestampNs: new BigInt64Array(heap, ptr, n), value: new Float64Array(heap, ptr + 8 * n, n), quality: new Uint8Array(heap, ptr + 16 * n, n) } : undefined);
    if (consume) {
      part.timestampNs = new BigInt64Array(0);
      part.tag = new Uint32Array(0);
      part.value = new Float64Array(0);
      part.quality = new Uint8Array(0);
    }
    if (n > 0) {
      heapDataset(g, 'timestamp_ns', ptr, n, SCALAR_SPECS.timestamp_ns, file);
      heapDataset(g, 'value', ptr + 8 * n, n, SCALAR_SPECS.value, file);
      heapDataset(g, 'quality', ptr + 16 * n, n, SCALAR_SPECS.quality, file);
    } else {
      dataset(g, 'timestamp_ns', s.timestampNs, SCALAR_SPECS.timestamp_ns, file);
      dataset(g, 'value', s.value, SCALAR_SPECS.value, file);
      dataset(g, 'quality', s.quality, SCALAR_SPECS.quality, file);
    }
    writeTagIndex(g, s.index, tagIndex, file);
  } finally {
    if (ptr) Module._free(ptr);
  }
  // The tag table is stored when it changed (1M names cost ~1 s per segment to store): the
  // attribute says which segment holds the table these ids refer to.
  g.create_attribute('tags_segment', part.tagsSegment ?? segmentIndex, [], '<i');
  if (part.tags === null) return;
  const tags = check(g.create_group('tags'), 'create group tags', file);
  const table = isEncodedTagTable(part.tags) ? part.tags : encodeTagTable(part.tags);
  dataset(tags, 'id', table.id, { dtype: '<I', codec: 'deflate', chunk: CHUNKS.table }, file);
  // Fixed-length strings from bytes encoded once per tag table (tag-table.ts), deflated.
  for (const key of ['name', 'unit', 'type'] as const) writeFixedStrings(tags, key, table[key], CHUNKS.table, DEFLATE_LEVEL, file);
}

/**
 * Tag-index layouts (docs/file-layout.md): `sparse`, one row (tag, start, count) per tag present;
 * `dense`, a count for every tag id from 0 to the largest present (0 for absent tags), each row's
 * start implied by the prefix sum, with the first row of every {@link TAG_BLOCK} ids stored in
 * `block_start`. `auto` picks the smaller.
 */
export type TagIndexLayout = 'auto' | 'sparse' | 'dense';

/**
 * Ids per `tag_index/block_start` entry, and the chunk length of a dense `tag_index/count`: one
 * tag's rows are found by reading one chunk of counts (their sum from the block's first id) and
 * one block start, never the whole index. 2^14 counts inflate in well under a millisecond, and the
 * starts cost 8 bytes per 16384 ids.
 */
export const TAG_BLOCK = 1 << 14;

/**
 * Bytes a sparse index costs per tag present (measured at 1M tags, ~3 points each: 1.9 for the
 * deflated ids, 2.9 for the scale-offset starts, 0.2 for the counts).
 */
const SPARSE_BYTES_PER_TAG = 5;

/**
 * `tag_index/`: dense when it is the smaller (every tag reporting at a similar rate: at 1M tags
 * with ~3 points each it costs ~0.01 bytes a point against ~1.7 for the sparse rows), sparse when
 * few of the ids up to the largest one have points. The group's `layout` attribute says which.
 */
function writeTagIndex(g: Group, index: SortedScalars['index'], layout: TagIndexLayout, file: string): void {
  const idx = check(g.create_group('tag_index'), 'create group tag_index', file);
  const present = index.tag.length;
  const ids = present > 0 ? index.tag[present - 1]! + 1 : 0;
  // int64 counts as (lo, hi) 32-bit words: no BigInt per tag; counts and starts are < 2^32.
  const countW = new Uint32Array(index.count.buffer, index.count.byteOffset, 2 * present);
  let maxCount = 0;
  for (let k = 0; k < present; k++) if (countW[2 * k]! > maxCount) maxCount = countW[2 * k]!;
  // Dense size, over-estimated as the bits of the largest count per id (deflate does better).
  const denseBytes = (ids * Math.max(1, 32 - Math.clz32(maxCount))) / 8;
  const dense = present > 0 && (layout === 'dense' || (layout === 'auto' && denseBytes <= present * SPARSE_BYTES_PER_TAG));
  idx.create_attribute('layout', dense ? 'dense' : 'sparse');
  const so = (dtype: string, chunk: number): ColumnSpec => ({ dtype, codec: 'scaleoffset', chunk });
  if (!dense) {
    // Compressed, ~5 bytes a tag on disk. No per-tag time range (it cost 2.4 bytes a point at 1M
    // tags; a tag's rows are time-sorted, so its first and last timestamps give it) and no
    // per-point tag column (0.7 bytes a point; the index names every row's tag).
    dataset(idx, 'tag', index.tag, { dtype: '<I', codec: 'deflate', chunk: CHUNKS.table }, file);
    dataset(idx, 'start', index.start, so('<q', CHUNKS.table), file);
    dataset(idx, 'count', index.count, so('<q', CHUNKS.table), file);
    return;
  }
  // The narrowest unsigned type holding the largest count, deflated: measured with h5py on 2^20
  // counts, uint8 deflate takes 0.006 bytes a tag for constant counts, 0.22 for 2-or-3, 0.45 for
  // Poisson around 3, where scale-offset takes 0.13, 0.25, 0.50 and uint32 deflate (no shuffle
  // filter with h5wasm) 0.02, 0.40, 0.76.
  const dtype = maxCount < 1 << 8 ? '<B' : maxCount < 1 << 16 ? '<H' : '<I';
  const count = dtype === '<B' ? new Uint8Array(ids) : dtype === '<H' ? new Uint16Array(ids) : new Uint32Array(ids);
  for (let k = 0; k < present; k++) count[index.tag[k]!] = countW[2 * k]!;
  const blockStart = new BigInt64Array(Math.ceil(ids / TAG_BLOCK));
  const bsW = new Uint32Array(blockStart.buffer);
  let row = 0;
  for (let id = 0; id < ids; id++) {
    if (id % TAG_BLOCK === 0) bsW[2 * (id / TAG_BLOCK)] = row;
    row += count[id]!;
  }
  dataset(idx, 'count', count, { dtype, codec: 'deflate', chunk: TAG_BLOCK, aligned: true }, file);
  dataset(idx, 'block_start', blockStart, so('<q', CHUNKS.table), file);
  idx.create_attribute('block_tags', TAG_BLOCK, [], '<i');
}

/** h5wasm's unlimited dimension (H5S_UNLIMITED as uint64). */
const H5S_UNLIMITED = 18446744073709551615n;

/**
 * Writes a 1-D fixed-length string dataset (`S<width>`, UTF-8, as h5wasm's own `S` dtype) from
 * pre-encoded bytes, through h5wasm's low-level `create_dataset` (its high-level one re-encodes
 * every string on each call). Chunked and deflated: tag names share long prefixes.
 */
export function writeFixedStrings(group: Group, name: string, s: FixedStrings, chunk: number, deflateLevel: number, file: string): void {
  const n = s.bytes.length / s.width;
  const meta = dtype_to_metadata(`S${s.width}`);
  const shape = [BigInt(n)];
  const compressed = n > 0 && deflateLevel > 0;
  const dsMeta = {
    ...meta,
    shape,
    maxshape: n > 0 ? [H5S_UNLIMITED] : shape,
    chunks: n > 0 ? [BigInt(Math.min(n, chunk))] : null,
    compression: compressed ? 1 : 0,
    compression_opts: compressed ? [deflateLevel] : [],
    track_order: false,
  };
  const ptr = Module._malloc(Math.max(1, s.bytes.length));
  if (!ptr) throw new DaqError('DAQ_ERR_HDF5', `h5wasm could not allocate ${s.bytes.length} bytes for ${name} in ${file}`, { details: { file, field: name } });
  try {
    Module.HEAPU8.set(s.bytes, ptr);
    const status = Module.create_dataset(group.file_id, `${group.path}/${name}`, BigInt(ptr), dsMeta as never);
    if (status < 0) throw new DaqError('DAQ_ERR_HDF5', `h5wasm could not create dataset ${group.path}/${name} in ${file}`, { details: { file, field: name } });
  } finally {
    Module._free(ptr);
  }
}

function writeTable(root: Group, part: TableSegmentPart, file: string): void {
  const g = check(root.create_group(part.stream), `create group ${part.stream}`, file);
  for (const [name, col] of Object.entries(part.columns)) dataset(g, name, col as never, { dtype: null, codec: 'raw', chunk: CHUNKS.table, unit: part.units[name] }, file);
}

/**
 * Writes one segment synchronously: `<dir>/seg-NNNNNN.h5.tmp`, closed, fsynced, renamed to
 * `seg-NNNNNN.h5`, directory fsynced — a reader never sees a half-written file. h5wasm is
 * synchronous: call this from a worker thread ({@link SegmentWriter}), not the acquisition loop.
 */
export function writeSegmentSync(dir: string, content: SegmentContent, opts: { commit?: boolean; consume?: boolean; tagIndex?: TagIndexLayout } = {}): SegmentSummary {
  const commit = opts.commit ?? true;
  const scalarPoints = content.scalars.reduce((a, s) => a + s.tag.length, 0);
  const records = content.waves.reduce((a, w) => a + w.records.timestamp.length, 0);
  const samples = content.waves.reduce((a, w) => a + (w.pool?.samples ?? w.samples.length), 0);
  const t0 = performance.now();
  const final = path.join(dir, segmentFileName(content.index));
  const tmp = `${final}.tmp`;
  fs.rmSync(tmp, { force: true });
  const f = new h5wasm.File(tmp, 'w');
  // h5wasm does not throw when it cannot create the file: it returns a negative id.
  if (!(f.file_id > 0n)) throw new StorageError(`cannot create segment file ${tmp} (missing folder or no permission?)`, { details: { file: tmp } });
  let closed = false;
  try {
    f.create_attribute('run_id', content.runId);
    f.create_attribute('software', content.software);
    f.create_attribute('config', content.configJson);
    f.create_attribute('lineage', content.lineageJson);
    int64Attr(f, 't0_unix_ns', content.t0UnixNs);
    f.create_attribute('segment_index', content.index);
    int64Attr(f, 'wal_seq_last', content.walSeqLast);
    f.create_attribute('NX_class', 'NXentry');
    f.create_attribute('default', content.waves.some((w) => w.primary) ? 'records' : content.scalars[0] ? `scalars/${content.scalars[0].stream}` : '');
    for (const w of content.waves) {
      if (w.primary) writeRecords(f, w, tmp);
      else {
        const streams = (f.get('streams') as Group | null) ?? f.create_group('streams');
        writeRecords(check(streams.create_group(w.stream), `create group streams/${w.stream}`, tmp), w, tmp);
      }
    }
    if (content.scalars.length > 0) {
      const sg = f.create_group('scalars');
      for (const s of content.scalars) writeScalars(sg, s, content.index, tmp, opts.consume ?? false, opts.tagIndex ?? 'auto');
    }
    if (content.tables.length > 0) {
      const tg = f.create_group('tables');
      for (const t of content.tables) writeTable(tg, t, tmp);
    }
    f.close();
    closed = true;
    if (commit) commitFileSync(tmp, final);
  } catch (err) {
    if (!closed) {
      try {
        f.close();
      } catch {
        // already failing
      }
    }
    fs.rmSync(tmp, { force: true });
    if (err instanceof DaqError) throw err;
    throw new StorageError(`writing segment ${final} failed: ${(err as Error).message}`, { cause: err, details: { file: final } });
  }
  return {
    path: final,
    ...(commit ? {} : { uncommitted: tmp }),
    bytes: fs.statSync(commit ? final : tmp).size,
    scalarPoints,
    records,
    samples,
    durationMs: performance.now() - t0,
    // This thread's memory after the write: its JS heap and the WebAssembly heap (which grows to
    // the largest segment written and never shrinks).
    writerHeapBytes: process.memoryUsage().heapUsed,
    writerWasmBytes: Module.HEAPU8.buffer.byteLength,
  };
}
