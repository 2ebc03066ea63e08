/**
 * `daq export RUN`: a run folder's records (with their waveforms) and scalar points, optionally
 * limited to a time window and to some tags, written as Arrow IPC files, CSV or `.npy` columns
 * into one output folder. Streams batch by batch through the writers of `export.ts`, so memory
 * holds one records batch (plus one scalar stream's window, which the tag-index reader returns
 * whole).
 *
 * Files (`<out>/...`):
 * - arrow: `records.arrow` (record columns + `samples`: list<uint16>), `scalars.<stream>.arrow`
 *   (`timestamp_ns`, `tag`, `name`, `value`, `quality`), non-primary waveform streams
 *   `records.<stream>.arrow`.
 * - csv: the same tables as `.csv`; `samples` is a quoted JSON list (`"[512,511,...]"`).
 * - npy: one file per numeric column (`records.<column>.npy`, `scalars.<stream>.<column>.npy`);
 *   waveforms go to `records.samples.npy` (flat uint16) and `records.wave_offset.npy` indexes it;
 *   tag names to `scalars.<stream>.tags.csv` (id, name, unit, type).
 */
import { open } from 'node:fs/promises';
import path from 'node:path';
import { Field, List, makeData, RecordBatch, Schema, Struct, Uint16, Uint32, Utf8, vectorFromArray } from 'apache-arrow';
import { DaqError } from '../errors.ts';
import { recordsSchema } from '../schema/waveform.ts';
import { exportBatches, type ExportFormat, type ExportResult } from './export.ts';
import { writeCsv } from './export/csv-writer.ts';
import { commitFile, discardFile, tempName } from './export/batch-source.ts';
import { npyHeaderBytes } from './loaders/npy-format.ts';
import { pointSchema } from './scalar-reader.ts';
import type { RunReader } from './open-run.ts';
import type { RecordsView } from './records-view.ts';
import { makeDirsSync } from '../util/make-dirs.ts';

export interface RunExportProgress {
  /** `records`, `records.<stream>` or `scalars.<stream>`. */
  part: string;
  rows: number;
  /**
   * Rows this part will have; for `scalars.*` parts, the stored points of the chosen tags, and
   * `rows` counts those examined so far (the time window may keep fewer).
   */
  total: number;
}

export interface RunExportOptions {
  format: ExportFormat;
  /** Output folder (created). */
  out: string;
  /** Window start, ps from the run's clock origin (`t0_unix_ns`), inclusive; default the beginning. */
  fromPs?: bigint;
  /** Window end, ps from the origin, exclusive; default the end. */
  toPs?: bigint;
  /** Scalar tags to export (default all); a name no scalar stream has is DAQ_ERR_USAGE. */
  tags?: string[];
  /** Export waveform records (default true). */
  records?: boolean;
  /** Export scalar points (default true). */
  scalars?: boolean;
  /** Records per batch (default 16384). */
  batchRows?: number;
  /** Scalar points read from the run at a time (default 2^20): bounds the export's memory. */
  scalarPieceRows?: number;
  onProgress?: (p: RunExportProgress) => void;
}

export interface RunExportSummary {
  out: string;
  format: ExportFormat;
  parts: Array<{ part: string; rows: number; files: string[] }>;
  bytes: number;
}

const SAMPLES_FIELD = new Field('samples', new List(new Field('item', new Uint16(), false)), false, new Map([['unit', 'ADC counts']]));
const NAME_FIELD = new Field('name', new Utf8(), false);

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

/** ceil(a / b) for b > 0. */
function ceilDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return q * b < a ? q + 1n : q;
}

/** `t0_unix_ns` of the run (first segment), 0 when absent. */
function t0Of(run: RunReader): bigint {
  const v = run.attrs['t0_unix_ns'];
  const x = ArrayBuffer.isView(v) ? (v as unknown as ArrayLike<bigint | number>)[0] : (v as bigint | number | undefined);
  return x === undefined ? 0n : BigInt(x);
}

function recordsSchemaWithSamples(meta: Map<string, string>): Schema {
  return new Schema([...recordsSchema.fields, SAMPLES_FIELD], new Map([...recordsSchema.metadata, ...meta]));
}

