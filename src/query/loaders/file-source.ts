/**
 * Sample source over a plain file descriptor: `.npy` and raw binary. Reads go through
 * `fs.read` at explicit positions, so nothing but the caller's buffer holds samples and any
 * number of readers can share the file. A plain fd (not a FileHandle) lets `closeSync` release
 * it safely for `using` declarations.
 */
import { close, closeSync, fstat, open, read } from 'node:fs';
import { promisify } from 'node:util';
import { DaqError } from '../../errors.ts';
import { byteSwapInPlace, NATIVE_LITTLE_ENDIAN, type StoredDType, type TraceArray } from './dtype.ts';
import { npyHeaderLength, parseNpyDict, NPY_PREAMBLE_BYTES } from './npy-format.ts';
import type { SampleSource, TraceFormat } from './sample-source.ts';
import { parseDType } from './dtype.ts';

const openP = promisify(open);
const closeP = promisify(close);
const fstatP = promisify(fstat);

/** Reads exactly `view.length` bytes at `position`; returns how many were available (less at EOF). */
export function readFully(fd: number, view: Uint8Array, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let done = 0;
    const step = (): void => {
      read(fd, view, done, view.length - done, position + done, (err, n) => {
        if (err) return reject(err);
        done += n;
        if (n === 0 || done === view.length) return resolve(done);
        step();
      });
    };
    step();
  });
}

