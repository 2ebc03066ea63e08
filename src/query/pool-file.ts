import fs from 'node:fs';
import os from 'node:os';
import { DaqError } from '../errors.ts';
import { locateDataset } from './h5-locate.ts';

const identity = (st: fs.Stats): string => `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;

/** One scratch buffer shared by every pool (reads are synchronous): grown, never shrunk. */
let scratch = new Uint16Array(0);

/**
 * A contiguous `<u2` wave pool read straight from its file with positional reads
 * (`fs.readSync` at `offset + 2 × sample`), bypassing h5wasm: one system call per read and no
 * per-call library floor (h5wasm opens, reads and closes the dataset on every slice). The location
 * comes from {@link locateDataset}, which verified the file's metadata (checksums, bounds).
 */
export class PoolFile {
  /** Opened on the first read (a run of many segments holds no descriptor for pools never read). */
  private fd: number | null = null;
  private closed = false;

  private constructor(
    /** The file holding the samples (the pool file when the dataset is an external link). */
    readonly file: string,
    /** Byte offset of sample 0 in the file. */
    readonly offset: number,
    /** Samples in the pool. */
    readonly length: number,
    /** The file that was located (device, inode, size, mtime): a file replaced since is refused. */
    private readonly identity: string,
  ) {}

  /**
   * The pool at `dsPath` in `file` when it is a contiguous 1-D little-endian uint16 dataset, else
   * null (chunked pools of older segments, anything the locator does not read): read those
   * through h5wasm. An external link on the path (a segment's `/wave_pool` in its pool file
   * `wave-NNNNNN.h5`) is followed: the samples are then read from the link's target file, whose
   * identity is the one checked. Throws DAQ_ERR_HDF5 when the file's metadata is malformed or
   * truncated, or a link's target is missing.
   */
  static open(file: string, dsPath: string): PoolFile | null {
    if (os.endianness() !== 'LE') return null;
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (err) {
      throw new DaqError('DAQ_ERR_HDF5', `${file}: cannot open for reading: ${(err as Error).message}`, { cause: err, details: { file } });
    }
    try {
      const loc = locateDataset(file, dsPath, fd);
      if (loc.kind !== 'contiguous' || loc.dtype !== '<u2' || loc.shape.length !== 1) return null;
      if (loc.file === file) return new PoolFile(file, loc.offset, loc.shape[0]!, identity(fs.fstatSync(fd)));
      // Followed an external link: the identity is that of the target file, the one read.
      let target: number;
      try {
        target = fs.openSync(loc.file, 'r');
      } catch (err) {
        throw new DaqError('DAQ_ERR_HDF5', `${loc.file} (linked from ${file}:${dsPath}): cannot open for reading: ${(err as Error).message}`, { cause: err, details: { file: loc.file } });
      }
      try {
        return new PoolFile(loc.file, loc.offset, loc.shape[0]!, identity(fs.fstatSync(target)));
      } finally {
        fs.closeSync(target);
      }
    } finally {
      fs.closeSync(fd);
    }
  }

  private check(a: number, b: number): number {
    if (this.closed) throw new DaqError('DAQ_ERR_HDF5', `${this.file}: wave pool read after the run was closed`, { details: { file: this.file } });
    if (!(Number.isSafeInteger(a) && Number.isSafeInteger(b) && 0 <= a && a <= b && b <= this.length)) {
      throw new DaqError('DAQ_ERR_HDF5', `could not read ${this.file}:wave_pool[${a}:${b}] (length ${this.length})`, { details: { file: this.file, field: 'wave_pool', offset: a } });
    }
    if (this.fd === null) {
      try {
        this.fd = fs.openSync(this.file, 'r');
      } catch (err) {
        throw new DaqError('DAQ_ERR_HDF5', `${this.file}: cannot open for reading: ${(err as Error).message}`, { cause: err, details: { file: this.file } });
      }
      if (identity(fs.fstatSync(this.fd)) !== this.identity) {
        fs.closeSync(this.fd);
        this.fd = null;
        throw new DaqError('DAQ_ERR_HDF5', `${this.file} was replaced or modified since the run was opened: reopen the run`, { details: { file: this.file } });
      }
    }
    return this.fd;
  }

  /** Samples [a, b) into `out` at `at` (samples). */
  readInto(a: number, b: number, out: Uint16Array, at = 0): Uint16Array {
    const fd = this.check(a, b);
    const bytes = (b - a) * 2;
    const dst = new Uint8Array(out.buffer, out.byteOffset + at * 2, bytes);
    let got = 0;
    while (got < bytes) {
      const r = fs.readSync(fd, dst, got, bytes - got, this.offset + a * 2 + got);
      if (r <= 0) {
        throw new DaqError('DAQ_ERR_HDF5', `${this.file}: wave_pool[${a}:${b}] cut short at byte ${this.offset + a * 2 + got} (file truncated?)`, { details: { file: this.file, field: 'wave_pool', offset: a } });
      }
      got += r;
    }
    return out.subarray(at, at + (b - a));
  }

  /**
   * Samples [a, b) as a fresh array, over memory that is not zeroed first (the read fills all of
   * it or throws): zeroing fresh memory costs as much as the read itself.
   */
  read(a: number, b: number): Uint16Array {
    const n = Math.max(0, b - a);
    const buf = Buffer.allocUnsafeSlow(n * 2);
    return this.readInto(a, b, new Uint16Array(buf.buffer as ArrayBuffer, buf.byteOffset, n));
  }

  /**
   * Samples [a, b) as a view of a scratch buffer shared by every pool, valid until the next
   * `view` call: use or copy it at once (as {@link sliceU16View}'s heap view).
   */
  view(a: number, b: number): Uint16Array {
    const n = b - a;
    if (scratch.length < n) scratch = new Uint16Array(Math.max(n, 1 << 19));
    return this.readInto(a, b, scratch);
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
    this.closed = true;
  }
}
