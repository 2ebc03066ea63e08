/**
 * One-time conversion of a numeric CSV column to a `.npy` file beside it, so a huge CSV is
 * parsed once and then read lazily like any `.npy`. Streaming: memory holds one read chunk
 * (1 MiB) and one block of converted values, whatever the CSV size. The `.npy` is written to a
 * temporary name, fsynced and renamed, and reused while it is newer than the CSV.
 */
import { createReadStream } from 'node:fs';
import { open, rename, stat, unlink } from 'node:fs/promises';
import { DaqError } from '../../errors.ts';
import { numpyDescr } from './dtype.ts';
import { npyHeaderBytes } from './npy-format.ts';

export interface CsvProgress {
  bytesRead: number;
  totalBytes: number;
  rows: number;
}

export interface CsvConvertOptions {
  /** Column index (0-based) or header name; default 0. */
  column?: number | string;
  /** Field delimiter; default: guessed from the first data line (`,` `;` tab, else whitespace). */
  delimiter?: string;
  /** Sample type of the `.npy`; default float64. */
  dtype?: 'float64' | 'float32';
  /** Where to write the `.npy`; default beside the CSV (see {@link csvCachePath}). */
  output?: string;
  /** Convert even when an up-to-date `.npy` exists. */
  force?: boolean;
  /** Called after each chunk read (about every MiB) and once at the end. */
  onProgress?: (p: CsvProgress) => void;
}

export interface CsvConvertResult {
  npyPath: string;
  rows: number;
  /** False when an up-to-date `.npy` was reused. */
  converted: boolean;
}

/** Default `.npy` path for a CSV column: `data.csv` → `data.csv.npy` (column 0, float64), `data.csv.volts.f4.npy`... */
export function csvCachePath(csvPath: string, column: number | string = 0, dtype: 'float64' | 'float32' = 'float64'): string {
  const col = column === 0 ? '' : `.${String(column).replace(/[^A-Za-z0-9_-]/g, '_')}`;
  return `${csvPath}${col}${dtype === 'float32' ? '.f4' : ''}.npy`;
}

const BLOCK = 65536;
const CR = 13;

/** The number in a field (numpy spellings nan/inf accepted), or undefined when it holds none. */
function parseValue(text: string): number | undefined {
  const t = text.trim().replace(/^"(.*)"$/, '$1').trim();
  if (t === '') return undefined;
  const v = Number(t);
  if (!Number.isNaN(v)) return v;
  const lower = t.toLowerCase();
  if (lower === 'nan') return Number.NaN;
  if (lower === 'inf' || lower === '+inf' || lower === 'infinity') return Infinity;
  if (lower === '-inf' || lower === '-infinity') return -Infinity;
  return undefined;
}

function isNumeric(text: string): boolean {
  const t = text.trim().replace(/^"(.*)"$/, '$1').trim();
  return t !== '' && (!Number.isNaN(Number(t)) || /^[+-]?(nan|inf|infinity)$/i.test(t));
}

function splitFields(line: string, delimiter: string | null): string[] {
  return delimiter === null ? line.trim().split(/\s+/) : line.split(delimiter);
}

function guessDelimiter(line: string): string | null {
  for (const d of [',', ';', '\t']) if (line.includes(d)) return d;
  return null;
}

/** Converts one CSV column to `.npy` (or reuses an up-to-date one). */
export async function csvToNpy(csvPath: string, options: CsvConvertOptions = {}): Promise<CsvConvertResult> {
  const dtype = options.dtype ?? 'float64';
  const column = options.column ?? 0;
  const npyPath = options.output ?? csvCachePath(csvPath, column, dtype);
  const csvStat = await stat(csvPath);
  if (!options.force) {
    const cached = await stat(npyPath).catch(() => undefined);
    if (cached && cached.mtimeMs >= csvStat.mtimeMs) {
      const rows = (cached.size - 128) / (dtype === 'float32' ? 4 : 8);
      options.onProgress?.({ bytesRead: csvStat.size, totalBytes: csvStat.size, rows });
      return { npyPath, rows, converted: false };
    }
  }
  const descr = numpyDescr(dtype);
  const tmp = `${npyPath}.tmp-${process.pid}`;
  const out = await open(tmp, 'w');
  const block = dtype === 'float32' ? new Float32Array(BLOCK) : new Float64Array(BLOCK);
  const blockBytes = new Uint8Array(block.buffer);
  let filled = 0;
  let rows = 0;
  let position = 128;
  const flush = async (): Promise<void> => {
    if (filled === 0) return;
    const n = filled * block.BYTES_PER_ELEMENT;
    await out.write(blockBytes, 0, n, position);
    position += n;
    filled = 0;
  };
  const fail = (lineNo: number, message: string): DaqError =>
    new DaqError('DAQ_ERR_TRACE_FORMAT', `${csvPath}:${lineNo}: ${message}`, { details: { file: csvPath, line: lineNo } });

  let delimiter: string | null | undefined = options.delimiter;
  let colIndex: number | undefined = typeof column === 'number' ? column : undefined;
  let sawFirst = false;
  let lineNo = 0;
  let bytesRead = 0;

  const handleLine = (line: string): void => {
    lineNo++;
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    if (delimiter === undefined) delimiter = guessDelimiter(trimmed);
    const fields = splitFields(line, delimiter);
    if (!sawFirst) {
      sawFirst = true;
      const header = colIndex === undefined ? true : !isNumeric(fields[colIndex] ?? '');
      if (header) {
        if (colIndex === undefined) {
          const names = fields.map((f) => f.trim().replace(/^"(.*)"$/, '$1'));
          colIndex = names.indexOf(String(column));
          if (colIndex < 0) throw fail(lineNo, `no column named '${column}' in header: found ${names.map((n) => `'${n}'`).join(', ')}`);
        }
        return;
      }
    }
    const field = fields[colIndex!];
    if (field === undefined) throw fail(lineNo, `expected at least ${colIndex! + 1} fields, found ${fields.length}`);
    const v = parseValue(field);
    if (v === undefined) throw fail(lineNo, `expected a number in column ${colIndex}, found '${field.trim()}'`);
    block[filled++] = v;
    rows++;
  };

  try {
    let carry = '';
    const stream = createReadStream(csvPath, { highWaterMark: 1 << 20 });
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      bytesRead += chunk.length;
      let text = carry + chunk.toString('latin1');
      let start = 0;
      for (;;) {
        const nl = text.indexOf('\n', start);
        if (nl < 0) break;
        const end = nl > start && text.charCodeAt(nl - 1) === CR ? nl - 1 : nl;
        handleLine(text.slice(start, end));
        start = nl + 1;
        if (filled === BLOCK) await flush();
      }
      carry = text.slice(start);
      text = '';
      options.onProgress?.({ bytesRead, totalBytes: csvStat.size, rows });
    }
    if (carry.length > 0) handleLine(carry.charCodeAt(carry.length - 1) === CR ? carry.slice(0, -1) : carry);
    await flush();
    if (!sawFirst) throw fail(lineNo, 'no data rows');
    await out.write(npyHeaderBytes(descr, [rows]), 0, 128, 0);
    await out.datasync();
    await out.close();
    await rename(tmp, npyPath);
  } catch (err) {
    await out.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  options.onProgress?.({ bytesRead, totalBytes: csvStat.size, rows });
  return { npyPath, rows, converted: true };
}
