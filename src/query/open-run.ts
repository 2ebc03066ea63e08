import fs from 'node:fs';
import path from 'node:path';
import h5wasm from 'h5wasm/node';
import type { Dataset, File as H5File, Group } from 'h5wasm/node';
import { Field, Float64, Int64, Schema, Table, Uint32, Uint8, Utf8, vectorFromArray } from 'apache-arrow';
import { DaqError } from '../errors.ts';
import { makeBatch } from '../schema/batch.ts';
import { allocRecordColumns, RECORD_FIELDS } from '../schema/waveform.ts';
import type { RecordColumns } from '../schema/waveform.ts';
import { h5ready } from '../storage/hdf5/segment-writer.ts';
import { RecordsView } from './records-view.ts';

const SEGMENT_RE = /^seg-(\d{6})\.h5$/;

function ds(f: Group, p: string): Dataset | null {
  return (f.get(p) as Dataset | null) ?? null;
}

function readAll<T>(d: Dataset | null): T | null {
  return d ? (d.value as unknown as T) : null;
}

const pointSchema = new Schema([
  new Field('timestamp_ns', new Int64(), false),
  new Field('tag', new Uint32(), false),
  new Field('value', new Float64(), false),
  new Field('quality', new Uint8(), false),
]);

/** Tag id ↔ name table of a scalar stream. */
export interface TagTable {
  id: Uint32Array;
  name: string[];
  unit: string[];
}

/**
 * A finished run folder opened for reading: every `seg-*.h5` (never `*.tmp`) seen as one.
 * `records` is the merged records table (see {@link RecordsView}); scalar queries use each
 * segment's per-tag index, so reading one tag touches only that tag's rows.
 */
export class RunReader {
  readonly records: RecordsView;
  readonly attrs: Record<string, unknown>;

  constructor(
    readonly dir: string,
    private readonly files: H5File[],
    readonly segmentPaths: string[],
  ) {
    this.attrs = {};
    const f0 = files[0]!;
    for (const k of Object.keys(f0.attrs)) this.attrs[k] = f0.get_attribute(k, true);
    this.records = this.buildRecords();
  }

  private buildRecords(): RecordsView {
    const parts: Array<{ f: H5File; n: number }> = [];
    let n = 0;
    for (const f of this.files) {
      const ts = ds(f, 'records/timestamp');
      const len = ts?.shape?.[0] ?? 0;
      if (len > 0) parts.push({ f, n: len });
      n += len;
    }
    const cols = allocRecordColumns(n);
    const local = new BigInt64Array(n);
    const segs = [];
    let o = 0;
    for (const { f, n: len } of parts) {
      for (const fld of RECORD_FIELDS) {
        const v = readAll<ArrayLike<unknown>>(ds(f, `records/${fld.name}`));
        if (!v || v.length !== len) throw new DaqError('DAQ_ERR_HDF5', `${f.filename}: records/${fld.name} has ${v?.length} rows, expected ${len}`, { details: { file: f.filename, field: fld.name } });
        (cols[fld.name] as unknown as { set(a: ArrayLike<unknown>, o: number): void }).set(v, o);
      }
      const pool = ds(f, 'wave_pool');
      if (!pool) throw new DaqError('DAQ_ERR_HDF5', `${f.filename}: /records without /wave_pool`, { details: { file: f.filename } });
      const gAttr = pool.attrs['global_offset'] ? (pool.get_attribute('global_offset', false) as unknown as BigInt64Array | bigint) : 0n;
      const global = typeof gAttr === 'bigint' ? gAttr : BigInt((gAttr as BigInt64Array)[0] ?? 0n);
      for (let i = o; i < o + len; i++) {
        local[i] = cols.wave_offset[i]!;
        cols.wave_offset[i] = cols.wave_offset[i]! + global;
      }
      segs.push({ start: o, pool });
      o += len;
    }
    return new RecordsView(cols as RecordColumns, segs, local);
  }

  /** Names of the scalar streams stored in the run. */
  scalarStreams(): string[] {
    const names = new Set<string>();
    for (const f of this.files) {
      const g = f.get('scalars') as Group | null;
      if (g) for (const k of g.keys()) names.add(k);
    }
    return [...names];
  }

  private stream(opt?: string): string {
    const all = this.scalarStreams();
    const s = opt ?? all[0];
    if (!s || !all.includes(s)) throw new DaqError('DAQ_ERR_STREAM_UNKNOWN', `run ${this.dir} has no scalar stream "${opt ?? ''}" (has: ${all.join(', ') || 'none'})`, { details: { stream: opt } });
    return s;
  }

