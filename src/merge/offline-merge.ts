import fs from 'node:fs';
import path from 'node:path';
import h5wasm from 'h5wasm/node';
import type { Dataset, File as H5File, Group } from 'h5wasm/node';
import { DaqError, isDaqError } from '../errors.ts';
import { commitFileSync } from '../util/fsync-dir.ts';
import { allocRecordColumns, makeRecordsBatch, RECORD_FIELDS, RECORD_ROW_BYTES, recordColumns } from '../schema/waveform.ts';
import type { RecordColumns } from '../schema/waveform.ts';
import type { WaveBatch } from '../schema/batch.ts';
import { h5ready } from '../storage/hdf5/segment-writer.ts';
import { HDF5_SIGNATURE } from '../storage/hdf5/signature.ts';
import { StreamingMerge } from './streaming-merge.ts';

const DTYPES: Record<string, string> = {
  timestamp: '<q', pid: '<i', channel: '<h', baseline: '<d', event_id: '<q', dt: '<i',
  trigger_type: '<h', flags: '<I', wave_offset: '<q', event_length: '<i', time: '<q',
};

export interface MergePartsOptions {
  /**
   * Records read per part at a time (bounds memory with the waveforms they cover). Default: per
   * part, readRowsFor its HDF5 chunk and its share of maxReadBytes (about 65536, in whole chunks,
   * so no compressed chunk is inflated twice).
   */
  chunkRecords?: number;
  /**
   * Bytes of part data (record columns and samples) held at once across all parts, which sets the
   * default read size: each part gets an equal share, so merging many parts does not take
   * many times the memory. Default 512 MiB. Ignored with chunkRecords.
   */
  maxReadBytes?: number;
  onProgress?: (p: { records: number; total: number }) => void;
}

/** Records read per part at a time by default. */
export const READ_ROWS = 65536;

/**
 * Records to read at a time from a part whose record columns are stored in HDF5 chunks of
 * `chunkRows` rows (null: not chunked), given its memory share of `budgetRows` records: the
 * smallest whole number of chunks that reaches READ_ROWS, so that every read starts and ends on a
 * chunk boundary (a read that ends inside a compressed chunk inflates it, and the next read
 * inflates it again: ~10 % of a merge of parts with 62500-row chunks read 65536 at a time) —
 * fewer chunks if that would pass the share, and a part of a chunk when one chunk does.
 */
export function readRowsFor(chunkRows: number | null, budgetRows = Infinity): number {
  const target = Math.max(1, Math.min(READ_ROWS, Math.floor(budgetRows)));
  if (!chunkRows || chunkRows > 4 * READ_ROWS || chunkRows > budgetRows) return target;
  return chunkRows * Math.min(Math.ceil(target / chunkRows), Math.floor(budgetRows / chunkRows));
}

/**
 * A part must be a readable file starting with the HDF5 signature: checked before h5wasm opens it,
 * which on anything else prints HDF5's error stack and fails later with an unhelpful message.
 */
