/**
 * Writes each numeric column as its own `.npy` file (`<dir>/<prefix><column>.npy`), appending
 * batch by batch: a fixed-size header with a placeholder shape is written first and rewritten
 * with the final row count at the end, so memory holds one batch whatever the export size.
 * Timestamps become int64 in their stored unit; booleans `|b1`; float nulls NaN; integer nulls
 * keep their stored value and are counted in the result's `nullCounts`.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Type, type Field, type RecordBatch, type Vector } from 'apache-arrow';
import { DaqError } from '../../errors.ts';
import { npyHeaderBytes } from '../loaders/npy-format.ts';
import { batchesOf, commitFile, discardFile, schemaOf, tempName, type BatchSource, type ExportOptions, type ExportResult } from './batch-source.ts';

export interface NpyExportOptions extends ExportOptions {
  /** Prepended to each file name, e.g. `'records.'`. */
  prefix?: string;
}

export interface NpyExportResult extends ExportResult {
  /** Column name → file written. */
  fileOf: Record<string, string>;
  /** Column name → null rows written as stored values (integer columns) or NaN (floats). */
  nullCounts: Record<string, number>;
}

/** numpy descr of a column, or undefined when it is not a fixed-width number. */
function descrOf(field: Field): string | undefined {
  const t = field.type as { typeId: Type; bitWidth?: number; isSigned?: boolean; precision?: number };
  switch (t.typeId) {
    case Type.Int: {
      const bytes = t.bitWidth! / 8;
      return `${bytes === 1 ? '|' : '<'}${t.isSigned ? 'i' : 'u'}${bytes}`;
    }
    case Type.Timestamp: case Type.Duration:
      return '<i8';
    case Type.Float:
      return ['<f2', '<f4', '<f8'][t.precision!];
    case Type.Bool:
      return '|b1';
    default:
      return undefined;
  }
}

function fileName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, '_');
}

/** The bytes of one column of one batch, in the `.npy` layout (little-endian, one value per element). */
function columnBytes(vector: Vector, nulls: { n: number }): Uint8Array {
  const data = vector.data[0]!;
  if (data.typeId === Type.Bool) {
    const out = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) out[i] = vector.get(i) ? 1 : 0;
    nulls.n += data.nullCount;
    return out;
  }
  // Fixed-width values: arrow-js has already applied the slice offset to `values`.
  const values = (data.values as Uint8Array).subarray(0, data.length);
  if (data.nullCount > 0) {
    nulls.n += data.nullCount;
    if (data.typeId === Type.Float && !(values instanceof Uint16Array)) {
      const copy = (values as unknown as Float64Array).slice();
      for (let i = 0; i < data.length; i++) if (!vector.isValid(i)) copy[i] = Number.NaN;
      return new Uint8Array(copy.buffer, copy.byteOffset, copy.byteLength);
    }
  }
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

interface ColumnFile {
  name: string;
  descr: string;
  path: string;
  tmp: string;
  fh: FileHandle;
  position: number;
  nulls: { n: number };
}

/** Writes each selected column of `source` to `<dir>/<prefix><column>.npy`. */
export async function writeNpyColumns(source: BatchSource, dir: string, options: NpyExportOptions = {}): Promise<NpyExportResult> {
  const HEADER = 128;
  const files: ColumnFile[] = [];
  let rows = 0;
  let batches = 0;
  const bytesWritten = (): number => files.reduce((n, f) => n + f.position, 0);
  const start = async (fields: readonly Field[]): Promise<void> => {
    const bad = fields.filter((f) => descrOf(f) === undefined);
    if (bad.length > 0) {
      throw new DaqError('DAQ_ERR_EXPORT_UNSUPPORTED', `.npy export needs numeric, timestamp or boolean columns: ` +
        `${bad.map((f) => `'${f.name}' is ${String(f.type)}`).join(', ')}; select other columns or use csv/arrow`,
      { details: { columns: bad.map((f) => f.name) } });
    }
    for (const f of fields) {
      const path = join(dir, `${options.prefix ?? ''}${fileName(f.name)}.npy`);
      const tmp = tempName(path);
      const fh = await open(tmp, 'w');
      files.push({ name: f.name, descr: descrOf(f)!, path, tmp, fh, position: HEADER, nulls: { n: 0 } });
      await fh.write(npyHeaderBytes(descrOf(f)!, [0], HEADER), 0, HEADER, 0);
    }
  };
  try {
    for await (const batch of batchesOf(source, options.columns)) {
      if (batches === 0) await start(batch.schema.fields);
      await appendBatch(batch);
      rows += batch.numRows;
      batches++;
      options.onProgress?.({ batches, rows, bytesWritten: bytesWritten() });
    }
    if (batches === 0) {
      const schema = schemaOf(source, options);
      if (!schema) throw new DaqError('DAQ_ERR_EXPORT_UNSUPPORTED', `${dir}: no batches and no schema: cannot name the .npy files`);
      await start(schema.fields);
    }
    for (const f of files) {
      await f.fh.write(npyHeaderBytes(f.descr, [rows], HEADER), 0, HEADER, 0);
      await commitFile(f.fh, f.tmp, f.path);
    }
  } catch (err) {
    for (const f of files) await discardFile(f.fh, f.tmp);
    throw err instanceof DaqError ? err : new DaqError('DAQ_ERR_STORAGE_IO', `${dir}: .npy export failed: ${String(err)}`, { cause: err });
  }
  const total = bytesWritten();
  options.onProgress?.({ batches, rows, bytesWritten: total });
  return {
    rows,
    bytes: total,
    files: files.map((f) => f.path),
    fileOf: Object.fromEntries(files.map((f) => [f.name, f.path])),
    nullCounts: Object.fromEntries(files.map((f) => [f.name, f.nulls.n])),
  };

  async function appendBatch(batch: RecordBatch): Promise<void> {
    for (let j = 0; j < files.length; j++) {
      const f = files[j]!;
      const bytes = columnBytes(batch.getChildAt(j)!, f.nulls);
      await f.fh.write(bytes, 0, bytes.byteLength, f.position);
      f.position += bytes.byteLength;
    }
  }
}
