/**
 * Export engine behind `daq export RUN --format arrow|csv|npy [--from T --to T] [--tags ...]`.
 * Writers take Arrow input (a Table, a RecordBatch, or an async iterable of RecordBatches from
 * the run reader) and stream it to disk with bounded memory, reporting progress per batch.
 * Every file is written under a temporary name, fsynced and renamed, so an interrupted export
 * never leaves a file that looks complete.
 *
 * ```ts
 * const batches = view.batches({ from, to });           // AsyncIterable<RecordBatch>
 * await exportBatches(batches, { format: 'arrow', path: 'run.arrow', onProgress: console.log });
 * ```
 */
import type { RecordBatch } from 'apache-arrow';
import { DaqError } from '../errors.ts';
import { writeArrowFile } from './export/arrow-file-writer.ts';
import { writeCsv, type CsvExportOptions } from './export/csv-writer.ts';
import { writeNpyColumns, type NpyExportOptions } from './export/npy-writer.ts';
import { batchesOf, type BatchSource, type ExportOptions, type ExportProgress, type ExportResult } from './export/batch-source.ts';

export { writeArrowFile, ARROW_INFLIGHT_BYTES } from './export/arrow-file-writer.ts';
export { writeCsv } from './export/csv-writer.ts';
export { writeNpyColumns } from './export/npy-writer.ts';
export type { CsvExportOptions, NpyExportOptions, BatchSource, ExportOptions, ExportProgress, ExportResult };
export type { NpyExportResult } from './export/npy-writer.ts';

export type ExportFormat = 'arrow' | 'csv' | 'npy';

export interface ExportBatchesOptions extends CsvExportOptions, NpyExportOptions {
  format: ExportFormat;
  /** Output file (arrow, csv) or directory (npy: one file per column). */
  path: string;
}

/** Dispatches to the writer of `options.format`. */
export function exportBatches(source: BatchSource, options: ExportBatchesOptions): Promise<ExportResult> {
  switch (options.format) {
    case 'arrow': return writeArrowFile(source, options.path, options);
    case 'csv': return writeCsv(source, options.path, options);
    case 'npy': return writeNpyColumns(source, options.path, options);
  }
}

/**
 * Keeps the rows of batches sorted by an integer time column (int64/timestamp) with
 * `from ≤ t < to` (either bound optional), by binary search and zero-copy `slice`; stops reading
 * once a batch starts at or after `to`. For `--from/--to` on sources sorted by time.
 */
export async function* timeWindow(source: BatchSource, column: string, from?: bigint, to?: bigint): AsyncGenerator<RecordBatch> {
  for await (const batch of batchesOf(source)) {
    const values = batch.getChild(column)?.data[0]?.values as BigInt64Array | undefined;
    if (!(values instanceof BigInt64Array)) {
      throw new DaqError('DAQ_ERR_EXPORT_UNSUPPORTED', `time window: column '${column}' is not an int64/timestamp column`, { details: { column } });
    }
    const n = batch.numRows;
    const lowerBound = (x: bigint): number => {
      let lo = 0;
      let hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (values[mid]! < x) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    };
    const a = from === undefined ? 0 : lowerBound(from);
    const b = to === undefined ? n : lowerBound(to);
    if (b > a) yield a === 0 && b === n ? batch : batch.slice(a, b);
    if (to !== undefined && b < n) return;
  }
}
