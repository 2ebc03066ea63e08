/**
 * Writes batches as an Arrow IPC *file* (random-access format, readable by pyarrow, polars,
 * DuckDB...). The arrow-js writer queues its output without backpressure, so a consumer task
 * writes the queued bytes to disk while the producer waits whenever more than
 * {@link ARROW_INFLIGHT_BYTES} (estimated from batch buffer sizes) are not yet written:
 * memory stays bounded by that limit plus one batch, whatever the export size.
 */
import { open } from 'node:fs/promises';
import { RecordBatchFileWriter, Table, type RecordBatch } from 'apache-arrow';
import { DaqError } from '../../errors.ts';
import { batchesOf, commitFile, discardFile, schemaOf, tempName, type BatchSource, type ExportOptions, type ExportResult } from './batch-source.ts';

export const ARROW_INFLIGHT_BYTES = 64 * 1024 * 1024;

function batchBufferBytes(batch: RecordBatch): number {
  let n = 0;
  const visit = (d: { buffers: unknown[]; children: unknown[] }): void => {
    for (const b of d.buffers) if (b && ArrayBuffer.isView(b)) n += b.byteLength;
    for (const c of d.children) visit(c as typeof d);
  };
  visit(batch.data as unknown as { buffers: unknown[]; children: unknown[] });
  return n;
}

/** Writes `source` to `path` as an Arrow IPC file (temp name, fsync, rename). */
export async function writeArrowFile(source: BatchSource, path: string, options: ExportOptions = {}): Promise<ExportResult> {
  const tmp = tempName(path);
  const fh = await open(tmp, 'w');
  const writer = new RecordBatchFileWriter();
  let written = 0;
  let inflight = 0;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const consumer = (async () => {
    try {
      for await (const chunk of writer) {
        const { bytesWritten } = await fh.write(chunk, 0, chunk.byteLength, written);
        written += bytesWritten;
        inflight -= bytesWritten;
        if (inflight <= ARROW_INFLIGHT_BYTES / 2) wake?.();
      }
    } catch (err) {
      failure = err;
      wake?.();
    }
  })();
  let rows = 0;
  let batches = 0;
  try {
    for await (const batch of batchesOf(source, options.columns)) {
      if (failure) break;
      writer.write(batch);
      inflight += batchBufferBytes(batch);
      rows += batch.numRows;
      batches++;
      while (inflight > ARROW_INFLIGHT_BYTES && !failure) await new Promise<void>((r) => (wake = r));
      options.onProgress?.({ batches, rows, bytesWritten: written });
    }
    if (batches === 0 && !failure) {
      const schema = schemaOf(source, options);
      if (!schema) throw new DaqError('DAQ_ERR_EXPORT_UNSUPPORTED', `${path}: no batches and no schema to write an empty Arrow file`);
      writer.write(new Table(schema));
    }
    writer.close();
    await consumer;
    if (failure) throw failure;
    await commitFile(fh, tmp, path);
  } catch (err) {
    writer.abort();
    await consumer;
    await discardFile(fh, tmp);
    throw err instanceof DaqError ? err : new DaqError('DAQ_ERR_STORAGE_IO', `${path}: Arrow export failed: ${String(err)}`, { cause: err });
  }
  options.onProgress?.({ batches, rows, bytesWritten: written });
  return { rows, bytes: written, files: [path] };
}
