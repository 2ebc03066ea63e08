/**
 * A sample source is what a Trace reads from: a flat run of `length` samples of one dtype
 * that can be read at any position into a caller's typed array. One implementation reads a
 * file descriptor at byte positions (`.npy`, raw binary, converted CSV); one reads HDF5
 * dataset slices through h5wasm.
 */
import type { DTypeName, TraceArray } from './dtype.ts';

export type TraceFormat = 'npy' | 'raw' | 'hdf5' | 'csv';

export interface SampleSource {
  readonly format: TraceFormat;
  /** The file actually read (for CSV: the `.npy` it was converted to). */
  readonly file: string;
  readonly dtype: DTypeName;
  readonly length: number;
  /** Shape of the array in the file (1-D or 2-D); `length` counts the selected channel only. */
  readonly shape: readonly number[];
  /**
   * Reads samples `[start, start + count)` into `out[0 .. count)` in native byte order.
   * The caller has checked the range.
   */
  readInto(start: number, count: number, out: TraceArray): Promise<void>;
  close(): Promise<void>;
  /** Releases the file synchronously (for `using` declarations). */
  closeSync(): void;
}