/** Records batches of rows [a, b) with a `samples` list column (wave_offset stays run-global). */
function* recordsWithSamples(view: RecordsView, a: number, b: number, size: number, schema: Schema, progress: (rows: number) => void): Generator<RecordBatch> {
  for (const batch of view.iterBatches(size, { start: a, end: b })) {
    const n = batch.end - batch.start;
    const offsets = new Int32Array(n + 1);
    const len = view.columns.event_length;
    for (let k = 0; k < n; k++) offsets[k + 1] = offsets[k]! + len[batch.start + k]!;
    const child = makeData({ type: new Uint16(), length: batch.samples.length, nullCount: 0, data: batch.samples });
    const list = makeData({ type: SAMPLES_FIELD.type, length: n, nullCount: 0, valueOffsets: offsets, child });
    const children = batch.records.data.children.slice();
    children[8] = makeData({ type: recordsSchema.fields[8]!.type, length: n, nullCount: 0, data: view.columns.wave_offset.subarray(batch.start, batch.end) });
    children.push(list);
    yield new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: n, nullCount: 0, children }));
    progress(batch.end - a);
  }
}

/** `.npy` export of records: one file per column, waveforms flat in `records.samples.npy`. */
async function recordsToNpy(view: RecordsView, a: number, b: number, size: number, out: string, prefix: string, progress: (rows: number) => void): Promise<ExportResult> {
  const HEADER = 128;
  const samplesPath = path.join(out, `${prefix}samples.npy`);
  const tmp = tempName(samplesPath);
  const fh = await open(tmp, 'w');
  let pos = HEADER;
  try {
    await fh.write(npyHeaderBytes('<u2', [0], HEADER), 0, HEADER, 0);
    let exported = 0n;
    async function* batches(): AsyncGenerator<RecordBatch> {
      for (const batch of view.iterBatches(size, { start: a, end: b })) {
        const bytes = new Uint8Array(batch.samples.buffer, batch.samples.byteOffset, batch.samples.byteLength);
        await fh.write(bytes, 0, bytes.byteLength, pos);
        pos += bytes.byteLength;
        // wave_offset: batch-local → position in the exported samples file.
        const local = batch.records.getChildAt(8)!.data[0]!.values as BigInt64Array;
        for (let k = 0; k < local.length; k++) local[k] = local[k]! + exported;
        exported += BigInt(batch.samples.length);
        yield batch.records;
        progress(batch.end - a);
      }
    }
    const res = await exportBatches(batches(), { format: 'npy', path: out, prefix, schema: recordsSchema });
    await fh.write(npyHeaderBytes('<u2', [Number(exported)], HEADER), 0, HEADER, 0);
    await commitFile(fh, tmp, samplesPath);
    return { rows: res.rows, bytes: res.bytes + pos, files: [...res.files, samplesPath] };
  } catch (err) {
    await discardFile(fh, tmp);
    throw err;
  }
}

/**
 * Exports a run (opened with `openRun`) into `options.out`. Records are selected by their
 * `timestamp` (ps from the origin) in [fromPs, toPs); scalar points by `timestamp_ns` (Unix ns) in
 * [t0 + ⌈fromPs/1000⌉, t0 + ⌈toPs/1000⌉), the same instants.
 */
