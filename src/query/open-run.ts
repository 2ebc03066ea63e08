import fs from 'node:fs';
import path from 'node:path';
import h5wasm from 'h5wasm/node';
import type { File as H5File, Group } from 'h5wasm/node';
import type { Table } from 'apache-arrow';
import { DaqError } from '../errors.ts';
import { allocRecordColumns, RECORD_FIELDS } from '../schema/waveform.ts';
import { h5ready } from '../storage/hdf5/segment-writer.ts';
import { dataset, length1d, readAll, required } from './h5-slices.ts';
import { PoolFile } from './pool-file.ts';
import { RecordsView } from './records-view.ts';
import type { RecordsSegment } from './records-view.ts';
import { ScalarStreamReader } from './scalar-reader.ts';
import type { TagTable } from './scalar-reader.ts';

export type { TagTable } from './scalar-reader.ts';

export interface OpenRunOptions {
  /**
   * Read contiguous wave pools with positional file reads at the offset the file's metadata gives
   * (default true). False reads every waveform through h5wasm, as for chunked pools of segments
   * written before the pool was contiguous.
   */
  directReads?: boolean;
}

/** Finished segments only: `seg-NNNNNN.h5` (a `*.tmp` is a segment being written or a crash's leftover). */
const SEGMENT_RE = /^seg-(\d{6})\.h5$/;

/**
 * A run folder opened for reading: every finished `seg-*.h5` (never `*.tmp`), in index order, seen
 * as one. `records` is the primary records table ({@link RecordsView}); scalar queries go through
 * each segment's per-tag index so that one tag's window reads only that tag's rows. Segments are
 * opened read-only; call {@link RunReader.close} when done.
 *
 * @example
 * const run = await openRun('data/20261123-130501-3fa2');
 * run.records.length;
 * run.readTag('tag7', tMinNs, tMaxNs); // Arrow Table: timestamp_ns, tag, value, quality
 * run.close();
 */
export class RunReader {
  /** Root attributes of the first segment (run_id, software, config, lineage, t0_unix_ns...). */
  readonly attrs: Record<string, unknown>;
  private readonly views = new Map<string, RecordsView>();
  private readonly scalarReaders = new Map<string, ScalarStreamReader>();
  private readonly poolFiles: PoolFile[] = [];

  constructor(
    readonly dir: string,
    private readonly files: H5File[],
    readonly segmentPaths: string[],
    private readonly options: OpenRunOptions = {},
  ) {
    this.attrs = {};
    const f0 = files[0]!;
    for (const k of Object.keys(f0.attrs)) this.attrs[k] = f0.get_attribute(k, false);
  }

  /** The primary records stream (`/records` + `/wave_pool`), built on first use. */
  get records(): RecordsView {
    return this.recordsOf();
  }

  /** Names of the non-primary waveform streams (`/streams/<name>`). */
  waveStreams(): string[] {
    return this.groupNames('streams');
  }

  /**
   * Records of a waveform stream: the primary one when `stream` is omitted, otherwise
   * `/streams/<stream>`. Record columns of every segment are concatenated in memory; `wave_offset`
   * becomes run-global (`global_offset` of the segment's pool + the stored local offset).
   */
  recordsOf(stream?: string): RecordsView {
    const key = stream ?? '';
    const cached = this.views.get(key);
    if (cached) return cached;
    if (stream !== undefined && !this.waveStreams().includes(stream)) {
      throw new DaqError('DAQ_ERR_STREAM_UNKNOWN', `run ${this.dir} has no waveform stream "${stream}" (has: ${this.waveStreams().join(', ') || 'only the primary'})`, { details: { stream } });
    }
    const prefix = stream === undefined ? '' : `streams/${stream}/`;
    const parts: Array<{ f: H5File; n: number }> = [];
    let n = 0;
    for (const f of this.files) {
      const ts = dataset(f, `${prefix}records/timestamp`);
      const len = ts ? length1d(ts) : 0;
      if (len > 0) parts.push({ f, n: len });
      n += len;
    }
    const cols = allocRecordColumns(n);
    const local = new BigInt64Array(n);
    const segs: RecordsSegment[] = [];
    let o = 0;
    for (const { f, n: len } of parts) {
      for (const fld of RECORD_FIELDS) {
        const d = required(f, `${prefix}records/${fld.name}`);
        if (length1d(d) !== len) throw new DaqError('DAQ_ERR_HDF5', `${f.filename}: ${prefix}records/${fld.name} has ${length1d(d)} rows, expected ${len} like records/timestamp`, { details: { file: f.filename, field: fld.name } });
        (cols[fld.name] as unknown as { set(a: ArrayLike<unknown>, o: number): void }).set(readAll(d), o);
      }
      // The pool's metadata read first by h5-locate: a corrupt header is reported as such (h5wasm
      // would only say the dataset is missing).
      const direct = this.openPool(f, `${prefix}wave_pool`);
      const pool = required(f, `${prefix}wave_pool`);
      if (direct && direct.length !== length1d(pool)) {
        throw new DaqError('DAQ_ERR_HDF5', `${f.filename}: /${prefix}wave_pool has ${length1d(pool)} samples for h5wasm but ${direct.length} in its layout metadata`, { details: { file: f.filename, field: `${prefix}wave_pool` } });
      }
      const g = pool.attrs['global_offset'] ? pool.get_attribute('global_offset', false) : 0n;
      const global = BigInt((ArrayBuffer.isView(g) ? (g as BigInt64Array)[0] : (g as bigint | number)) ?? 0);
      for (let i = o; i < o + len; i++) {
        local[i] = cols.wave_offset[i]!;
        cols.wave_offset[i] = local[i]! + global;
      }
      segs.push({ start: o, pool, direct });
      o += len;
    }
    const view = new RecordsView(cols, segs, local);
    this.views.set(key, view);
    return view;
  }

