/**
 * Traces larger than RAM (seed 003): open a `.npy`, raw binary, HDF5 dataset or CSV column
 * lazily, know its length and duration without reading samples, slice it, and iterate it in
 * (overlapping) chunks with memory bounded by the chunk, whatever the file size.
 *
 * ```ts
 * await using trace = await loadTrace('capture.npy', { sampleRate: 1e9 });
 * console.log(trace.length, trace.duration);           // from the header only
 * const head = await trace.slice(1000, 2000);          // Float32Array for a float32 file
 * for await (const { start, data } of trace.iterChunks(8192, { overlap: 4096 })) {
 *   spectrum(data);                                    // `data` is reused: copy to keep it
 * }
 * ```
 */
import { open, read, close } from 'node:fs';
import { extname } from 'node:path';
import { DaqError } from '../errors.ts';
import { dtypeCtor, parseDType, type DTypeName, type TraceArray } from './loaders/dtype.ts';
import { openNpySource, openRawSource } from './loaders/file-source.ts';
import { csvToNpy, type CsvProgress } from './loaders/csv-to-npy.ts';
import type { SampleSource, TraceFormat } from './loaders/sample-source.ts';
import { HDF5_SIGNATURE } from '../storage/hdf5/signature.ts';

export type { DTypeName, TraceArray, TraceFormat, CsvProgress };

export interface LoadTraceOptions {
  /** Samples per second; `duration` is undefined without it. */
  sampleRate?: number;
  /** Format; default from the extension (.npy, .h5/.hdf5/.nxs, .csv/.tsv/.txt), else from magic bytes, else raw. */
  format?: TraceFormat;
  /**
   * Raw binary: required sample type (`'float32'`, `'int16be'`, numpy `'<f4'`, `'>i2'`...).
   * `.npy`: optional check against the header. CSV: `'float64'` (default) or `'float32'`.
   */
  dtype?: string;
  /** Raw binary only: byte offset of the first sample (default 0). */
  offset?: number;
  /** Read only the first `length` samples; an error if the file holds fewer. */
  length?: number;
  /** HDF5: dataset path; default `/wave_pool`, else the first 1-D numeric dataset. */
  dataset?: string;
  /** 2-D `.npy` / HDF5 arrays are (channels × samples) in C order: the row to read (default 0). */
  channel?: number;
  /** CSV: column index or header name (default 0). */
  column?: number | string;
  /** CSV: field delimiter (default guessed). */
  delimiter?: string;
  /** CSV: progress of the one-time conversion. */
  onProgress?: (p: CsvProgress) => void;
}

/** One chunk of {@link Trace.iterChunks}: samples `[start, start + data.length)`. */
export interface TraceChunk {
  readonly start: number;
  /** A view of a buffer reused for the next chunk unless `copy: true` was asked. */
  readonly data: TraceArray;
}

export interface IterChunksOptions {
  /** Samples shared by consecutive chunks (0 ≤ overlap < chunkSize); default 0. */
  overlap?: number;
  /** Yield a fresh array per chunk instead of a view of the reused buffer. */
  copy?: boolean;
}

function rangeError(message: string, details: Record<string, unknown>): DaqError {
  return new DaqError('DAQ_ERR_TRACE_RANGE', message, { details });
}

/** A lazily read trace. Samples are read only by {@link Trace.slice} and {@link Trace.iterChunks}. */
export class Trace implements AsyncDisposable, Disposable {
  /** Samples per second, when given. */
  readonly sampleRate: number | undefined;

  constructor(
    /** The path given to {@link loadTrace}. */
    readonly path: string,
    private readonly source: SampleSource,
    sampleRate: number | undefined,
  ) {
    this.sampleRate = sampleRate;
  }

