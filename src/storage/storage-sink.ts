import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { crc32c } from '@node-rs/crc32';
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
import type { PoolRef } from './wal/codec.ts';
import { encodePoolHeader, POOL_DATA_OFFSET } from './hdf5/pool-header.ts';
import { RecordType } from './wal/frame.ts';
import { scanWal, walSegments } from './wal/wal-reader.ts';
import { WalWriter } from './wal/wal-writer.ts';
import type { WalWriterOptions } from './wal/wal-writer.ts';
import { makeDirsSync } from '../util/make-dirs.ts';

export interface StorageSinkOptions {
  /** Seconds of data per HDF5 segment. Default 60. */
  epochS?: number;
  /** A segment is cut early when the epoch holds this many MiB. Default: 32. */
  epochMiB?: number;
  /**
   * A segment is cut early when its waveform samples (written straight to its pool files, not
   * held in memory) reach this many MiB. Default: 1024.
   */
  poolMiB?: number;
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
/** A segment's waveform pool file: `wave_pool-NNNNNN.<stream, URI-encoded>.h5` (NNNNNN: its segment's index; not matched by `seg-*.h5`). */
const POOL_RE = /^wave_pool-(\d{6})\.(.+)\.h5$/;

export function poolFileName(segment: number, stream: string): string {
  return `wave_pool-${String(segment).padStart(6, '0')}.${encodeURIComponent(stream)}.h5`;
}

/**
 * Makes a pool file final: its exact size (a crash may have left unacknowledged samples after the
 * last referenced one), the HDF5 header for `samples` samples, fdatasync.
 */
async function finishPoolFile(file: string, samples: number, globalOffset: bigint, dtNs: number): Promise<void> {
  const header = encodePoolHeader({ samples: BigInt(samples), globalOffset, dtNs, units: 'ADC counts' });
  const fh = await fsp.open(file, 'r+');
  try {
    await fh.truncate(POOL_DATA_OFFSET + 2 * samples);
    await fh.write(header, 0, header.length, 0);
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

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

  private get poolBytes(): number {
    return (this.opts.poolMiB ?? 1024) * 1024 * 1024;
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
    makeDirsSync(walDir);
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
    // The batches to replay, in the epochs they were cut into (a record names its epoch), each
    // pooled waveform batch checked against its CRC first: a durable record always refers to
    // fdatasynced samples, so a mismatch is corruption; replay stops there like at a bad record.
    const replayEpochs: Epoch[] = [];
    const referencedPools = new Set<string>();
    let poolCorruption: DaqError | null = null;
    let replayed = 0;
    for (const r of scan.records) {
      if (r.type !== RecordType.BATCH || r.seq <= covered) continue;
      const sb = decodeBatch(r.payload);
      if (!this.streams.has(sb.stream)) {
        // Cannot happen with this writer (the registry is logged before any batch and after
        // every checkpoint); if it does, say so rather than drop the batch unseen.
        this.opts.log?.('error', `WAL replay: batch seq ${r.seq} of unregistered stream "${sb.stream}" cannot be placed in a segment`);
        this.losses.append({ stream: sb.stream, reason: 'wal-unregistered-stream', rows: sb.batch.numRows, detail: `WAL seq ${r.seq}` });
        continue;
      }
      if (sb.pool) {
        const bad = verifyPoolRef(run.dir, sb.pool);
        if (bad) {
          poolCorruption = this.setAsideFrom(walDir, r.segId, `${bad}; WAL record seq ${r.seq} refers to it: replayed the records before it`, { file: path.join(run.dir, sb.pool.file), offset: sb.pool.position, stream: sb.stream });
          break;
        }
        referencedPools.add(sb.pool.file);
      }
      let cur = replayEpochs[replayEpochs.length - 1];
      const otherEpoch = cur !== undefined && sb.epoch !== undefined && cur.index !== sb.epoch;
      const otherPool = cur !== undefined && sb.kind === 'waveform' && cur.batches.has(sb.stream) && cur.poolOf(sb.stream) !== (sb.pool?.file ?? null);
      if (!cur || otherEpoch || otherPool) replayEpochs.push((cur = new Epoch(sb.epoch)));
      cur.add(sb, r.seq, sb.pool);
      replayed++;
    }
    const corruption = scan.corruption ?? poolCorruption;

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
        if (corruption) {
          fs.renameSync(file, `${file}.unverified`);
          this.losses.append({ stream: '*', reason: 'wal-corrupted', file, detail: `segment not checkpointed and the WAL is corrupted: moved aside as ${f}.unverified, may overlap replayed data` });
        } else fs.rmSync(file);
        uncheckpointed.push(f);
      } else this.nextSegment = Math.max(this.nextSegment, index + 1);
    }
    this.nextSegment = Math.max(this.nextSegment, lastCheckpointed + 1);
    // Pool files no finished segment and no replayed record refers to hold only samples never
    // acknowledged (a crash before their record was durable): removed, or with corruption in the
    // log, moved aside (an `*.unverified` segment may link them).
    const poolsFinal = sawCheckpoint ? lastCheckpointed : (readStorageState(run.dir)?.segment ?? -1);
    for (const f of fs.readdirSync(run.dir)) {
      const m = POOL_RE.exec(f);
      if (!m || Number(m[1]) <= poolsFinal || referencedPools.has(f)) continue;
      const file = path.join(run.dir, f);
      if (corruption) fs.renameSync(file, `${file}.unverified`);
      else fs.rmSync(file, { force: true });
      removedTmp.push(f);
    }

    this.wal = new WalWriter(walDir, { ...this.opts.wal, firstSegmentId: scan.nextSegmentId, firstSeq: scan.nextSeq });
    const segmentsBefore = this.segmentsWritten;
    // With corruption, samples after the last replayed batch belong to records kept aside
    // (`*.corrupt`): their pool file is cut to what is replayed, so its tail is kept aside too.
    if (corruption) {
      for (const e of replayEpochs) {
        for (const p of e.pools.values()) {
          const kept = keepPoolTail(path.join(run.dir, p.file), POOL_DATA_OFFSET + 2 * p.samples);
          if (kept) this.losses.append({ stream: '*', reason: 'wal-corrupted', file: kept, detail: `samples after the corruption, of records moved aside, kept as ${kept}` });
        }
      }
    }
    for (const e of replayEpochs) await this.flush(e, e.lastSeq);
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
      corruption: corruption?.message ?? null,
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
    const epochIndex = this.epoch.index ?? this.nextSegment;
    let acked: Promise<bigint>;
    if (sb.kind === 'waveform') {
      // Samples go once to the epoch's pool file (which becomes the segment's /wave_pool), written
      // and fdatasynced by the WAL's group commit before the record that refers to them.
      const bytes = new Uint8Array(sb.samples.buffer, sb.samples.byteOffset, sb.samples.byteLength);
      const file = this.epoch.poolOf(sb.stream) ?? poolFileName(epochIndex, sb.stream);
      const ref: PoolRef = { file, position: POOL_DATA_OFFSET + 2 * (this.epoch.pools.get(sb.stream)?.samples ?? 0), samples: sb.samples.length, crc: crc32c(bytes) };
      acked = this.wal.append(RecordType.BATCH, encodeBatch(sb, ref, epochIndex), { file: path.join(this.run.dir, file), position: ref.position, data: bytes });
      this.epoch.add(sb, this.wal.seq - 1n, ref);
      this.sampleBytesIn += bytes.byteLength;
    } else {
      acked = this.wal.append(RecordType.BATCH, encodeBatch(sb, undefined, epochIndex));
      this.epoch.add(sb, this.wal.seq - 1n);
    }
    if (this.epoch.bytes >= this.epochBytes || this.epoch.poolBytes >= this.poolBytes) this.rotate();
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
        return this.finishPools(c.content).then(() => this.writeSegment(this.run.dir, c.content, c.content.index)).then((summary) => {
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

  /**
   * Recovery found corruption outside the WAL's own framing (a pooled record's samples): the WAL
   * segment holding that record and every later one are renamed `*.corrupt`, as the WAL reader
   * does for a bad record, and the error is logged and recorded in the run's loss log.
   */
  private setAsideFrom(walDir: string, segId: number, message: string, details: { file: string; offset: number; stream: string }): DaqError {
    const moved: string[] = [];
    for (const s of walSegments(walDir)) {
      if (s.id < segId) continue;
      fs.renameSync(s.file, `${s.file}.corrupt`);
      moved.push(`${s.file}.corrupt`);
    }
    const err = new DaqError('DAQ_ERR_WAL_CORRUPTED', `${message}; moved aside: ${moved.join(', ')}`, { details: { ...details, movedAside: moved } });
    this.opts.log?.('error', err.message, err.details);
    this.losses.append({ stream: details.stream, reason: 'wal-corrupted', file: details.file, offset: details.offset, detail: err.message });
    return err;
  }

  /** A segment's content, built in segment order on this thread. */
  private prepare(epoch: Epoch, seq: bigint): PreparedSegment {
    const index = epoch.index !== undefined && epoch.index >= this.nextSegment ? epoch.index : this.nextSegment;
    this.nextSegment = index + 1;
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

  /**
   * Before a segment links its pool files: no more writes to them (the WAL closes them once every
   * record so far is durable), then each gets its exact size, its HDF5 header, an fdatasync.
   */
  private async finishPools(content: SegmentContent): Promise<void> {
    for (const w of content.waves) {
      if (!w.pool) continue;
      const file = path.join(this.run.dir, w.pool.file);
      await this.wal.closeSide(file);
      await finishPoolFile(file, w.pool.samples, w.globalSampleOffset, w.dtNs);
    }
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
    await this.finishPools(p.content);
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
      makeDirsSync(path.dirname(file));
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
      /** WAL and pool-file bytes written on the acquisition path. */
      bytes_written: w.bytesWritten + w.sideBytesWritten,
      pool_bytes_written: w.sideBytesWritten,
      wal_records: w.records,
      fsyncs_total: w.fsyncs,
      group_commits: w.commits,
      fsync_p50_ms: w.fsyncMs.quantile(0.5),
      fsync_p99_ms: w.fsyncMs.quantile(0.99),
      ack_p50_ms: w.ackMs.quantile(0.5),
      ack_p99_ms: w.ackMs.quantile(0.99),
      segments_written: this.segmentsWritten,
      last_flush_ms: this.lastFlushMs,
      epoch_bytes: this.epoch.bytes,
      epoch_pool_bytes: this.epoch.poolBytes,
      /** The size at which the current epoch is cut into a segment (`epoch_mib`, or automatic). */
      epoch_cap_bytes: this.epochBytes,
      buffered_bytes: this.epoch.bytes + this.pendingBytes,
      flushes_queued: this.flushesQueued,
      /** Largest JS heap in use seen in a segment writer thread after a write (bytes). */
      writer_heap_bytes: this.writerHeapBytes,
      /** Largest WebAssembly (h5wasm) heap of a segment writer thread (bytes; it never shrinks). */
      writer_wasm_bytes: this.writerWasmBytes,
      sample_bytes_in: this.sampleBytesIn,
      /** Bytes written on the acquisition path (WAL + pool files) per waveform sample byte. */
      bytes_per_sample_byte: this.sampleBytesIn ? (w.bytesWritten + w.sideBytesWritten) / this.sampleBytesIn : 0,
      losses: this.losses?.count ?? 0,
      recovered_records: this.recovery?.replayedRecords ?? 0,
    };
  }
}

/** Copies the bytes of `file` past `from` to `<file>.after-corruption`; returns that name, or null if there are none. */
function keepPoolTail(file: string, from: number): string | null {
  const size = fs.existsSync(file) ? fs.statSync(file).size : 0;
  if (size <= from) return null;
  const out = `${file}.after-corruption`;
  const src = fs.openSync(file, 'r');
  const dst = fs.openSync(out, 'w');
  try {
    const buf = Buffer.allocUnsafe(8 << 20);
    for (let pos = from; pos < size; ) {
      const n = fs.readSync(src, buf, 0, Math.min(buf.length, size - pos), pos);
      if (n <= 0) break;
      fs.writeSync(dst, buf, 0, n);
      pos += n;
    }
    fs.fsyncSync(dst);
  } finally {
    fs.closeSync(src);
    fs.closeSync(dst);
  }
  return out;
}

/**
 * Checks a pooled batch's samples against the CRC its WAL record holds: null when they match, else
 * what is wrong (missing file, cut short, CRC mismatch), naming the file and byte offset.
 */
function verifyPoolRef(dir: string, ref: PoolRef): string | null {
  const file = path.join(dir, ref.file);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    return `pool file ${file} cannot be opened (${(err as Error).message})`;
  }
  try {
    const bytes = ref.samples * 2;
    const chunk = Buffer.allocUnsafe(Math.min(bytes, 8 << 20));
    let crc = 0;
    for (let done = 0; done < bytes; ) {
      const want = Math.min(chunk.length, bytes - done);
      const n = fs.readSync(fd, chunk, 0, want, ref.position + done);
      if (n <= 0) return `pool file ${file} cut short at byte ${ref.position + done} (samples ${ref.position}..${ref.position + bytes} expected)`;
      crc = crc32c(n === chunk.length ? chunk : chunk.subarray(0, n), crc);
      done += n;
    }
    if (crc >>> 0 !== ref.crc >>> 0) return `pool file ${file}: CRC32C mismatch for ${bytes} bytes at byte ${ref.position}`;
    return null;
  } finally {
    fs.closeSync(fd);
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
