import fs from 'node:fs';
import path from 'node:path';
import { DaqError, StorageError } from '../errors.ts';
import { commitFileSync } from '../util/fsync-dir.ts';
import type { RunInfo, Sink } from '../pipeline/types.ts';
import type { StreamBatch, StreamInfo } from '../schema/batch.ts';
import type { LogFn } from '../util/logger.ts';
import { Epoch } from './epoch.ts';
import { LossLog } from './loss-log.ts';
import { acquireRunLock } from './run-lock.ts';
import type { SegmentContent, SegmentSummary } from './segment.ts';
import { SegmentWriter } from './hdf5/segment-writer-pool.ts';
import { encodedTagTable, isEncodedTagTable, takeEncodedTagTable } from './hdf5/tag-table.ts';
import type { TagTable } from '../schema/scalar.ts';
import { decodeBatch, decodeCheckpoint, decodeStream, encodeBatch, encodeCheckpoint, encodeStream } from './wal/codec.ts';
import { RecordType } from './wal/frame.ts';
import { scanWal, walSegments } from './wal/wal-reader.ts';
import { WalWriter } from './wal/wal-writer.ts';
import type { WalWriterOptions } from './wal/wal-writer.ts';

export interface StorageSinkOptions {
  /** Seconds of data per HDF5 segment. Default 60. */
  epochS?: number;
  /** A segment is cut early when the epoch holds this many MiB. Default: 32. */
  epochMiB?: number;
  /** The merged records stream, stored as `/records` + `/wave_pool`. Default "records". */
  recordsStream?: string;
  wal?: WalWriterOptions;
  /** Writes one segment (default: h5wasm in a worker thread). Injectable for tests. */
  writeSegment?: (dir: string, content: SegmentContent) => Promise<SegmentSummary>;
  /**
   * Segment writer threads (default 1). Segments are CPU-bound (deflate in WebAssembly): with
   * spare cores, 2 write consecutive segments concurrently; each costs ~100 MB of memory.
   */
  writerThreads?: number;
  log?: LogFn;
}

const SEGMENT_RE = /^seg-(\d{6})\.h5$/;

/** `<run>/storage-state.json`: the counts a clean close leaves for the run's next session. */
interface StorageState {
  segment: number;
  samples: Record<string, string>;
  events?: Record<string, string>;
}

const STATE_FILE = 'storage-state.json';

function readStorageState(dir: string): StorageState | null {
  const file = path.join(dir, STATE_FILE);
  if (!fs.existsSync(file)) return null;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as StorageState;
  } catch (err) {
    throw new StorageError(`${file} does not parse (${(err as Error).message}): it holds the wave-pool and event counts of the run's earlier sessions; restore it or start a new run`, { details: { file } });
  }
}

