/**
 * What every export writer consumes: Arrow record batches from a Table, one batch, or a (async)
 * iterable of batches (e.g. a run reader streaming a time window), plus the shared progress and
 * result shapes and the temp-file-then-rename discipline.
 */
import { rename, unlink, type FileHandle } from 'node:fs/promises';
import { RecordBatch, Table, type Schema } from 'apache-arrow';
import { DaqError } from '../../errors.ts';

export type BatchSource = Table | RecordBatch | Iterable<RecordBatch> | AsyncIterable<RecordBatch>;

export interface ExportProgress {
  batches: number;
  rows: number;
  bytesWritten: number;
}

export interface ExportOptions {
  /** Columns to write, in this order; default all. */
  columns?: readonly string[];
  /** Schema to write when the source yields no batch (a Table source supplies its own). */
  schema?: Schema;
  /** Called after each batch is written. */
  onProgress?: (p: ExportProgress) => void;
}

export interface ExportResult {
  rows: number;
  /** Bytes written over all files. */
  bytes: number;
  /** Files written (final names). */
  files: string[];
}

/** Yields the batches of any source, with only the selected columns. */
export async function* batchesOf(source: BatchSource, columns?: readonly string[]): AsyncGenerator<RecordBatch> {
  const it: Iterable<RecordBatch> | AsyncIterable<RecordBatch> =
    source instanceof Table ? source.batches : source instanceof RecordBatch ? [source] : source;
  for await (const batch of it) yield columns ? selectColumns(batch, columns) : batch;
}

export function selectColumns(batch: RecordBatch, columns: readonly string[]): RecordBatch {
  const names = batch.schema.fields.map((f) => f.name);
  const missing = columns.filter((c) => !names.includes(c));
  if (missing.length > 0) {
    throw new DaqError('DAQ_ERR_EXPORT_UNSUPPORTED', `unknown column(s) ${missing.map((m) => `'${m}'`).join(', ')}: ` +
      `the data has ${names.map((n) => `'${n}'`).join(', ')}`, { details: { missing, available: names } });
  }
  return batch.selectAt(columns.map((c) => names.indexOf(c)));
}

/** Schema to use when no batch arrived. */
export function schemaOf(source: BatchSource, options: ExportOptions): Schema | undefined {
  const schema = source instanceof Table || source instanceof RecordBatch ? source.schema : options.schema;
  if (schema && options.columns) return schema.select(options.columns as string[]);
  return schema;
}

export function tempName(path: string): string {
  return `${path}.tmp-${process.pid}`;
}

/** fsyncs, closes and renames a finished temp file into place. */
export async function commitFile(fh: FileHandle, tmp: string, path: string): Promise<void> {
  await fh.datasync();
  await fh.close();
  await rename(tmp, path);
}

/** Closes and removes a temp file after a failure (best effort). */
export async function discardFile(fh: FileHandle, tmp: string): Promise<void> {
  await fh.close().catch(() => undefined);
  await unlink(tmp).catch(() => undefined);
}
