import fs from 'node:fs/promises';
import path from 'node:path';
import { DaqError } from '../../errors.ts';
import { LatencyRing } from '../../util/latency-ring.ts';
import { frameHeader } from './frame.ts';

/**
 * File operations the WAL uses, injectable so tests can make a write or an fsync fail (ENOSPC,
 * EIO) exactly where they want.
 */
export interface WalIo {
  open(file: string, flags: string): Promise<fs.FileHandle>;
  writev(fh: fs.FileHandle, bufs: Uint8Array[], position: number): Promise<number>;
  datasync(fh: fs.FileHandle): Promise<void>;
  truncate(fh: fs.FileHandle, size: number): Promise<void>;
  /** fsync of a directory, so a newly created segment file's name survives a power cut. */
  syncDir(dir: string): Promise<void>;
}

export const realIo: WalIo = {
  open: (file, flags) => fs.open(file, flags),
  writev: async (fh, bufs, position) => (await fh.writev(bufs, position)).bytesWritten,
  datasync: (fh) => fh.datasync(),
  truncate: (fh, size) => fh.truncate(size),
  syncDir: async (dir) => {
    const fh = await fs.open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
};

/**
 * Durability modes:
 * - `fsync` (default): a record is acknowledged after an fdatasync covers it. Survives kill -9
 *   and power loss (given a disk that honours flushes).
 * - `none`: acknowledged once written to the OS page cache (no fdatasync, no directory fsync).
 *   Survives kill -9 of the daemon. A power cut or kernel crash can lose every acknowledged
 *   record not yet in a finished segment (segments themselves are always fsynced): up to one
 *   flush epoch (`epochS`, default 60 s) plus any segment still queued, and the WAL tail may come
 *   back garbled, which recovery then reports as corruption rather than a torn tail.
 */
export type Durability = 'fsync' | 'none';

export interface WalWriterOptions {
  /** Size of each segment file (preallocated by truncation; a larger record gets its own). Default 64 MiB. */
  segmentBytes?: number;
  /** Longest a record waits for its group commit. Default 2 ms. */
  groupCommitMs?: number;
  /** A group commit starts at once when this many bytes wait. Default 8 MiB. */
  groupCommitBytes?: number;
  durability?: Durability;
  io?: WalIo;
  /** First segment id and sequence number (recovery continues after what exists). */
  firstSegmentId?: number;
  firstSeq?: bigint;
}

/**
 * Bytes a record refers to that live in another file (a waveform pool file): written and
 * fdatasynced by the same group commit, *before* the WAL bytes of the record, so a durable record
 * always refers to durable bytes.
 */
export interface SideWrite {
  /** Absolute path; created on first use. */
  file: string;
  position: number;
  data: Uint8Array;
}

interface SideFile {
  /** Opened (created) at the first append that names it. */
  fh: Promise<fs.FileHandle>;
  /** Its directory entry is not fsynced yet (one directory fsync, before its first ack). */
  newEntry: boolean;
}

interface Entry {
  side: SideWrite | undefined;
  /** The side write, issued at append time: it runs while the previous group's fsync does. */
  sideDone: Promise<void> | undefined;
  segId: number;
  pos: number;
  bufs: Uint8Array[];
  bytes: number;
  seq: bigint;
  queuedAt: number;
  resolve: (seq: bigint) => void;
  reject: (err: Error) => void;
}

interface Segment {
  id: number;
  file: string;
  fh: fs.FileHandle | null;
  /** The file exists (reopen it without truncating). */
  created: boolean;
  size: number;
  lastSeq: bigint;
}

export function walFileName(id: number): string {
  return `wal-${String(id).padStart(8, '0')}.log`;
}

/**
 * The write-ahead log: segmented, CRC-framed, with group commit. `append` places the record at
 * once (call order is log order) and resolves when a single fdatasync covering it, and every
 * other record waiting at that moment, has completed. One group commit runs at a time; records
 * arriving meanwhile form the next group. A failed write or fsync poisons the log: every pending
 * and later append rejects with DAQ_ERR_WAL_POISONED (an fsync is never retried: the page cache
 * may have dropped the data); restart and recovery take over.
 */
export class WalWriter {
  private readonly opts: Required<Omit<WalWriterOptions, 'io' | 'firstSegmentId' | 'firstSeq'>>;
  private readonly io: WalIo;
  private readonly segments: Segment[] = [];
  private pos = 0;
  private nextSeq: bigint;
  private queue: Entry[] = [];
  private queuedBytes = 0;
  private flushing: Promise<void> | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private poisoned: DaqError | null = null;
  /** Highest sequence number committed so far, and who waits for one. */
  private committed = 0n;
  private seqWaiters: Array<{ seq: bigint; resolve: () => void; reject: (e: Error) => void }> = [];
  private closed = false;
  readonly fsyncMs = new LatencyRing(4096);
  readonly ackMs = new LatencyRing(4096);
  fsyncs = 0;
  /** Group commits that wrote something (each: side-file fdatasyncs, then the WAL's). */
  commits = 0;
  bytesWritten = 0;
  /** Bytes written to side files (waveform pools). */
  sideBytesWritten = 0;
  private readonly sides = new Map<string, SideFile>();
  records = 0;

  constructor(
    readonly dir: string,
    options: WalWriterOptions = {},
  ) {
    this.opts = {
      segmentBytes: options.segmentBytes ?? 64 * 1024 * 1024,
      groupCommitMs: options.groupCommitMs ?? 2,
      groupCommitBytes: options.groupCommitBytes ?? 8 * 1024 * 1024,
      durability: options.durability ?? 'fsync',
    };
    this.io = options.io ?? realIo;
    this.nextSeq = options.firstSeq ?? 1n;
    this.newSegment(options.firstSegmentId ?? 1, this.opts.segmentBytes);
  }

  /** Sequence number the next record gets. */
  get seq(): bigint {
    return this.nextSeq;
  }

  get currentSegmentId(): number {
    return this.segments[this.segments.length - 1]!.id;
  }

  /**
   * Appends a record; resolves with its sequence number once durable (per the durability mode).
   * `side`: bytes for another file (see {@link SideWrite}), durable before the record is.
   */
  append(type: number, parts: Uint8Array[], side?: SideWrite): Promise<bigint> {
    if (this.poisoned) return Promise.reject(this.poisoned);
    if (this.closed) return Promise.reject(new DaqError('DAQ_ERR_WAL_POISONED', 'WAL is closed'));
    const seq = this.nextSeq++;
    let seg = this.segments[this.segments.length - 1]!;
    let { header, pad, total } = frameHeader(type, seg.id, seq, parts);
    if (this.pos + total > seg.size && this.pos > 0) {
      seg = this.newSegment(seg.id + 1, Math.max(this.opts.segmentBytes, total));
      ({ header, pad, total } = frameHeader(type, seg.id, seq, parts));
    } else if (this.pos + total > seg.size) {
      seg.size = total; // a record larger than a segment gets a segment of its own size
    }
    const entry = { side, segId: seg.id, pos: this.pos, bufs: [header, ...parts, pad], bytes: total, seq, queuedAt: performance.now() } as Entry;
    this.pos += total;
    if (side) {
      let sf = this.sides.get(side.file);
      if (!sf) {
        sf = { fh: this.io.open(side.file, 'w+'), newEntry: true };
        sf.fh.catch(() => undefined); // reported by the commit that waits for a write to it
        this.sides.set(side.file, sf);
      }
      // Into the page cache now, not when the group commits: the copy overlaps the fsync in flight.
      const len = side.data.byteLength;
      entry.sideDone = sf.fh.then((fh) => this.writeAll(fh, [side.data], side.position, len)).then(() => {
        this.sideBytesWritten += len;
      });
      entry.sideDone.catch(() => undefined);
      total += len; // counts toward the group-commit trigger
    }
    seg.lastSeq = seq;
    const p = new Promise<bigint>((resolve, reject) => {
      entry.resolve = resolve;
      entry.reject = reject;
    });
    this.queue.push(entry);
    this.queuedBytes += total;
    this.schedule();
    return p;
  }

  private newSegment(id: number, size: number): Segment {
    const seg: Segment = { id, file: path.join(this.dir, walFileName(id)), fh: null, created: false, size, lastSeq: 0n };
    this.segments.push(seg);
    this.pos = 0;
    return seg;
  }

  private schedule(): void {
    if (this.flushing) return; // the running commit reschedules when it ends
    if (this.queuedBytes >= this.opts.groupCommitBytes) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.flushing = this.commit();
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        if (!this.flushing) this.flushing = this.commit();
      }, this.opts.groupCommitMs);
    }
  }

  /** One group commit: write everything queued, one datasync per touched file, resolve all. */
  private async commit(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    let failedFile: string | undefined;
    try {
      // Side files first, written and fdatasynced before the WAL bytes that refer to them.
      const sideTouched = new Map<string, SideFile>();
      for (const e of batch) {
        if (!e.side) continue;
        failedFile = e.side.file;
        await e.sideDone;
        sideTouched.set(e.side.file, this.sides.get(e.side.file)!);
      }
      if (this.opts.durability === 'fsync') {
        const dirs = new Set<string>();
        for (const [file, sf] of sideTouched) {
          failedFile = file;
          const t = performance.now();
          await this.io.datasync(await sf.fh);
          this.fsyncMs.add(performance.now() - t);
          this.fsyncs++;
          if (sf.newEntry) dirs.add(path.dirname(file));
          sf.newEntry = false;
        }
        for (const dir of dirs) {
          failedFile = dir;
          await this.io.syncDir(dir);
        }
      }
      failedFile = undefined;
      const touched: Segment[] = [];
      let created = false;
      let i = 0;
      while (i < batch.length) {
        const segId = batch[i]!.segId;
        const seg = this.segments.find((s) => s.id === segId)!;
        if (!seg.fh && seg.created) {
          seg.fh = await this.io.open(seg.file, 'r+');
        } else if (!seg.fh) {
          seg.fh = await this.io.open(seg.file, 'w+');
          await this.io.truncate(seg.fh, seg.size);
          seg.created = true;
          created = true;
        }
        // Consecutive records of one segment are contiguous: one writev.
        const start = batch[i]!.pos;
        const bufs: Uint8Array[] = [];
        let bytes = 0;
        while (i < batch.length && batch[i]!.segId === segId) {
          bufs.push(...batch[i]!.bufs);
          bytes += batch[i]!.bytes;
          i++;
        }
        await this.writeAll(seg.fh, bufs, start, bytes);
        this.bytesWritten += bytes;
        touched.push(seg);
      }
      if (this.opts.durability === 'fsync') {
        for (const seg of touched) {
          const t = performance.now();
          await this.io.datasync(seg.fh!);
          this.fsyncMs.add(performance.now() - t);
          this.fsyncs++;
        }
        // A new segment file is only findable after a power cut once its directory entry is
        // durable too: one directory fsync per new segment, before anything in it is acknowledged.
        if (created) await this.io.syncDir(this.dir);
      }
      // Segments before the current one are complete once nothing queued still targets them.
      for (const seg of this.segments.slice(0, -1)) {
        if (seg.fh && !this.queue.some((e) => e.segId === seg.id)) {
          await seg.fh.close();
          seg.fh = null;
        }
      }
      if (batch.length > 0) this.commits++;
      const now = performance.now();
      for (const e of batch) {
        this.ackMs.add(now - e.queuedAt);
        e.resolve(e.seq);
      }
      this.records += batch.length;
      if (batch.length > 0) this.committed = batch[batch.length - 1]!.seq;
      this.seqWaiters = this.seqWaiters.filter((w) => (w.seq <= this.committed ? (w.resolve(), false) : true));
    } catch (err) {
      this.poison(err as Error, batch, failedFile);
    } finally {
      this.flushing = null;
      if (this.queue.length > 0 && !this.poisoned) this.schedule();
    }
  }

  private async writeAll(fh: fs.FileHandle, bufs: Uint8Array[], position: number, total: number): Promise<void> {
    let done = 0;
    while (done < total) {
      let skip = done;
      const rest: Uint8Array[] = [];
      for (const b of bufs) {
        if (skip >= b.byteLength) {
          skip -= b.byteLength;
          continue;
        }
        rest.push(skip ? b.subarray(skip) : b);
        skip = 0;
      }
      const n = await this.io.writev(fh, rest.slice(0, 1024), position + done);
      if (n <= 0) throw new Error(`short write (${n} bytes)`);
      done += n;
    }
  }

  private poison(err: Error & { code?: string }, batch: Entry[], failedFile?: string): void {
    const file = failedFile ?? this.segments[this.segments.length - 1]!.file;
    this.poisoned ??= new DaqError(
      'DAQ_ERR_WAL_POISONED',
      `WAL write or fsync failed in ${file}: ${err.message}${err.code ? ` (${err.code})` : ''}; nothing more is acknowledged, restart to recover`,
      { cause: err, details: { file, errno: err.code } },
    );
    for (const e of [...batch, ...this.queue]) e.reject(this.poisoned);
    this.queue = [];
    for (const w of this.seqWaiters.splice(0)) w.reject(this.poisoned);
  }

  /**
   * Resolves once every record up to `seq` is committed (durable), without waiting for records
   * appended later: under a steady stream of appends the log is never idle.
   */
  whenDurable(seq: bigint): Promise<void> {
    if (this.poisoned) return Promise.reject(this.poisoned);
    if (seq <= this.committed) return Promise.resolve();
    return new Promise((resolve, reject) => this.seqWaiters.push({ seq, resolve, reject }));
  }

  get isPoisoned(): boolean {
    return this.poisoned !== null;
  }

  /** Waits for every appended record to be committed (or rejected). */
  async drain(): Promise<void> {
    while (this.flushing || this.queue.length > 0 || this.timer) {
      if (this.timer) {
        clearTimeout(this.timer);
        this.timer = null;
        if (!this.flushing) this.flushing = this.commit();
      }
      await this.flushing;
    }
  }

  /**
   * Waits for every appended record, then fdatasyncs the open segment and the directory even in
   * durability `none` (used for checkpoints, whose loss after a power cut would replay records a
   * finished segment already holds).
   */
  async syncNow(): Promise<void> {
    await this.drain();
    if (this.poisoned) throw this.poisoned;
    if (this.opts.durability === 'fsync') return; // already covered by the group commit
    try {
      for (const seg of this.segments) if (seg.fh) await this.io.datasync(seg.fh);
      await this.io.syncDir(this.dir);
    } catch (err) {
      this.poison(err as Error, []);
      throw this.poisoned!;
    }
  }

  /**
   * Closes side file `file` once every record appended so far is committed: no later record may
   * refer to it. Resolves when it is closed (the caller then finishes the file: header, fsync).
   */
  async closeSide(file: string): Promise<void> {
    const sf = this.sides.get(file);
    if (!sf) return;
    await this.whenDurable(this.nextSeq - 1n);
    this.sides.delete(file);
    await (await sf.fh).close();
  }

  /** Deletes closed segment files whose every record has a sequence number <= `seq`. */
  async deleteCovered(seq: bigint): Promise<number> {
    let n = 0;
    while (this.segments.length > 1 && this.segments[0]!.lastSeq <= seq && this.segments[0]!.fh === null) {
      const seg = this.segments.shift()!;
      await fs.rm(seg.file, { force: true });
      n++;
    }
    return n;
  }

  /** Bytes of WAL files on disk (segments are preallocated: whole sizes). */
  get bytesInUse(): number {
    return this.segments.reduce((a, s) => a + (s.fh || s.lastSeq > 0n ? s.size : 0), 0);
  }

  async close(): Promise<void> {
    await this.drain();
    this.closed = true;
    for (const sf of this.sides.values()) await sf.fh.then((fh) => fh.close()).catch(() => undefined);
    this.sides.clear();
    for (const seg of this.segments) {
      if (seg.fh) {
        // Trim the preallocated tail of the last segment.
        if (seg === this.segments[this.segments.length - 1] && !this.poisoned) await this.io.truncate(seg.fh, this.pos).catch(() => undefined);
        await seg.fh.close();
        seg.fh = null;
      }
    }
  }
}
