/**
 * Writes batches as CSV, streaming: text is built for one block of rows at a time straight from
 * the column buffers (no row objects) and written before the next block, so memory holds one
 * batch plus about 1 MiB of text. 64-bit integers and timestamps are written as exact integers
 * in their stored unit; floats in shortest round-trip form with `nan`/`inf`/`-inf`; nulls as
 * empty fields; text fields quoted when needed (RFC 4180).
 */
import { open } from 'node:fs/promises';
import { Type, type RecordBatch, type Vector } from 'apache-arrow';
import { DaqError } from '../../errors.ts';
import { batchesOf, commitFile, discardFile, schemaOf, tempName, type BatchSource, type ExportOptions, type ExportResult } from './batch-source.ts';

export interface CsvExportOptions extends ExportOptions {
  /** Field delimiter; default `,`. */
  delimiter?: string;
  /** Write the header row of column names; default true. */
  header?: boolean;
}

const FLUSH_CHARS = 1 << 20;

function quote(text: string, delimiter: string): string {
  return text.includes(delimiter) || /["\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function formatFloat(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  return String(v);
}

type Cell = (row: number) => string;

/** A formatter for one column of one batch, reading its buffer directly where the type allows. */
function cellFormatter(vector: Vector, delimiter: string): Cell {
  const data = vector.data[0]!;
  const valid = data.nullCount > 0 ? (i: number): boolean => vector.isValid(i) : undefined;
  let cell: Cell;
  switch (data.typeId) {
    case Type.Int: case Type.Timestamp: case Type.Duration: {
      // Stored integers (64-bit ones as BigInt64Array): exact, in the stored unit.
      const values = data.values as ArrayLike<number | bigint>;
      cell = (i) => String(values[i]);
      break;
    }
    case Type.Float: {
      const values = data.values as ArrayLike<number>;
      cell = data.type.precision === 0 ? (i) => formatFloat(vector.get(i) as number) : (i) => formatFloat(values[i]!);
      break;
    }
    case Type.Bool:
      cell = (i) => (vector.get(i) ? 'true' : 'false');
      break;
    default:
      cell = (i) => {
        const v = vector.get(i) as unknown;
        return quote(typeof v === 'string' ? v : typeof v === 'object' && v !== null ? JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? String(x) : x)) : String(v), delimiter);
      };
  }
  return valid ? (i) => (valid(i) ? cell(i) : '') : cell;
}

/** Writes `source` to `path` as CSV (temp name, fsync, rename). */
export async function writeCsv(source: BatchSource, path: string, options: CsvExportOptions = {}): Promise<ExportResult> {
  const delimiter = options.delimiter ?? ',';
  const tmp = tempName(path);
  const fh = await open(tmp, 'w');
  let written = 0;
  let text = '';
  const flush = async (): Promise<void> => {
    if (text.length === 0) return;
    const buf = Buffer.from(text, 'utf8');
    text = '';
    await fh.write(buf, 0, buf.length, written);
    written += buf.length;
  };
  let rows = 0;
  let batches = 0;
  let headerDone = options.header === false;
  const writeHeader = (names: string[]): void => {
    if (!headerDone) text += names.map((n) => quote(n, delimiter)).join(delimiter) + '\n';
    headerDone = true;
  };
  try {
    for await (const batch of batchesOf(source, options.columns)) {
      writeHeader(batch.schema.fields.map((f) => f.name));
      await writeBatch(batch);
      rows += batch.numRows;
      batches++;
      options.onProgress?.({ batches, rows, bytesWritten: written });
    }
    if (!headerDone) {
      const schema = schemaOf(source, options);
      if (!schema) throw new DaqError('DAQ_ERR_EXPORT_UNSUPPORTED', `${path}: no batches and no schema to write a CSV header`);
      writeHeader(schema.fields.map((f) => f.name));
    }
    await flush();
    await commitFile(fh, tmp, path);
  } catch (err) {
    await discardFile(fh, tmp);
    throw err instanceof DaqError ? err : new DaqError('DAQ_ERR_STORAGE_IO', `${path}: CSV export failed: ${String(err)}`, { cause: err });
  }
  options.onProgress?.({ batches, rows, bytesWritten: written });
  return { rows, bytes: written, files: [path] };

  async function writeBatch(batch: RecordBatch): Promise<void> {
    const cells = batch.schema.fields.map((_f, j) => cellFormatter(batch.getChildAt(j)!, delimiter));
    const last = cells.length - 1;
    if (last < 0) return;
    for (let i = 0; i < batch.numRows; i++) {
      for (let j = 0; j < last; j++) text += cells[j]!(i) + delimiter;
      text += cells[last]!(i) + '\n';
      if (text.length >= FLUSH_CHARS) await flush();
    }
  }
}