export async function exportRun(run: RunReader, options: RunExportOptions): Promise<RunExportSummary> {
  const { format, out } = options;
  const size = options.batchRows ?? 16384;
  const fromPs = options.fromPs ?? I64_MIN;
  const toPs = options.toPs ?? I64_MAX;
  const t0 = t0Of(run);
  const ext = format === 'arrow' ? 'arrow' : 'csv';
  const meta = new Map([['daq.run_id', String(run.attrs['run_id'] ?? '')], ['daq.t0_unix_ns', String(t0)]]);

  // Validate the tag filter before writing anything.
  const streams = options.scalars === false ? [] : run.scalarStreams();
  const tagsOf = new Map<string, string[] | undefined>();
  if (options.tags) {
    const found = new Set<string>();
    for (const s of streams) {
      const names = new Set(run.tags(s).name);
      const mine = options.tags.filter((t) => names.has(t));
      mine.forEach((t) => found.add(t));
      if (mine.length > 0) tagsOf.set(s, mine);
    }
    const missing = options.tags.filter((t) => !found.has(t));
    if (missing.length > 0) {
      const known = streams.flatMap((s) => run.tags(s).name);
      throw new DaqError('DAQ_ERR_USAGE', `--tags: no scalar stream has ${missing.map((m) => `"${m}"`).join(', ')} (the run has ${known.length} tags${known.length ? `, e.g. ${known.slice(0, 5).map((k) => `"${k}"`).join(', ')}` : ''})`, { details: { missing } });
    }
  } else {
    for (const s of streams) tagsOf.set(s, undefined);
  }

  makeDirsSync(out);
  const summary: RunExportSummary = { out, format, parts: [], bytes: 0 };

  if (options.records !== false) {
    const waveStreams: Array<string | undefined> = [undefined, ...run.waveStreams()];
    for (const stream of waveStreams) {
      const view = run.recordsOf(stream);
      if (stream === undefined && view.length === 0 && waveStreams.length > 1) continue;
      const part = stream === undefined ? 'records' : `records.${stream}`;
      const [a, b] = view.timeRange(fromPs, toPs);
      const total = b - a;
      const progress = (rows: number): void => options.onProgress?.({ part, rows, total });
      progress(0);
      let res: ExportResult;
      if (format === 'npy') {
        res = await recordsToNpy(view, a, b, size, out, `${part}.`, progress);
      } else {
        const schema = recordsSchemaWithSamples(meta);
        res = await exportBatches(recordsWithSamples(view, a, b, size, schema, progress), { format, path: path.join(out, `${part}.${ext}`), schema });
      }
      summary.parts.push({ part, rows: res.rows, files: res.files });
      summary.bytes += res.bytes;
    }
  }

  for (const [stream, tags] of tagsOf) {
    const part = `scalars.${stream}`;
    // Streamed: the window is read tag range by tag range (~1 M points at a time), never whole.
    const reader = run.scalars(stream);
    const total = reader.storedRows(tags);
    options.onProgress?.({ part, rows: 0, total });
    const pieces = reader.iterWindow(t0 + ceilDiv(fromPs, 1000n), t0 + ceilDiv(toPs, 1000n), { tags, maxRows: options.scalarPieceRows ?? 1 << 20, onScanned: (rows) => options.onProgress?.({ part, rows, total }) });
    const table = run.tags(stream);
    const nameOf = new Map<number, string>();
    for (let k = 0; k < table.id.length; k++) nameOf.set(table.id[k]!, table.name[k]!);
    const withNames = format !== 'npy';
    const fields = withNames ? [pointSchema.fields[0]!, pointSchema.fields[1]!, NAME_FIELD, pointSchema.fields[2]!, pointSchema.fields[3]!] : pointSchema.fields;
    const schema = new Schema(fields, meta);
    const rowsPer = 65536;
    async function* batches(): AsyncGenerator<RecordBatch> {
      for (const win of pieces) {
        const n = win.numRows;
        const col = <T>(name: string): T => win.getChild(name)!.data[0]!.values as T;
        const ts = col<BigInt64Array>('timestamp_ns');
        const tag = col<Uint32Array>('tag');
        const value = col<Float64Array>('value');
        const quality = col<Uint8Array>('quality');
        for (let a = 0; a < n; a += rowsPer) {
          const b = Math.min(n, a + rowsPer);
          const cols: ReturnType<typeof makeData>[] = [];
          const num = (type: Field['type'], data: ArrayLike<unknown>) => makeData({ type, length: b - a, nullCount: 0, data } as never);
          cols.push(num(fields[0]!.type, ts.subarray(a, b)), num(fields[1]!.type, tag.subarray(a, b)));
          if (withNames) {
            const names = new Array<string>(b - a);
            for (let k = a; k < b; k++) names[k - a] = nameOf.get(tag[k]!) ?? '';
            cols.push(vectorFromArray(names, new Utf8()).data[0]!);
          }
          cols.push(num(pointSchema.fields[2]!.type, value.subarray(a, b)), num(pointSchema.fields[3]!.type, quality.subarray(a, b)));
          yield new RecordBatch(schema, makeData({ type: new Struct(fields), length: b - a, nullCount: 0, children: cols }));
          await Promise.resolve();
        }
      }
      options.onProgress?.({ part, rows: total, total });
    }
    const res = format === 'npy'
      ? await exportBatches(batches(), { format, path: out, prefix: `${part}.`, schema })
      : await exportBatches(batches(), { format, path: path.join(out, `${part}.${ext}`), schema });
    const files = [...res.files];
    let bytes = res.bytes;
    if (format === 'npy') {
      const tagFile = path.join(out, `${part}.tags.csv`);
      const t = await writeCsv(new RecordBatch({
        id: makeData({ type: new Uint32(), length: table.id.length, nullCount: 0, data: table.id }),
        name: vectorFromArray(table.name, new Utf8()).data[0]!,
        unit: vectorFromArray(table.unit, new Utf8()).data[0]!,
        type: vectorFromArray(table.type, new Utf8()).data[0]!,
      }), tagFile);
      files.push(tagFile);
      bytes += t.bytes;
    }
    summary.parts.push({ part, rows: res.rows, files });
    summary.bytes += bytes;
  }
  return summary;
}