  get format(): TraceFormat { return this.source.format; }
  /** The file actually read (for CSV, the `.npy` it was converted to). */
  get file(): string { return this.source.file; }
  get dtype(): DTypeName { return this.source.dtype; }
  /** Number of samples (of the selected channel). */
  get length(): number { return this.source.length; }
  /** Shape of the array in the file. */
  get shape(): readonly number[] { return this.source.shape; }
  /** `length / sampleRate` in seconds; undefined without a sample rate. */
  get duration(): number | undefined {
    return this.sampleRate === undefined ? undefined : this.length / this.sampleRate;
  }

  /**
   * Samples `[start, end)` as a new typed array of the trace's dtype (Float32Array for float32,
   * BigInt64Array for int64...), in native byte order. Requires integers 0 ≤ start ≤ end ≤ length
   * (no negative indices); otherwise throws `DAQ_ERR_TRACE_RANGE`.
   */
  async slice(start: number, end: number): Promise<TraceArray> {
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || end > this.length) {
      throw rangeError(`${this.path}: slice [${start}, ${end}) outside the trace: expected integers 0 ≤ start ≤ end ≤ ${this.length}`,
        { file: this.path, start, end, length: this.length });
    }
    const out = new (dtypeCtor(this.dtype))(end - start);
    await this.source.readInto(start, end - start, out);
    return out;
  }

  /**
   * Iterates the trace in chunks of `chunkSize` samples starting every `chunkSize - overlap`
   * samples; the last chunk is shorter when the trace ends inside it, and reaches the end.
   * One buffer of `chunkSize` samples is allocated and reused: the overlap is moved within it
   * and only new samples are read, so memory is bounded by the chunk and each byte is read once.
   */
  async *iterChunks(chunkSize: number, options: IterChunksOptions = {}): AsyncGenerator<TraceChunk, void, undefined> {
    const overlap = options.overlap ?? 0;
    if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) {
      throw rangeError(`${this.path}: chunkSize must be a positive integer, found ${chunkSize}`, { chunkSize });
    }
    if (!Number.isSafeInteger(overlap) || overlap < 0 || overlap >= chunkSize) {
      throw rangeError(`${this.path}: overlap must be an integer with 0 ≤ overlap < chunkSize (${chunkSize}), found ${overlap}`,
        { chunkSize, overlap });
    }
    const length = this.length;
    if (length === 0) return;
    const step = chunkSize - overlap;
    const buf = new (dtypeCtor(this.dtype))(Math.min(chunkSize, length));
    let start = 0;
    let n = Math.min(chunkSize, length);
    await this.source.readInto(0, n, buf);
    for (;;) {
      const view = buf.subarray(0, n) as TraceArray;
      yield { start, data: options.copy ? (view.slice() as TraceArray) : view };
      if (start + n >= length) return;
      const keep = n - step;
      buf.copyWithin(0, step, n);
      const next = start + step;
      const nextN = Math.min(chunkSize, length - next);
      await this.source.readInto(next + keep, nextN - keep, buf.subarray(keep, nextN) as TraceArray);
      start = next;
      n = nextN;
    }
  }

  /** Releases the file. Further reads throw. */
  close(): Promise<void> { return this.source.close(); }
  [Symbol.asyncDispose](): Promise<void> { return this.source.close(); }
  [Symbol.dispose](): void { this.source.closeSync(); }
}

/** Copies (converting) any trace array into a Float64Array, e.g. for an FFT. */
export function toFloat64(data: TraceArray, out = new Float64Array(data.length)): Float64Array {
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    for (let i = 0; i < data.length; i++) out[i] = Number(data[i]!);
  } else {
    out.set(data);
  }
  return out;
}

const EXT_FORMAT: Record<string, TraceFormat> = {
  '.npy': 'npy', '.h5': 'hdf5', '.hdf5': 'hdf5', '.hdf': 'hdf5', '.he5': 'hdf5', '.nxs': 'hdf5',
  '.csv': 'csv', '.tsv': 'csv', '.txt': 'csv',
};