  /** The tag table of a scalar stream (from the newest segment that has it). */
  tags(stream?: string): TagTable {
    const s = this.stream(stream);
    for (let k = this.files.length - 1; k >= 0; k--) {
      const f = this.files[k]!;
      const id = readAll<Uint32Array>(ds(f, `scalars/${s}/tags/id`));
      if (id) return { id, name: readAll<string[]>(ds(f, `scalars/${s}/tags/name`)) ?? [], unit: readAll<string[]>(ds(f, `scalars/${s}/tags/unit`)) ?? [] };
    }
    return { id: new Uint32Array(0), name: [], unit: [] };
  }

  private tagId(stream: string, name: string): number {
    const t = this.tags(stream);
    const k = t.name.indexOf(name);
    if (k < 0) throw new DaqError('DAQ_ERR_STREAM_UNKNOWN', `stream "${stream}" has no tag "${name}"`, { details: { stream, tag: name } });
    return t.id[k]!;
  }

  /** Rows of tag `id` in [tMin, tMax) ns from each segment, via its tag index. */
  private tagRows(stream: string, id: number, tMin: bigint, tMax: bigint) {
    const out = { ts: [] as BigInt64Array[], v: [] as Float64Array[], q: [] as Uint8Array[] };
    for (const f of this.files) {
      const base = `scalars/${stream}`;
      const itag = readAll<Uint32Array>(ds(f, `${base}/tag_index/tag`));
      if (!itag) continue;
      let k = -1;
      let lo = 0;
      let hi = itag.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (itag[mid] === id) {
          k = mid;
          break;
        }
        if (itag[mid]! < id) lo = mid + 1;
        else hi = mid - 1;
      }
      if (k < 0) continue;
      const tmin = (ds(f, `${base}/tag_index/t_min_ns`)!.slice([[k, k + 1]]) as BigInt64Array)[0]!;
      const tmax = (ds(f, `${base}/tag_index/t_max_ns`)!.slice([[k, k + 1]]) as BigInt64Array)[0]!;
      if (tmax < tMin || tmin >= tMax) continue;
      const start = Number((ds(f, `${base}/tag_index/start`)!.slice([[k, k + 1]]) as BigInt64Array)[0]!);
      const count = Number((ds(f, `${base}/tag_index/count`)!.slice([[k, k + 1]]) as BigInt64Array)[0]!);
      const ts = ds(f, `${base}/timestamp_ns`)!.slice([[start, start + count]]) as BigInt64Array;
      let a = 0;
      while (a < ts.length && ts[a]! < tMin) a++;
      let b = ts.length;
      while (b > a && ts[b - 1]! >= tMax) b--;
      if (b <= a) continue;
      out.ts.push(ts.subarray(a, b));
      out.v.push((ds(f, `${base}/value`)!.slice([[start + a, start + b]]) as Float64Array));
      out.q.push((ds(f, `${base}/quality`)!.slice([[start + a, start + b]]) as Uint8Array));
    }
    return out;
  }

  /** One tag's points with tMin <= timestamp_ns < tMax, time-ordered, as an Arrow table. */
  readTag(name: string, tMinNs: bigint, tMaxNs: bigint, opts: { stream?: string } = {}): Table {
    const s = this.stream(opts.stream);
    const id = this.tagId(s, name);
    const r = this.tagRows(s, id, tMinNs, tMaxNs);
    const n = r.ts.reduce((a, x) => a + x.length, 0);
    const ts = new BigInt64Array(n);
    const v = new Float64Array(n);
    const q = new Uint8Array(n);
    let o = 0;
    r.ts.forEach((x, k) => {
      ts.set(x, o);
      v.set(r.v[k]!, o);
      q.set(r.q[k]!, o);
      o += x.length;
    });
    return new Table([makeBatch(pointSchema, [ts, new Uint32Array(n).fill(id), v, q])]);
  }

  /** Points of several tags (default: all) in [tMin, tMax), ordered by tag then time. */
  readWindow(tMinNs: bigint, tMaxNs: bigint, opts: { tags?: string[]; stream?: string } = {}): Table {
    const s = this.stream(opts.stream);
    const names = opts.tags ?? this.tags(s).name;
    const tables = names.map((n) => this.readTag(n, tMinNs, tMaxNs, { stream: s }));
    return tables.reduce((a, t) => a.concat(t), new Table(pointSchema));
  }

  /** Every point of a scalar stream, segment after segment (each sorted by tag, then time). */
  readScalars(stream?: string): { timestampNs: BigInt64Array; tag: Uint32Array; value: Float64Array; quality: Uint8Array } {
    const s = this.stream(stream);
    const parts = this.files
      .map((f) => ({
        ts: readAll<BigInt64Array>(ds(f, `scalars/${s}/timestamp_ns`)),
        tag: readAll<Uint32Array>(ds(f, `scalars/${s}/tag`)),
        v: readAll<Float64Array>(ds(f, `scalars/${s}/value`)),
        q: readAll<Uint8Array>(ds(f, `scalars/${s}/quality`)),
      }))
      .filter((p) => p.ts);
    const n = parts.reduce((a, p) => a + p.ts!.length, 0);
    const out = { timestampNs: new BigInt64Array(n), tag: new Uint32Array(n), value: new Float64Array(n), quality: new Uint8Array(n) };
    let o = 0;
    for (const p of parts) {
      out.timestampNs.set(p.ts!, o);
      out.tag.set(p.tag!, o);
      out.value.set(p.v!, o);
      out.quality.set(p.q!, o);
      o += p.ts!.length;
    }
    return out;
  }

  /** The last stored value of every tag: columns tag, name, timestamp_ns, value, quality. */
  lastValues(opts: { stream?: string } = {}): Table {
    const s = this.stream(opts.stream);
    const t = this.tags(s);
    const n = t.id.length;
    const ts = new BigInt64Array(n);
    const v = new Float64Array(n).fill(Number.NaN);
    const q = new Uint8Array(n);
    const pos = new Map<number, number>();
    t.id.forEach((id, k) => pos.set(id, k));
    // Newest segment first: the first hit per tag is its last value.
    const found = new Uint8Array(n);
    for (let k = this.files.length - 1; k >= 0; k--) {
      const f = this.files[k]!;
      const base = `scalars/${s}`;
      const itag = readAll<Uint32Array>(ds(f, `${base}/tag_index/tag`));
      if (!itag) continue;
      const start = readAll<BigInt64Array>(ds(f, `${base}/tag_index/start`))!;
      const count = readAll<BigInt64Array>(ds(f, `${base}/tag_index/count`))!;
      const tsDs = ds(f, `${base}/timestamp_ns`)!;
      const vDs = ds(f, `${base}/value`)!;
      const qDs = ds(f, `${base}/quality`)!;
      for (let j = 0; j < itag.length; j++) {
        const p = pos.get(itag[j]!);
        if (p === undefined || found[p]) continue;
        const last = Number(start[j]! + count[j]!) - 1;
        ts[p] = (tsDs.slice([[last, last + 1]]) as BigInt64Array)[0]!;
        v[p] = (vDs.slice([[last, last + 1]]) as Float64Array)[0]!;
        q[p] = (qDs.slice([[last, last + 1]]) as Uint8Array)[0]!;
        found[p] = 1;
      }
    }
    return new Table({
      tag: vectorFromArray(t.id),
      name: vectorFromArray(t.name, new Utf8()),
      timestamp_ns: vectorFromArray(ts),
      value: vectorFromArray(v),
      quality: vectorFromArray(q),
    });
  }

  close(): void {
    for (const f of this.files) f.close();
  }
}

/** Opens every finished segment of a run folder (read-only). */
export async function openRun(dir: string): Promise<RunReader> {
  await h5ready();
  if (!fs.existsSync(dir)) throw new DaqError('DAQ_ERR_RUN_NOT_FOUND', `no run folder ${dir}`, { details: { file: dir } });
  const segs = fs
    .readdirSync(dir)
    .filter((f) => SEGMENT_RE.test(f))
    .sort()
    .map((f) => path.join(dir, f));
  if (segs.length === 0) throw new DaqError('DAQ_ERR_RUN_NOT_FOUND', `${dir} holds no finished segments (seg-*.h5); run 'daq recover ${dir}' if it crashed`, { details: { file: dir } });
  const files = segs.map((p) => {
    const f = new h5wasm.File(p, 'r');
    if (!(f.file_id > 0n)) throw new DaqError('DAQ_ERR_HDF5', `cannot open ${p}`, { details: { file: p } });
    return f;
  });
  return new RunReader(dir, files, segs);
}
