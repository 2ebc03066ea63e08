import h5wasm, { Module } from 'h5wasm/node';
import type { Dataset, File as H5File } from 'h5wasm/node';
import { DaqError } from '../errors.ts';

/** File name of each dataset handed out here, for error messages (h5wasm datasets do not know it). */
const fileOf = new WeakMap<Dataset, string>();
const where = (d: Dataset) => `${fileOf.get(d) ?? '?'}:${d.path}`;

/** The dataset at `path` in `f`, or null when absent (h5wasm returns null rather than throwing). */
export function dataset(f: H5File, path: string): Dataset | null {
  const o = f.get(path);
  if (!(o instanceof h5wasm.Dataset)) return null;
  fileOf.set(o, f.filename);
  return o;
}

/** A dataset that must exist; names the file and path when it does not. */
export function required(f: H5File, path: string): Dataset {
  const d = dataset(f, path);
  if (!d) throw new DaqError('DAQ_ERR_HDF5', `${f.filename}: expected dataset /${path}, found none`, { details: { file: f.filename, field: path } });
  return d;
}

/** Length of a 1-D dataset. */
export function length1d(d: Dataset): number {
  return d.shape?.[0] ?? 0;
}

/**
 * Elements [a, b) of a 1-D dataset, checked: h5wasm answers a failed read with null or a short
 * array on stderr instead of throwing.
 */
export function slice<T extends ArrayLike<unknown>>(d: Dataset, a: number, b: number): T {
  const out = d.slice([[a, Math.max(a, b)]]) as unknown as T | null;
  if (!out || out.length !== Math.max(0, b - a)) {
    throw new DaqError('DAQ_ERR_HDF5', `could not read ${where(d)}[${a}:${b}] (got ${out?.length ?? 'nothing'})`, { details: { file: fileOf.get(d), field: d.path, offset: a } });
  }
  return out;
}

/** The parts of h5wasm's module used to read into its heap without a fresh buffer per call. */
interface HeapModule {
  _malloc(n: number): number;
  _free(p: number): void;
  HEAPU8: Uint8Array;
  get_dataset_data(fileId: bigint, path: string, count: bigint[], offset: bigint[], stride: bigint[], ptr: bigint): number;
}
let scratchPtr = 0;
let scratchBytes = 0;

/**
 * Elements [a, b) of a 1-D uint16 dataset as a view of h5wasm's heap, valid only until the next
 * h5wasm call: use or copy it at once. One HDF5 read into a scratch buffer kept between calls.
 * `Dataset.slice` instead allocates a wasm buffer and a fresh JS copy per call: for large reads the
 * fresh (page-faulted) memory halves the throughput, and {@link RecordsView.waves} would copy the
 * samples twice before converting them.
 */
export function sliceU16View(d: Dataset, a: number, b: number): Uint16Array {
  const n = Math.max(0, b - a);
  const md = d.metadata as { size: number; signed: boolean; type: number; shape: number[] | null };
  if (md.size !== 2 || md.signed || n === 0) return slice<Uint16Array>(d, a, b);
  const m = Module as unknown as HeapModule;
  if (n * 2 > scratchBytes) {
    if (scratchPtr) m._free(scratchPtr);
    scratchBytes = Math.max(n * 2, 1 << 20);
    scratchPtr = m._malloc(scratchBytes);
    if (!scratchPtr) {
      scratchBytes = 0;
      throw new DaqError('DAQ_ERR_HDF5', `h5wasm could not allocate ${n * 2} bytes to read ${where(d)}[${a}:${b}]`, { details: { file: fileOf.get(d), field: d.path, offset: a } });
    }
  }
  const len = md.shape?.[0] ?? 0;
  const status = a >= 0 && b <= len ? m.get_dataset_data(d.file_id, d.path, [BigInt(n)], [BigInt(a)], [1n], BigInt(scratchPtr)) : -1;
  if (status < 0) throw new DaqError('DAQ_ERR_HDF5', `could not read ${where(d)}[${a}:${b}] (status ${status}, length ${len})`, { details: { file: fileOf.get(d), field: d.path, offset: a } });
  return new Uint16Array(m.HEAPU8.buffer, scratchPtr, n);
}

/** The whole of a 1-D dataset, checked. */
export function readAll<T extends ArrayLike<unknown>>(d: Dataset): T {
  const n = length1d(d);
  const v = d.value as unknown as T | null;
  if (!v || v.length !== n) throw new DaqError('DAQ_ERR_HDF5', `could not read ${where(d)} (${n} elements, got ${v?.length ?? 'nothing'})`, { details: { file: fileOf.get(d), field: d.path } });
  return v;
}

/** One element of a 1-D dataset (one h5wasm call, ~0.1-0.2 ms). */
export function at<T>(d: Dataset, i: number): T {
  return (slice<ArrayLike<T>>(d, i, i + 1) as ArrayLike<T>)[0] as T;
}

/**
 * Reads the elements at ascending `rows` of a 1-D dataset with few calls: nearby rows (gap ≤
 * `maxGap`) are read as one slice of at most `maxSpan` elements. `out` receives them in order.
 */
export function gatherRows<T extends { [i: number]: unknown; length: number }>(d: Dataset, rows: ArrayLike<number>, out: T, maxGap = 4096, maxSpan = 1 << 16): T {
  let k = 0;
  while (k < rows.length) {
    const a = rows[k]!;
    let e = k + 1;
    while (e < rows.length && rows[e]! - rows[e - 1]! <= maxGap && rows[e]! - a < maxSpan) e++;
    const part = slice<T>(d, a, rows[e - 1]! + 1);
    for (let j = k; j < e; j++) out[j] = part[rows[j]! - a];
    k = e;
  }
  return out;
}

/** First position in sorted `xs[lo, hi)` whose value is ≥ x. */
export function lowerBound(xs: BigInt64Array, x: bigint, lo = 0, hi = xs.length): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