/** numpy's spelling of a shape: `(5,)`, `(3, 4)`. */
export function shapeText(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

function rangeError(message: string, details: Record<string, unknown>): DaqError {
  return new DaqError('DAQ_ERR_TRACE_RANGE', message, { details });
}

export class FileSampleSource implements SampleSource {
  #fd: number | undefined;

  constructor(
    readonly format: TraceFormat,
    readonly file: string,
    fd: number,
    private readonly stored: StoredDType,
    /** Byte position of sample 0 of the selected channel. */
    private readonly dataOffset: number,
    readonly length: number,
    readonly shape: readonly number[],
  ) {
    this.#fd = fd;
  }

  get dtype(): StoredDType['name'] {
    return this.stored.name;
  }

  async readInto(start: number, count: number, out: TraceArray): Promise<void> {
    const fd = this.#fd;
    if (fd === undefined) throw new DaqError('DAQ_ERR_TRACE_RANGE', `${this.file}: trace is closed`);
    const bytes = this.stored.bytes;
    const view = new Uint8Array(out.buffer, out.byteOffset, count * bytes);
    const position = this.dataOffset + start * bytes;
    const got = await readFully(fd, view, position);
    if (got < view.length) {
      throw rangeError(`${this.file}: file ended at byte ${position + got}, expected ${view.length} bytes from ${position} ` +
        '(was it truncated after it was opened?)', { file: this.file, position, expectedBytes: view.length });
    }
    if (this.stored.littleEndian !== NATIVE_LITTLE_ENDIAN) byteSwapInPlace(view, bytes);
  }

  async close(): Promise<void> {
    const fd = this.#fd;
    this.#fd = undefined;
    if (fd !== undefined) await closeP(fd);
  }

  closeSync(): void {
    const fd = this.#fd;
    this.#fd = undefined;
    if (fd !== undefined) closeSync(fd);
  }
}

async function withFd<T>(path: string, use: (fd: number, size: number) => Promise<T>): Promise<T> {
  const fd = await openP(path, 'r');
  try {
    const { size } = await fstatP(fd);
    return await use(fd, size);
  } catch (err) {
    await closeP(fd);
    throw err;
  }
}

function checkLength(file: string, available: number, length: number | undefined, what: string): number {
  if (length === undefined) return available;
  if (!Number.isSafeInteger(length) || length < 0) {
    throw rangeError(`${file}: length must be a non-negative integer number of samples, found ${length}`, { file, length });
  }
  if (length > available) {
    throw rangeError(`${file}: file too small for requested data: asked for ${length} samples, ${what} holds ${available}`,
      { file, length, available });
  }
  return length;
}

export interface NpyOpenOptions {
  /** Row of a 2-D array to read (rows are channels); default 0. */
  channel?: number;
  /** Read only the first `length` samples. */
  length?: number;
  format?: TraceFormat;
}

/** Opens a `.npy` file: parses its header and checks the file holds every sample it declares. */
export function openNpySource(file: string, options: NpyOpenOptions = {}): Promise<FileSampleSource> {
  return withFd(file, async (fd, size) => {
    const preamble = new Uint8Array(NPY_PREAMBLE_BYTES);
    const got = await readFully(fd, preamble, 0);
    const { version, headerStart, headerLength } = npyHeaderLength(preamble.subarray(0, got), file);
    const headerBytes = new Uint8Array(headerLength);
    if ((await readFully(fd, headerBytes, headerStart)) < headerLength) {
      throw new DaqError('DAQ_ERR_TRACE_FORMAT', `${file}: file ends inside the .npy header (${size} bytes)`, { details: { file } });
    }
    const text = Buffer.from(headerBytes).toString(version === 3 ? 'utf8' : 'latin1');
    const header = parseNpyDict(text, version, headerStart + headerLength, file);
    const stored = parseDType(header.descr, file);
    const { shape } = header;
    if (header.fortranOrder && shape.filter((d) => d > 1).length > 1) {
      throw new DaqError('DAQ_ERR_TRACE_FORMAT',
        `${file}: Fortran-ordered arrays are not supported: expected fortran_order False, found True for shape ${shapeText(shape)}; ` +
        're-save in C order (numpy.ascontiguousarray)', { details: { file, shape } });
    }
    let rows: number;
    let cols: number;
    if (shape.length === 1) [rows, cols] = [1, shape[0]!];
    else if (shape.length === 2 && shape[1] === 1) [rows, cols] = [1, shape[0]!];
    else if (shape.length === 2) [rows, cols] = [shape[0]!, shape[1]!];
    else {
      throw new DaqError('DAQ_ERR_TRACE_FORMAT',
        `${file}: expected a 1-D or 2-D (channels × samples) array, found shape ${shapeText(shape)}`, { details: { file, shape } });
    }
    const channel = options.channel ?? 0;
    if (!Number.isSafeInteger(channel) || channel < 0 || channel >= rows) {
      throw rangeError(`${file}: channel ${channel} out of range: the array has ${rows} channel(s) (rows)`, { file, channel, rows });
    }
    const needed = header.dataOffset + rows * cols * stored.bytes;
    if (size < needed) {
      throw rangeError(`${file}: file too small for requested data: header declares shape ${shapeText(shape)} ` +
        `needing ${needed} bytes, file has ${size}`, { file, needed, size });
    }
    const length = checkLength(file, cols, options.length, 'the array');
    const dataOffset = header.dataOffset + channel * cols * stored.bytes;
    return new FileSampleSource(options.format ?? 'npy', file, fd, stored, dataOffset, length, shape);
  });
}

export interface RawOpenOptions {
  dtype: string;
  /** Byte offset of sample 0; default 0. */
  offset?: number;
  /** Samples to read; default: every whole sample after `offset`. */
  length?: number;
}

/** Opens a raw binary file of samples of `dtype` starting at byte `offset`. */
export function openRawSource(file: string, options: RawOpenOptions): Promise<FileSampleSource> {
  return withFd(file, async (fd, size) => {
    const stored = parseDType(options.dtype, file);
    const offset = options.offset ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw rangeError(`${file}: offset must be a non-negative integer byte count, found ${offset}`, { file, offset });
    }
    if (offset > size) {
      throw rangeError(`${file}: file too small for requested offset: offset ${offset} bytes, file has ${size}`, { file, offset, size });
    }
    const available = Math.floor((size - offset) / stored.bytes);
    if (options.length === undefined && (size - offset) % stored.bytes !== 0) {
      throw rangeError(`${file}: ${size - offset} bytes after offset ${offset} is not a whole number of ${stored.name} ` +
        `samples (${stored.bytes} bytes each); pass length to read only whole samples`, { file, offset, size });
    }
    const length = checkLength(file, available, options.length, `the file after offset ${offset}`);
    return new FileSampleSource('raw', file, fd, stored, offset, length, [length]);
  });
}