function sniff(path: string): Promise<TraceFormat | 'npz' | undefined> {
  return new Promise((resolve, reject) => {
    open(path, 'r', (err, fd) => {
      if (err) return reject(err);
      const head = Buffer.alloc(8);
      read(fd, head, 0, 8, 0, (rerr, n) => {
        close(fd, () => {
          if (rerr) return reject(rerr);
          const b = head.subarray(0, n);
          if (b.subarray(0, 6).equals(Buffer.from('\x93NUMPY', 'latin1'))) resolve('npy');
          else if (b.equals(HDF5_SIGNATURE)) resolve('hdf5');
          else if (b[0] === 0x50 && b[1] === 0x4b) resolve('npz');
          else resolve(undefined);
        });
      });
    });
  });
}

function formatError(path: string, message: string): DaqError {
  return new DaqError('DAQ_ERR_TRACE_FORMAT', `${path}: ${message}`, { details: { file: path } });
}

/**
 * Opens a trace lazily: reads only headers/metadata, never the samples.
 * Throws `DAQ_ERR_TRACE_FORMAT` (npz, Fortran order, unknown dtype, bad magic, missing raw dtype)
 * and `DAQ_ERR_TRACE_RANGE` (file too small for the offset/length, channel out of range).
 */
export async function loadTrace(path: string, options: LoadTraceOptions = {}): Promise<Trace> {
  const { sampleRate } = options;
  if (sampleRate !== undefined && !(sampleRate > 0 && Number.isFinite(sampleRate))) {
    throw rangeError(`${path}: sampleRate must be a positive number of samples per second, found ${sampleRate}`, { sampleRate });
  }
  const ext = extname(path).toLowerCase();
  if (ext === '.npz') {
    throw formatError(path, '.npz archives cannot be read lazily (npz is not supported): unzip it (`unzip file.npz`) ' +
      'or `numpy.save("x.npy", numpy.load("file.npz")["arr"])`, then load the .npy');
  }
  let format = options.format ?? EXT_FORMAT[ext];
  if (format === undefined) {
    const sniffed = await sniff(path);
    if (sniffed === 'npz') throw formatError(path, 'this is a zip archive (.npz?), which is not supported: unzip it and load the .npy');
    format = sniffed ?? 'raw';
  }
  if (options.offset !== undefined && format !== 'raw') {
    throw formatError(path, `offset applies to raw binary only; the ${format} header gives the data position`);
  }
  let source: SampleSource;
  switch (format) {
    case 'raw':
      if (options.dtype === undefined) {
        throw formatError(path, 'raw binary needs a dtype (e.g. float32, int16be, <f4): the file does not say');
      }
      source = await openRawSource(path, { dtype: options.dtype, offset: options.offset, length: options.length });
      break;
    case 'npy':
      source = await openNpySource(path, { channel: options.channel, length: options.length });
      break;
    case 'hdf5': {
      // Imported on demand: instantiating h5wasm reserves hundreds of MiB that .npy users need not pay.
      const { openHdf5Source } = await import('./loaders/hdf5-source.ts');
      source = await openHdf5Source(path, { dataset: options.dataset, channel: options.channel, length: options.length });
      break;
    }
    case 'csv': {
      const dtype = options.dtype ?? 'float64';
      if (dtype !== 'float64' && dtype !== 'float32') throw formatError(path, `CSV converts to float64 or float32, found dtype '${dtype}'`);
      const { npyPath } = await csvToNpy(path, { column: options.column, delimiter: options.delimiter, dtype, onProgress: options.onProgress });
      source = await openNpySource(npyPath, { length: options.length, format: 'csv' });
      break;
    }
  }
  if (options.dtype !== undefined && format !== 'raw' && format !== 'csv' && parseDType(options.dtype, path).name !== source.dtype) {
    const found = source.dtype;
    await source.close();
    throw formatError(path, `dtype mismatch: asked for ${options.dtype}, the file holds ${found}`);
  }
  return new Trace(path, source, sampleRate);
}