/** Written before the WAL is deleted (tmp + fsync + rename + directory fsync). */
function writeStorageState(dir: string, state: StorageState): void {
  const file = path.join(dir, STATE_FILE);
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(state)}\n`);
  commitFileSync(tmp, file);
}

/** A segment's content with what its checkpoint records. */
interface PreparedSegment {
  content: SegmentContent;
  seq: bigint;
  samples: Record<string, string>;
  events: Record<string, string>;
}

/** What recovery found when the sink opened a run folder. */
export interface RecoveryReport {
  replayedRecords: number;
  rebuiltSegments: number;
  truncatedBytes: number;
  corruption: string | null;
  removedTmp: string[];
  /** Segment files finished but not checkpointed before the crash: rebuilt from the WAL. */
  uncheckpointed: string[];
  walBytesScanned: number;
  durationMs: number;
}

/**
 * The durable sink: every batch goes to the WAL and is acknowledged once an fsync covers it
 * (group commit), then into the current flush epoch; every `epochS` seconds (or `epochMiB`) the
 * epoch becomes an HDF5 segment written off the event loop, then a checkpoint, then the WAL
 * segments it covers are deleted. Opening a run folder recovers it: lock, remove `*.tmp`, replay
 * the WAL after the last checkpoint into new segments.
 */
export class StorageSink implements Sink {
  readonly name = 'storage';
  private run!: RunInfo;
  private wal!: WalWriter;
  private release: (() => void) | null = null;
  private readonly streams = new Map<string, StreamInfo>();
  private epoch = new Epoch();
  private flushChain: Promise<void> = Promise.resolve();
  private flushesQueued = 0;
  private nextSegment = 0;
  private readonly samples = new Map<string, bigint>();
  /** Records stored so far in the merged records stream (event_id of the next one). */
  private readonly events = new Map<string, bigint>();
  /** Per scalar stream: the tag table this session stored last, and in which segment. */
  private readonly tagTablesStored = new Map<string, { table: TagTable; segment: number }>();
  private failed: Error | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly writers: SegmentWriter[];
  private readonly writeSegment: (dir: string, content: SegmentContent, index: number) => Promise<SegmentSummary>;
  private losses!: LossLog;
  private segmentsWritten = 0;
  private lastFlushMs = 0;
  /** Tag-table files written this session, by stream (see `streamRecord`). */
  private readonly tagFiles = new WeakMap<StreamInfo, string>();
  private writerHeapBytes = 0;
  private writerWasmBytes = 0;
  private sampleBytesIn = 0;
  /** Bytes of closed epochs queued for or being written as segments. */
  private pendingBytes = 0;
  recovery: RecoveryReport | null = null;

  constructor(private readonly opts: StorageSinkOptions = {}) {
    const threads = Math.max(1, Math.floor(opts.writerThreads ?? 1));
    this.writers = opts.writeSegment ? [] : Array.from({ length: threads }, () => new SegmentWriter());
    // Round robin by segment index: consecutive segments go to different threads.
    this.writeSegment = opts.writeSegment ? (dir, content) => opts.writeSegment!(dir, content) : (dir, content, index) => this.writers[index % this.writers.length]!.write(dir, content);
  }

  private get writerCount(): number {
    return Math.max(1, this.writers.length);
  }

  /**
   * Epoch size cap: `epochMiB`, default 32 MiB whatever the number of tags. With the dense tag
   * index a segment costs ~0.3 bytes per tag, and smaller epochs store timestamps in fewer bits
   * (storage bench, 1M tags, dense index: 11.77–11.84 bytes a point with 32 MiB epochs, 12.13–12.22 with 64), so a huge tag
   * table needs no bigger epoch — and memory, which holds about three epochs, stays the same.
   */
  private get epochBytes(): number {
    return (this.opts.epochMiB ?? 32) * 1024 * 1024;
  }

  private get primary(): string {
    return this.opts.recordsStream ?? 'records';
  }

  async open(run: RunInfo): Promise<void> {
    try {
      await this.openFolder(run);
    } catch (err) {
      // Nothing half-open is left behind: writer threads stop, the run folder is unlocked.
      await Promise.all(this.writers.map((w) => w.close()));
      this.release?.();
      this.release = null;
      throw err;
    }
  }

  private async openFolder(run: RunInfo): Promise<void> {
    this.run = run;
    // Warm the HDF5 writer thread now, so the first segment does not wait for it to load.
    for (const w of this.writers) w.start().catch((err: Error) => this.opts.log?.('error', `segment writer thread failed to start: ${err.message}`));
    const walDir = path.join(run.dir, 'wal');
    fs.mkdirSync(walDir, { recursive: true });
    this.release = acquireRunLock(run.dir);
    this.losses = new LossLog(run.dir);
    const t0 = performance.now();
    const removedTmp = fs.readdirSync(run.dir).filter((f) => f.endsWith('.h5.tmp'));
    for (const f of removedTmp) fs.rmSync(path.join(run.dir, f), { force: true });

    const oldSegments = walSegments(walDir);
    const scan = scanWal(walDir);
    if (scan.corruption) {
      this.opts.log?.('error', scan.corruption.message, scan.corruption.details);
      this.losses.append({ stream: '*', reason: 'wal-corrupted', file: String(scan.corruption.details['file']), offset: Number(scan.corruption.details['offset']), detail: scan.corruption.message });
    }
    if (scan.truncated) this.opts.log?.('warn', `WAL torn tail cut: ${scan.truncated.bytes} bytes at ${scan.truncated.file}:${scan.truncated.offset} (never acknowledged)`, scan.truncated);

    // Streams from every record; the last checkpoint says which segments are final.
    let covered = 0n;
    let lastCheckpointed = -1;
    let sawCheckpoint = false;
    for (const r of scan.records) {
      if (r.type === RecordType.STREAM) {
        const info = decodeStream(r.payload, run.dir);
        this.streams.set(info.name, info);
      } else if (r.type === RecordType.CHECKPOINT) {
        const cp = decodeCheckpoint(r.payload);
        covered = BigInt(cp.seq);
        lastCheckpointed = cp.segment;
        sawCheckpoint = true;
        for (const [s, n] of Object.entries(cp.samples)) this.samples.set(s, BigInt(n));
        for (const [s, n] of Object.entries(cp.events ?? {})) this.events.set(s, BigInt(n));
      }
    }
    // A cleanly closed run has no WAL left: its counts were saved beside the segments.
    if (!sawCheckpoint) {
      const state = readStorageState(run.dir);
      if (state) {
        for (const [s, n] of Object.entries(state.samples)) this.samples.set(s, BigInt(n));
        for (const [s, n] of Object.entries(state.events ?? {})) this.events.set(s, BigInt(n));
      }
    }
    // A segment file newer than the last checkpoint was finished but not checkpointed (a crash
    // between its rename and the checkpoint's fsync): the WAL still holds all of its records, so
    // it is rebuilt by the replay below; keeping it as well would store them twice. With an
    // WAL without a checkpoint (empty: a clean close deleted it) every segment is final; every
    // log this sink writes starts with a checkpoint. With corruption in the WAL the
    // replay may fall short: such a segment is moved aside (`*.unverified`) and reported instead.
    const segFiles = fs.readdirSync(run.dir).map((f) => ({ f, m: SEGMENT_RE.exec(f) })).filter((x) => x.m);
    const uncheckpointed: string[] = [];
    for (const { f, m } of segFiles) {
      const index = Number(m![1]);
      if (sawCheckpoint && index > lastCheckpointed) {
        const file = path.join(run.dir, f);
        if (scan.corruption) {
          fs.renameSync(file, `${file}.unverified`);
          this.losses.append({ stream: '*', reason: 'wal-corrupted', file, detail: `segment not checkpointed and the WAL is corrupted: moved aside as ${f}.unverified, may overlap replayed data` });
        } else fs.rmSync(file);
        uncheckpointed.push(f);
      } else this.nextSegment = Math.max(this.nextSegment, index + 1);
    }
    this.nextSegment = Math.max(this.nextSegment, lastCheckpointed + 1);
    let replayed = 0;
    for (const r of scan.records) {
      if (r.type === RecordType.BATCH && r.seq > covered) {
        const sb = decodeBatch(r.payload);
        if (!this.streams.has(sb.stream)) {
          // Cannot happen with this writer (the registry is logged before any batch and after
          // every checkpoint); if it does, say so rather than drop the batch unseen.
          this.opts.log?.('error', `WAL replay: batch seq ${r.seq} of unregistered stream "${sb.stream}" cannot be placed in a segment`);
          this.losses.append({ stream: sb.stream, reason: 'wal-unregistered-stream', rows: sb.batch.numRows, detail: `WAL seq ${r.seq}` });
          continue;
        }
        this.epoch.add(sb, r.seq);
        replayed++;
      }
    }

    this.wal = new WalWriter(walDir, { ...this.opts.wal, firstSegmentId: scan.nextSegmentId, firstSeq: scan.nextSeq });
    const segmentsBefore = this.segmentsWritten;
    if (!this.epoch.empty) {
      const replayEpoch = this.epoch;
      this.epoch = new Epoch();
      await this.flush(replayEpoch, replayEpoch.lastSeq);
    }
    // Keep the stream registry and a checkpoint (last final segment, global sample counts) in the
    // new log, then drop the old files: everything in them is now in finished segments.
    // The checkpoint goes first: a torn tail can only cut a suffix, so any log with a record of
    // this session starts with it.
    const samples = Object.fromEntries([...this.samples].map(([k, v]) => [k, v.toString()]));
    const events = Object.fromEntries([...this.events].map(([k, v]) => [k, v.toString()]));
    const registry = [this.wal.append(RecordType.CHECKPOINT, encodeCheckpoint({ segment: this.nextSegment - 1, seq: (scan.nextSeq - 1n).toString(), samples, events }))];
    for (const s of this.streams.values()) registry.push(this.wal.append(RecordType.STREAM, this.streamRecord(s)));
    await Promise.all(registry);
    for (const s of oldSegments) fs.rmSync(s.file, { force: true });

    this.recovery = {
      replayedRecords: replayed,
      rebuiltSegments: this.segmentsWritten - segmentsBefore,
      truncatedBytes: scan.truncated?.bytes ?? 0,
      corruption: scan.corruption?.message ?? null,
      removedTmp,
      uncheckpointed,
      walBytesScanned: scan.bytesScanned,
      durationMs: performance.now() - t0,
    };
    if (replayed > 0 || removedTmp.length > 0) this.opts.log?.('info', `recovered ${run.dir}: ${replayed} WAL records replayed into ${this.recovery.rebuiltSegments} segment(s)`, { ...this.recovery });

    const epochMs = (this.opts.epochS ?? 60) * 1000;
    this.timer = setInterval(() => {
      if (!this.epoch.empty && Date.now() - this.epoch.startedAt >= epochMs) this.rotate();
    }, Math.min(1000, epochMs));
    this.timer.unref();
  }

  addStream(info: StreamInfo): void {
    if (this.streams.has(info.name)) return;
    this.streams.set(info.name, info);
    // Encode the tag table for the segment that will store it now (once: ~1 s per million tags
    // made on demand), not mid-run.
    if (info.kind === 'scalar' && info.tags) encodedTagTable(info.tags);
    this.wal.append(RecordType.STREAM, this.streamRecord(info)).catch(() => undefined); // a failure poisons the WAL: the next write reports it
  }

  write(sb: StreamBatch): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    // A batch of a stream never registered would have no place in a segment: refuse it loudly
    // rather than acknowledge data that would be dropped at the next flush.
    if (!this.streams.has(sb.stream)) {
      return Promise.reject(new DaqError('DAQ_ERR_STREAM_UNKNOWN', `storage: batch of stream "${sb.stream}" before addStream(); registered: ${[...this.streams.keys()].join(', ') || 'none'}`, { details: { stream: sb.stream } }));
    }
    const acked = this.wal.append(RecordType.BATCH, encodeBatch(sb));
    this.epoch.add(sb, this.wal.seq - 1n);
    if (sb.kind === 'waveform') this.sampleBytesIn += sb.samples.byteLength;
    if (this.epoch.bytes >= this.epochBytes) this.rotate();
    // Bounded memory: while closed epochs worth one epoch's bytes wait for (or are in) the segment
    // writer, hold the ack (and so the producers) until the writer catches up. Nothing is dropped.
    const durable = acked.catch((err: Error) => {
      this.failed ??= err;
      throw err;
    });
    if (this.flushesQueued > this.writerCount || this.pendingBytes >= this.writerCount * this.epochBytes) return durable.then(() => this.flushChain).then(() => this.check());
    return durable.then(() => this.check());
  }

  private check(): void {
    if (this.failed) throw this.failed;
  }

  /**
   * Closes the current epoch and queues its segment. Its content (and so its index, global sample
   * offsets and tag-table reference) is fixed now, in order; with several writer threads segments
   * are written concurrently, but checkpoints (and WAL deletion) follow in segment order, so a
   * crash can only leave segments after the last checkpoint, which recovery rebuilds.
   */
  private rotate(): void {
    if (this.epoch.empty) return;
    const epoch = this.epoch;
    this.epoch = new Epoch();
    // The segment may only cover records that are durable: wait for the WAL first.
    const seq = epoch.lastSeq;
    this.flushesQueued++;
    this.pendingBytes += epoch.bytes;
    let content: PreparedSegment | null = null;
    let written: Promise<void>;
    try {
      content = this.prepare(epoch, seq);
      // The content holds copies of every column: let the epoch's batches go now, not when the
      // segment is written (a 64 MiB epoch would otherwise be held twice while its segment waits).
      epoch.release();
      const c = content;
      written = this.wal.whenDurable(seq).then(() => {
        if (this.failed || this.wal.isPoisoned) throw this.failed ?? new StorageError('WAL failed: segment not written');
        const t = performance.now();
        return this.writeSegment(this.run.dir, c.content, c.content.index).then((summary) => {
          this.lastFlushMs = performance.now() - t;
          this.noteWriter(summary);
        });
      });
    } catch (err) {
      written = Promise.reject(err as Error);
    }
    written.catch(() => undefined); // reported through the chain below
    this.flushChain = this.flushChain
      .then(() => written)
      .then(() => (this.failed || this.wal.isPoisoned || !content ? undefined : this.checkpoint(content)))
      .catch((err: Error) => {
        this.failed ??= err instanceof DaqError ? err : new StorageError(`segment flush failed: ${err.message}`, { cause: err });
        this.opts.log?.('error', `storage: ${this.failed.message}`);
      })
      .finally(() => {
        this.flushesQueued--;
        this.pendingBytes -= epoch.bytes;
      });
  }

  /** A segment's content, built in segment order on this thread. */
  private prepare(epoch: Epoch, seq: bigint): PreparedSegment {
    const index = this.nextSegment++;
    const lineage = Object.fromEntries([...this.streams.values()].map((s) => [s.name, s.lineage]));
    const content: SegmentContent = {
      runId: this.run.runId,
      index,
      software: this.run.software,
      configJson: JSON.stringify(this.run.config ?? null),
      lineageJson: JSON.stringify(lineage),
      t0UnixNs: this.run.t0UnixNs,
      walSeqLast: seq,
      scalars: epoch.scalarParts(this.streams),
      waves: epoch.waveParts(this.streams, this.primary, this.samples, this.events),
      tables: epoch.tableParts(this.streams),
    };
    // A tag table already stored by this session (same table object: tables are replaced, never
    // edited) is referred to, not stored again.
    for (const part of content.scalars) {
      const prev = this.tagTablesStored.get(part.stream);
      if (prev && prev.table === part.tags) {
        part.tags = null;
        part.tagsSegment = prev.segment;
      } else if (part.tags && !isEncodedTagTable(part.tags)) {
        this.tagTablesStored.set(part.stream, { table: part.tags, segment: index });
        part.tags = takeEncodedTagTable(part.tags); // encoded at addStream; not kept once stored
      }
    }
    // Global sample counts through this segment, for its checkpoint.
    const samples = Object.fromEntries([...this.samples].map(([k, v]) => [k, v.toString()]));
    const events = Object.fromEntries([...this.events].map(([k, v]) => [k, v.toString()]));
    return { content, seq, samples, events };
  }

  /** After segment `content.index` is final: checkpoint it, then drop the WAL it covers. */
  private async checkpoint(p: PreparedSegment): Promise<void> {
    await this.wal.append(RecordType.CHECKPOINT, encodeCheckpoint({ segment: p.content.index, seq: p.seq.toString(), samples: p.samples, events: p.events }));
    await this.wal.syncNow(); // durable checkpoint in every durability mode
    // The registry must outlive the segments about to be deleted.
    await Promise.all([...this.streams.values()].map((s) => this.wal.append(RecordType.STREAM, this.streamRecord(s))));
    await this.wal.deleteCovered(p.seq);
    this.segmentsWritten++;
  }

  /** Writes an epoch as the next segment and checkpoints it (recovery: before any new write). */
  private async flush(epoch: Epoch, seq: bigint): Promise<void> {
    const p = this.prepare(epoch, seq);
    const t = performance.now();
    this.noteWriter(await this.writeSegment(this.run.dir, p.content, p.content.index));
    this.lastFlushMs = performance.now() - t;
    await this.checkpoint(p);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    try {
      if (this.wal) {
        await this.wal.drain().catch(() => undefined);
        if (!this.failed && !this.wal.isPoisoned) this.rotate();
        await this.flushChain;
        await this.wal.close();
        // A clean close leaves every batch in finished segments (the last checkpoint is durable):
        // the log is no longer needed.
        if (!this.failed && !this.wal.isPoisoned) {
          // What the next session of this run (run.on_restart: continue) numbers on from.
          writeStorageState(this.run.dir, {
            segment: this.nextSegment - 1,
            samples: Object.fromEntries([...this.samples].map(([k, v]) => [k, v.toString()])),
            events: Object.fromEntries([...this.events].map(([k, v]) => [k, v.toString()])),
          });
          for (const s of walSegments(this.wal.dir)) fs.rmSync(s.file, { force: true });
        }
      }
    } finally {
      await Promise.all(this.writers.map((w) => w.close()));
      this.release?.();
      this.release = null;
    }
    if (this.failed) throw this.failed;
  }

  /**
   * The WAL record registering a stream. A scalar stream's tag table goes to a file of the run
   * folder (`streams/<stream>.tags.json`, durable before the record is appended), written once
   * per session: the record itself stays small however many tags (it is appended again after
   * every checkpoint, so that the registry outlives the WAL files deleted).
   */
  private streamRecord(info: StreamInfo): Uint8Array[] {
    if (info.kind !== 'scalar' || !info.tags) return encodeStream(info);
    let rel = this.tagFiles.get(info);
    if (!rel) {
      rel = path.join('streams', `${encodeURIComponent(info.name)}.tags.json`);
      const file = path.join(this.run.dir, rel);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      writeTagsJson(`${file}.tmp`, info.tags);
      commitFileSync(`${file}.tmp`, file);
      this.tagFiles.set(info, rel);
    }
    return encodeStream(info, { tagsFile: rel });
  }

  /** Writer threads' memory, from the newest segment each wrote (the biggest seen is kept). */
  private noteWriter(s: SegmentSummary): void {
    if (s.writerHeapBytes !== undefined) this.writerHeapBytes = Math.max(this.writerHeapBytes, s.writerHeapBytes);
    if (s.writerWasmBytes !== undefined) this.writerWasmBytes = Math.max(this.writerWasmBytes, s.writerWasmBytes);
  }

  resetStats(): void {
    this.wal?.ackMs.clear();
    this.wal?.fsyncMs.clear();
  }

  stats(): Record<string, number> {
    const w = this.wal;
    if (!w) return {};
    return {
      wal_bytes_in_use: w.bytesInUse,
      wal_bytes_written: w.bytesWritten,
      bytes_written: w.bytesWritten,
      wal_records: w.records,
      fsyncs_total: w.fsyncs,
      fsync_p50_ms: w.fsyncMs.quantile(0.5),
      fsync_p99_ms: w.fsyncMs.quantile(0.99),
      ack_p50_ms: w.ackMs.quantile(0.5),
      ack_p99_ms: w.ackMs.quantile(0.99),
      segments_written: this.segmentsWritten,
      last_flush_ms: this.lastFlushMs,
      epoch_bytes: this.epoch.bytes,
      /** The size at which the current epoch is cut into a segment (`epoch_mib`, or automatic). */
      epoch_cap_bytes: this.epochBytes,
      buffered_bytes: this.epoch.bytes + this.pendingBytes,
      flushes_queued: this.flushesQueued,
      /** Largest JS heap in use seen in a segment writer thread after a write (bytes). */
      writer_heap_bytes: this.writerHeapBytes,
      /** Largest WebAssembly (h5wasm) heap of a segment writer thread (bytes; it never shrinks). */
      writer_wasm_bytes: this.writerWasmBytes,
      sample_bytes_in: this.sampleBytesIn,
      /** WAL bytes per waveform sample byte on the acquisition path (samples inline, written once). */
      wal_bytes_per_sample_byte: this.sampleBytesIn ? w.bytesWritten / this.sampleBytesIn : 0,
      losses: this.losses?.count ?? 0,
      recovered_records: this.recovery?.replayedRecords ?? 0,
    };
  }
}

/**
 * Writes a tag table as a JSON array (the format decodeStream reads), 64k tags at a time: a
 * million tags are ~60 MB of JSON, which is never one string, nor a million objects at once.
 */
function writeTagsJson(file: string, tags: TagTable): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, '[');
    for (let a = 0; a < tags.length; a += 65536) {
      const part = JSON.stringify(tags.slice(a, Math.min(tags.length, a + 65536)));
      fs.writeSync(fd, a === 0 ? part.slice(1, -1) : `,${part.slice(1, -1)}`);
    }
    fs.writeSync(fd, ']');
  } finally {
    fs.closeSync(fd);
  }
}