function checkHdf5File(file: string): void {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DaqError(code === 'ENOENT' ? 'DAQ_ERR_RUN_NOT_FOUND' : 'DAQ_ERR_STORAGE_IO', `${file}: cannot open part file (${code ?? String(err)})`, { details: { file }, cause: err });
  }
  try {
    const head = Buffer.alloc(8);
    const n = fs.readSync(fd, head, 0, 8, 0);
    if (n < 8 || !head.equals(HDF5_SIGNATURE)) throw new DaqError('DAQ_ERR_HDF5', `${file}: not an HDF5 file (no HDF5 signature at byte 0)`, { details: { file } });
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * dst[i] = src[i] + delta for non-negative sample offsets below 2^53 (dst may be src): as 32-bit
 * words and doubles, not a BigInt per row.
 */
function shiftOffsets(src: BigInt64Array, delta: number, dst: BigInt64Array): void {
  const n = src.length;
  const s = new Uint32Array(src.buffer, src.byteOffset, 2 * n);
  const d = new Uint32Array(dst.buffer, dst.byteOffset, 2 * n);
  for (let i = 0; i < 2 * n; i += 2) {
    const v = s[i]! + s[i + 1]! * 4294967296 + delta;
    d[i] = v >>> 0;
    d[i + 1] = Math.floor(v / 4294967296);
  }
}

/** Reads a part file's records in chunks, with the samples each chunk's events cover. */
class PartReader {
  readonly f: H5File;
  readonly n: number;
  /** Samples in the part's wave pool. */
  readonly poolLength: number;
  /** Rows per HDF5 chunk of its record columns (those of /records/timestamp; null: not chunked). */
  readonly chunkRows: number | null;
  /** Records to read at a time (mergeParts sets it). */
  readRows = READ_ROWS;
  next = 0;
  private readonly datasets: Dataset[];
  private readonly pool: Dataset;

  constructor(readonly file: string) {
    checkHdf5File(file);
    this.f = new h5wasm.File(file, 'r');
    // h5wasm does not throw on a file it cannot open: it returns a bad id (and later calls fail obscurely).
    if (!(this.f.file_id > 0n)) throw new DaqError('DAQ_ERR_HDF5', `${file}: cannot open as HDF5 (truncated or damaged?)`, { details: { file } });
    try {
      const ts = this.f.get('records/timestamp') as Dataset | null;
      const pool = this.f.get('wave_pool') as Dataset | null;
      if (!ts || !pool) throw new DaqError('DAQ_ERR_RUN_NOT_FOUND', `${file}: no /records/timestamp or /wave_pool (not a records part file)`, { details: { file } });
      this.n = ts.shape?.[0] ?? 0;
      this.chunkRows = (ts.metadata as { chunks?: number[] | null }).chunks?.[0] ?? null;
      this.pool = pool;
      this.poolLength = pool.shape?.[0] ?? 0;
      this.datasets = RECORD_FIELDS.map((fld) => {
        const ds = this.f.get(`records/${fld.name}`) as Dataset | null;
        if (!ds || (ds.shape?.[0] ?? 0) !== this.n) throw new DaqError('DAQ_ERR_HDF5', `${file}: /records/${fld.name} is missing or not ${this.n} rows long like /records/timestamp`, { details: { file } });
        return ds;
      });
    } catch (err) {
      this.f.close();
      throw err;
    }
  }

  readChunk(size: number): WaveBatch | null {
    if (this.next >= this.n) return null;
    const a = this.next;
    const b = Math.min(this.n, a + size);
    this.next = b;
    const n = b - a;
    // Each column as h5wasm reads it when that is the column's array type (it is for the layout
    // daq writes), else converted.
    const read = <T>(i: number, C: new (x: ArrayLike<number> & ArrayLike<bigint>) => T): T => {
      const v = this.datasets[i]!.slice([[a, b]]) as unknown;
      return v instanceof (C as unknown as typeof Object) ? (v as T) : new C(v as ArrayLike<number> & ArrayLike<bigint>);
    };
    const c: RecordColumns = {
      timestamp: read(0, BigInt64Array),
      pid: read(1, Int32Array),
      channel: read(2, Int16Array),
      baseline: read(3, Float64Array),
      event_id: read(4, BigInt64Array),
      dt: read(5, Int32Array),
      trigger_type: read(6, Int16Array),
      flags: read(7, Uint32Array),
      wave_offset: read(8, BigInt64Array),
      event_length: read(9, Int32Array),
      time: read(10, BigInt64Array),
    };
    // The samples the chunk covers, read as one slice; offsets rebased to it. Offsets as 32-bit
    // words and doubles, not a BigInt per row; each event checked against the pool first.
    const w = new Uint32Array(c.wave_offset.buffer, c.wave_offset.byteOffset, 2 * n);
    const len = c.event_length;
    let lo = Infinity;
    let hi = 0;
    for (let i = 0; i < n; i++) {
      const hiWord = w[2 * i + 1]!;
      const o = w[2 * i]! + hiWord * 4294967296;
      const end = o + len[i]!;
      // A negative offset has its top bit set (hiWord ≥ 2^31), far above any pool.
      if (len[i]! < 0 || hiWord >= 0x200000 || end > this.poolLength) {
        throw new DaqError('DAQ_ERR_HDF5', `${this.file}: record ${a + i} (wave_offset ${c.wave_offset[i]}, event_length ${len[i]}) lies outside its wave_pool (${this.poolLength} samples); the part is corrupt`, { details: { file: this.file, row: a + i } });
      }
      if (o < lo) lo = o;
      if (end > hi) hi = end;
    }
    if (!Number.isFinite(lo)) lo = hi = 0;
    const samples = hi > lo ? (this.pool.slice([[lo, hi]]) as Uint16Array) : new Uint16Array(0);
    shiftOffsets(c.wave_offset, -lo, c.wave_offset);
    return { kind: 'waveform', stream: this.file, batch: makeRecordsBatch(c), samples };
  }
}

/** Appends batches to /records/<field> and /wave_pool of an output file (resizable datasets). */
class PartWriter {
  private readonly f: H5File;
  private rows = 0;
  private samples = 0;

  constructor(readonly file: string) {
    // h5wasm does not throw when it cannot create the file (it prints HDF5's error stack): see first.
    const dir = path.dirname(file);
    try {
      fs.accessSync(dir, fs.constants.W_OK);
    } catch (err) {
      throw new DaqError('DAQ_ERR_STORAGE_IO', `cannot write ${file}: its folder ${dir} ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'is not writable'}`, { details: { file }, cause: err });
    }
    this.f = new h5wasm.File(file, 'w');
    if (!(this.f.file_id > 0n)) throw new DaqError('DAQ_ERR_STORAGE_IO', `cannot create ${file} as HDF5`, { details: { file } });
    const r = this.f.create_group('records');
    r.create_attribute('NX_class', 'NXdata');
    r.create_attribute('signal', 'event_length');
    for (const fld of RECORD_FIELDS) {
      const ds = r.create_dataset({ name: fld.name, data: new (recordColumnCtor(fld.name))(0) as never, shape: [0], maxshape: [null], chunks: [65536], dtype: DTYPES[fld.name]! });
      if (fld.unit) ds.create_attribute('units', fld.unit);
    }
    (this.f as Group).create_dataset({ name: 'wave_pool', data: new Uint16Array(0), shape: [0], maxshape: [null], chunks: [1 << 20], dtype: '<H' });
    this.f.create_attribute('NX_class', 'NXentry');
  }

  append(wb: WaveBatch): void {
    const c = recordColumns(wb.batch);
    const n = wb.batch.numRows;
    const offsets = this.globalOffsets(c.wave_offset, this.samples);
    for (const fld of RECORD_FIELDS) {
      const ds = this.f.get(`records/${fld.name}`) as Dataset;
      ds.resize([this.rows + n]);
      ds.write_slice([[this.rows, this.rows + n]], fld.name === 'wave_offset' ? offsets : c[fld.name]);
    }
    const pool = this.f.get('wave_pool') as Dataset;
    pool.resize([this.samples + wb.samples.length]);
    if (wb.samples.length) pool.write_slice([[this.samples, this.samples + wb.samples.length]], wb.samples);
    this.rows += n;
    this.samples += wb.samples.length;
  }

  private offsetScratch = new BigInt64Array(0);

  /**
   * The batch's wave_offset (batch-local) moved by base, the file's samples so far (shiftOffsets).
   * The result is scratch, valid until the next call (write_slice copies it).
   */
  private globalOffsets(local: BigInt64Array, base: number): BigInt64Array {
    const n = local.length;
    if (this.offsetScratch.length < n) this.offsetScratch = new BigInt64Array(n);
    const out = this.offsetScratch.subarray(0, n);
    shiftOffsets(local, base, out);
    return out;
  }

  close(): { records: number; samples: number } {
    this.f.close();
    return { records: this.rows, samples: this.samples };
  }
}

function recordColumnCtor(name: string): new (n: number) => ArrayLike<unknown> {
  return allocRecordColumns(0)[name as keyof ReturnType<typeof allocRecordColumns>].constructor as never;
}

/**
 * Offline merge (`daq merge`): part files, each a records table + wave pool sorted by
 * (timestamp, pid, channel), merged into one file in the same layout with fresh event_ids.
 * Parts are read in chunks, so memory is bounded by the chunk size, not the files. The output is
 * written as `<out>.tmp`, fsynced and renamed when complete. A part that violates its sort order
 * is reported with its file and row (DAQ_ERR_MERGE_ORDER) and no output is left.
 */
export async function mergeParts(parts: string[], out: string, opts: MergePartsOptions = {}): Promise<{ records: number; samples: number }> {
  await h5ready();
  const chunk = opts.chunkRecords;
  if (chunk !== undefined && !(Number.isInteger(chunk) && chunk >= 1)) throw new DaqError('DAQ_ERR_USAGE', `merge: records per read must be a whole number ≥ 1, got ${chunk}`);
  const maxReadBytes = opts.maxReadBytes ?? 512 * 1024 * 1024;
  if (!(maxReadBytes > 0)) throw new DaqError('DAQ_ERR_USAGE', `merge: read memory must be more than 0 bytes, got ${maxReadBytes}`);
  const readers: PartReader[] = [];
  const tmp = `${out}.tmp`;
  let writer: PartWriter | null = null;
  try {
    for (const p of parts) readers.push(new PartReader(p));
    // Each part's read size: its share of maxReadBytes at its own bytes a record (columns and mean samples).
    for (const r of readers) r.readRows = chunk ?? readRowsFor(r.chunkRows, maxReadBytes / readers.length / (RECORD_ROW_BYTES + (2 * r.poolLength) / Math.max(1, r.n)));
    const total = readers.reduce((a, r) => a + r.n, 0);
    // Large output batches: each is one append per dataset, and an h5wasm append costs ~160 µs however small.
    const merge = new StreamingMerge({ output: 'records', maxBufferedBytes: Number.MAX_SAFE_INTEGER, silenceTimeoutMs: Number.MAX_SAFE_INTEGER, maxOutputRows: 65536, maxOutputSamples: 1 << 23 });
    readers.forEach((r) => merge.addInput(r.file));
    const w = (writer = new PartWriter(tmp));
    let done = 0;
    const feed = (r: PartReader) => {
      const start = r.next;
      const wb = r.readChunk(r.readRows);
      if (!wb) return merge.end(r.file);
      try {
        merge.push(r.file, wb);
      } catch (err) {
        if (isDaqError(err, 'DAQ_ERR_MERGE_ORDER')) {
          const row = start + Number((err.details as { row?: number }).row ?? 0);
          throw new DaqError('DAQ_ERR_MERGE_ORDER', `${r.file}: record ${row} breaks the (timestamp, pid, channel) order of this part; parts must be sorted`, { cause: err, details: { file: r.file, row } });
        }
        throw err;
      }
      if (r.next >= r.n) merge.end(r.file);
    };
    readers.forEach(feed);
    // Each output batch is written as soon as it is complete; the sink borrows it (the append
    // copies it into the file's datasets), so the kernel hands out views of its output area.
    const write = (b: WaveBatch) => {
      w.append(b);
      done += b.batch.numRows;
      opts.onProgress?.({ records: done, total });
    };
    for (;;) {
      merge.drain(write, { borrow: true });
      const st = merge.stats().inputs;
      const hungry = readers.filter((r) => !st[r.file]!.ended && st[r.file]!.buffered_events === 0);
      if (hungry.length === 0) {
        // Every live input still holds events: the smallest bound is an input's own last key.
        // Feed the input whose buffer is smallest so the watermark can move.
        const live = readers.filter((r) => !st[r.file]!.ended);
        if (live.length === 0) break;
        live.sort((a, b) => st[a.file]!.buffered_events - st[b.file]!.buffered_events);
        feed(live[0]!);
      } else {
        hungry.forEach(feed);
      }
    }
    merge.finish(write, { borrow: true });
    const summary = w.close();
    commitFileSync(tmp, out); // fsync, rename, fsync the folder
    opts.onProgress?.({ records: done, total });
    return summary;
  } catch (err) {
    try {
      writer?.close();
    } catch {
      // already failing
    }
    fs.rmSync(tmp, { force: true });
    throw err;
  } finally {
    for (const r of readers) r.f.close();
  }
}