  /** The pool read directly from the file when it is contiguous `<u2`, else null (h5wasm reads it). */
  private openPool(f: H5File, dsPath: string): PoolFile | null {
    if (this.options.directReads === false) return null;
    const p = PoolFile.open(f.filename, dsPath);
    if (p) this.poolFiles.push(p);
    return p;
  }

  private groupNames(p: string): string[] {
    const names = new Set<string>();
    for (const f of this.files) {
      const g = f.get(p);
      if (g instanceof h5wasm.Group) for (const k of (g as Group).keys()) names.add(k);
    }
    return [...names];
  }

  /** Names of the scalar streams stored in the run. */
  scalarStreams(): string[] {
    return this.groupNames('scalars');
  }

  /** Queries over one scalar stream (default: the first). */
  scalars(stream?: string): ScalarStreamReader {
    const all = this.scalarStreams();
    const s = stream ?? all[0];
    if (s === undefined || !all.includes(s)) throw new DaqError('DAQ_ERR_STREAM_UNKNOWN', `run ${this.dir} has no scalar stream "${stream ?? ''}" (has: ${all.join(', ') || 'none'})`, { details: { stream } });
    let r = this.scalarReaders.get(s);
    if (!r) {
      r = new ScalarStreamReader(s, this.files);
      this.scalarReaders.set(s, r);
    }
    return r;
  }

  /** The tag table of a scalar stream. */
  tags(stream?: string): TagTable {
    return this.scalars(stream).tags();
  }

  /** One tag's points with `tMinNs <= timestamp_ns < tMaxNs`, time-ordered (Arrow: timestamp_ns, tag, value, quality). */
  readTag(name: string, tMinNs: bigint, tMaxNs: bigint, opts: { stream?: string } = {}): Table {
    return this.scalars(opts.stream).readTag(name, tMinNs, tMaxNs);
  }

  /** Points of several tags (default: all) with `tMinNs <= timestamp_ns < tMaxNs`, by tag then time. */
  readWindow(tMinNs: bigint, tMaxNs: bigint, opts: { tags?: string[]; stream?: string } = {}): Table {
    return this.scalars(opts.stream).readWindow(tMinNs, tMaxNs, opts.tags);
  }

  /** The last stored point of each tag that has one (Arrow: tag, name, timestamp_ns, value, quality). */
  lastValues(opts: { stream?: string } = {}): Table {
    return this.scalars(opts.stream).lastValues();
  }

  /** Every point of a scalar stream, segment after segment (each sorted by tag, then time). */
  readScalars(stream?: string): { timestampNs: BigInt64Array; tag: Uint32Array; value: Float64Array; quality: Uint8Array } {
    return this.scalars(stream).readAll();
  }

  close(): void {
    for (const p of this.poolFiles) p.close();
    this.poolFiles.length = 0;
    for (const f of this.files) f.close();
    this.files.length = 0;
  }
}

/**
 * Opens every finished segment (`seg-NNNNNN.h5`) of a run folder read-only, ignoring `*.tmp`.
 * Throws DAQ_ERR_RUN_NOT_FOUND when the folder is missing or holds no finished segment, and
 * DAQ_ERR_HDF5 naming the file when a segment cannot be opened.
 */
export async function openRun(dir: string, options: OpenRunOptions = {}): Promise<RunReader> {
  await h5ready();
  return openRunSync(dir, options);
}

/** {@link openRun} once h5wasm is ready (`await h5ready()` first), for callers that cannot await. */
export function openRunSync(dir: string, options: OpenRunOptions = {}): RunReader {
  if (!fs.existsSync(dir)) throw new DaqError('DAQ_ERR_RUN_NOT_FOUND', `no run folder ${dir}`, { details: { file: dir } });
  const segs = fs
    .readdirSync(dir)
    .filter((f) => SEGMENT_RE.test(f))
    .sort()
    .map((f) => path.join(dir, f));
  if (segs.length === 0) throw new DaqError('DAQ_ERR_RUN_NOT_FOUND', `${dir} holds no finished segments (seg-*.h5); run 'daq recover ${dir}' if it crashed`, { details: { file: dir } });
  const files: H5File[] = [];
  for (const p of segs) {
    const f = new h5wasm.File(p, 'r');
    // h5wasm does not throw on a file it cannot open: it returns a negative id.
    if (!(f.file_id > 0n)) {
      for (const g of files) g.close();
      throw new DaqError('DAQ_ERR_HDF5', `cannot open segment ${p} as HDF5 (truncated or not an HDF5 file?)`, { details: { file: p } });
    }
    files.push(f);
  }
  return new RunReader(dir, files, segs, options);
}
