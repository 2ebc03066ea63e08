/**
 * Sample source over one HDF5 dataset, read lazily: only the requested slice is read from disk.
 * A contiguous, unfiltered, little-endian dataset (a segment's `/wave_pool`, h5py's default
 * layout in a `libver='latest'` file) is read with positional file reads at the offset
 * `h5-locate` finds in the metadata; anything else by h5wasm hyperslabs (h5wasm converts
 * big-endian datasets to native order itself).
 */
import fs from 'node:fs';
import os from 'node:os';
import h5wasm from 'h5wasm/node';
import { DaqError } from '../../errors.ts';
import { locateDataset } from '../h5-locate.ts';
import type { DTypeName, TraceArray } from './dtype.ts';
import type { SampleSource } from './sample-source.ts';

type H5File = InstanceType<typeof h5wasm.File>;
type H5Dataset = InstanceType<typeof h5wasm.Dataset>;

/** Datasets tried, in order, when no `dataset` option is given (after them: the first 1-D numeric). */
export const DEFAULT_DATASETS = ['/wave_pool'];

function numericDType(meta: { type: number; size: number; signed: boolean }): DTypeName | undefined {
  if (meta.type === 1 && (meta.size === 4 || meta.size === 8)) return meta.size === 4 ? 'float32' : 'float64';
  if (meta.type === 0 && [1, 2, 4, 8].includes(meta.size)) return `${meta.signed ? 'int' : 'uint'}${meta.size * 8}` as DTypeName;
  return undefined;
}

function formatError(file: string, message: string, details: Record<string, unknown> = {}): DaqError {
  return new DaqError('DAQ_ERR_TRACE_FORMAT', `${file}: ${message}`, { details: { file, ...details } });
}

/** Where a contiguous dataset's bytes lie, for direct reads. */
interface DirectLayout {
  offset: number;
  /** Bytes per element. */
  size: number;
  /** Elements per row (the last dimension). */
  cols: number;
}

export class Hdf5SampleSource implements SampleSource {
  readonly format = 'hdf5' as const;
  #file: H5File | undefined;
  #fd: number | null = null;
  /** Set when the dataset is read directly from the file (see the module comment). */
  direct: DirectLayout | null = null;

  /** Reads through `fd` (an open descriptor of `file`, now owned by this source) at `layout`. */
  useDirect(layout: DirectLayout, fd: number): void {
    this.direct = layout;
    this.#fd = fd;
  }

  constructor(
    readonly file: string,
    h5: H5File,
    private readonly dataset: H5Dataset,
    readonly datasetPath: string,
    readonly dtype: DTypeName,
    readonly length: number,
    readonly shape: readonly number[],
    private readonly channel: number | undefined,
  ) {
    this.#file = h5;
  }

  async readInto(start: number, count: number, out: TraceArray): Promise<void> {
    if (this.#file === undefined) throw new DaqError('DAQ_ERR_TRACE_RANGE', `${this.file}: trace is closed`);
    if (count === 0) return;
    if (this.direct) return this.readDirect(start, count, out, this.direct);
    const ranges: [number, number][] = this.channel === undefined
      ? [[start, start + count]]
      : [[this.channel, this.channel + 1], [start, start + count]];
    const data = this.dataset.slice(ranges) as TraceArray | null;
    if (data === null || typeof data !== 'object' || !('length' in data) || data.length !== count) {
      throw new DaqError('DAQ_ERR_HDF5', `${this.file}: reading ${this.datasetPath}[${start}:${start + count}] returned ` +
        `${data === null ? 'null' : `${(data as TraceArray).length} values`}, expected ${count}`, { details: { file: this.file } });
    }
    (out as { set(a: ArrayLike<unknown>): void }).set(data);
  }

  private readDirect(start: number, count: number, out: TraceArray, d: DirectLayout): void {
    const fd = this.#fd!;
    const bytes = count * d.size;
    const dst = new Uint8Array(out.buffer, out.byteOffset, bytes);
    const at = d.offset + ((this.channel ?? 0) * d.cols + start) * d.size;
    let got = 0;
    while (got < bytes) {
      const r = fs.readSync(fd, dst, got, bytes - got, at + got);
      if (r <= 0) throw new DaqError('DAQ_ERR_HDF5', `${this.file}: reading ${this.datasetPath}[${start}:${start + count}] stopped at byte ${at + got} (file truncated?)`, { details: { file: this.file } });
      got += r;
    }
  }

  async close(): Promise<void> {
    this.closeSync();
  }

  closeSync(): void {
    const f = this.#file;
    this.#file = undefined;
    f?.close();
    if (this.#fd !== null) fs.closeSync(this.#fd);
    this.#fd = null;
  }
}

export interface Hdf5OpenOptions {
  /** Dataset path; default `/wave_pool`, else the first 1-D numeric dataset in the file. */
  dataset?: string;
  /** Row of a 2-D dataset (rows are channels); default 0. */
  channel?: number;
  /** Read only the first `length` samples. */
  length?: number;
}

function pickDataset(h5: H5File, file: string, wanted: string | undefined): { ds: H5Dataset; path: string } {
  const asDataset = (path: string): H5Dataset | undefined => {
    const e = h5.get(path);
    return e instanceof h5wasm.Dataset ? e : undefined;
  };
  if (wanted !== undefined) {
    const ds = asDataset(wanted);
    if (!ds) throw formatError(file, `no dataset at '${wanted}' (found: ${h5.paths().slice(0, 20).join(', ')})`, { dataset: wanted });
    return { ds, path: wanted };
  }
  for (const path of DEFAULT_DATASETS) {
    const ds = asDataset(path);
    if (ds) return { ds, path };
  }
  for (const path of h5.paths()) {
    const ds = asDataset(path);
    if (ds && ds.shape?.length === 1 && numericDType(ds.metadata) !== undefined) return { ds, path: path.startsWith('/') ? path : `/${path}` };
  }
  throw formatError(file, 'no 1-D numeric dataset found and no dataset option given');
}

/** Opens an HDF5 file read-only and selects the trace dataset; reads no samples. */
export async function openHdf5Source(file: string, options: Hdf5OpenOptions = {}): Promise<Hdf5SampleSource> {
  await h5wasm.ready;
  let h5: H5File;
  try {
    h5 = new h5wasm.File(file, 'r');
  } catch (cause) {
    throw formatError(file, 'could not open as HDF5', { cause: String(cause) });
  }
  if (!h5.file_id || h5.file_id < 0n) throw formatError(file, 'could not open as HDF5 (h5wasm returned no file id)');
  try {
    const { ds, path } = pickDataset(h5, file, options.dataset);
    const meta = ds.metadata;
    const dtype = numericDType(meta);
    if (dtype === undefined) {
      throw formatError(file, `dataset ${path} has unsupported type (h5wasm dtype ${JSON.stringify(ds.dtype)}): ` +
        'expected an integer (1/2/4/8 bytes) or float32/float64 dataset', { dataset: path });
    }
    const shape = meta.shape ?? [];
    let rows = 1;
    let cols: number;
    if (shape.length === 1) cols = shape[0]!;
    else if (shape.length === 2) [rows, cols] = [shape[0]!, shape[1]!];
    else throw formatError(file, `dataset ${path}: expected 1-D or 2-D (channels × samples), found shape (${shape.join(', ')})`);
    const channel = options.channel ?? 0;
    if (!Number.isSafeInteger(channel) || channel < 0 || channel >= rows) {
      throw new DaqError('DAQ_ERR_TRACE_RANGE', `${file}: channel ${channel} out of range: ${path} has ${rows} channel(s) (rows)`,
        { details: { file, channel, rows } });
    }
    let length = cols;
    if (options.length !== undefined) {
      if (!Number.isSafeInteger(options.length) || options.length < 0 || options.length > cols) {
        throw new DaqError('DAQ_ERR_TRACE_RANGE', `${file}: file too small for requested data: asked for ${options.length} samples, ` +
          `${path} holds ${cols}`, { details: { file, length: options.length, available: cols } });
      }
      length = options.length;
    }
    const src = new Hdf5SampleSource(file, h5, ds, path, dtype, length, shape, shape.length === 2 ? channel : undefined);
    // Direct reads when the bytes are contiguous, unfiltered and already in native (little-endian)
    // order; h5-locate throws DAQ_ERR_HDF5 naming the file when the metadata is malformed. When
    // the dataset is an external link, the bytes are read from the link's target file.
    let fd = fs.openSync(file, 'r');
    try {
      const loc = locateDataset(file, path, fd);
      const want = `<${dtype.startsWith('float') ? 'f' : dtype.startsWith('u') ? 'u' : 'i'}${meta.size}`;
      if (os.endianness() === 'LE' && loc.kind === 'contiguous' && loc.dtype === want && loc.shape.join() === shape.join()) {
        if (loc.file !== file) {
          let target: number;
          try {
            target = fs.openSync(loc.file, 'r');
          } catch (cause) {
            throw new DaqError('DAQ_ERR_HDF5', `${loc.file} (linked from ${file}:${path}): cannot open for reading: ${(cause as Error).message}`, { cause, details: { file: loc.file } });
          }
          fs.closeSync(fd);
          fd = target;
        }
        src.useDirect({ offset: loc.offset, size: meta.size, cols }, fd);
      } else fs.closeSync(fd);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
    return src;
  } catch (err) {
    h5.close();
    throw err;
  }
}
