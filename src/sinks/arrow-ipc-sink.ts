import fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Field, Schema, Uint16 } from 'apache-arrow';
import { StorageError } from '../errors.ts';
import { makeBatch } from '../schema/batch.ts';
import type { StreamBatch, StreamInfo } from '../schema/batch.ts';
import { makeRecordsBatch, recordColumns } from '../schema/waveform.ts';
import type { RunInfo, Sink } from '../pipeline/types.ts';
import { IpcStreamEncoder } from '../util/ipc-encoder.ts';
import { fsyncDir } from '../util/fsync-dir.ts';
import { makeDirs } from '../util/make-dirs.ts';

/** Schema of a waveform stream's sample file: one uint16 column. */
export const wavePoolSchema = new Schema([new Field('sample', new Uint16(), false)], new Map([['daq.kind', 'wave_pool']]));

interface OpenFile {
  path: string;
  fh: fs.FileHandle;
  encoder: IpcStreamEncoder;
  bytes: number;
}

interface StreamFiles {
  info: StreamInfo;
  main: OpenFile;
  /** Waveform streams: the samples, with records' wave_offset rewritten to positions in it. */
  pool?: OpenFile;
  poolSamples: bigint;
}

/**
 * Writes every stream as Arrow IPC *stream* files under the run folder, readable by any Arrow
 * reader (`pyarrow.ipc.open_stream`, `tableFromIPC`):
 *
 * - `<stream>.arrows` — the stream's batches (for waveform streams, the records rows, with
 *   `wave_offset` rewritten to the position in the stream's pool file);
 * - `<stream>.wave_pool.arrows` — waveform streams only: every sample back to back, column `sample`.
 *
 * `write` resolves once the bytes are handed to the OS (not fsynced); `close` fsyncs every file
 * and the folder. It is not crash-safe: a kill can leave a stream file without its end marker
 * (readers then see the batches before the cut). The WAL-backed HDF5 storage is the durable sink.
 */
export class ArrowIpcSink implements Sink {
  readonly name = 'arrow-ipc';
  private dir = '';
  private readonly files = new Map<string, StreamFiles>();
  private chain: Promise<void> = Promise.resolve();
  private failed: unknown = null;
  private bytesWritten = 0;
  private rowsWritten = 0;

  async open(run: RunInfo): Promise<void> {
    this.dir = run.dir;
    await makeDirs(this.dir);
  }

  async addStream(info: StreamInfo): Promise<void> {
    if (this.files.has(info.name)) return;
    // A continued run (run.on_restart: continue) never overwrites an earlier session's files:
    // session k ≥ 1 writes `<stream>@<k>.arrows` (and `<stream>@<k>.wave_pool.arrows`).
    let base = info.name;
    for (let k = 1; existsSync(path.join(this.dir, `${base}.arrows`)); k++) base = `${info.name}@${k}`;
    const main = await this.openFile(`${base}.arrows`, info.schema);
    const entry: StreamFiles = { info, main, poolSamples: 0n };
    if (info.kind === 'waveform') entry.pool = await this.openFile(`${base}.wave_pool.arrows`, wavePoolSchema);
    this.files.set(info.name, entry);
  }

  write(sb: StreamBatch): Promise<void> {
    const entry = this.files.get(sb.stream);
    if (!entry) return Promise.reject(new StorageError(`arrow-ipc sink: stream "${sb.stream}" was not added before its first batch`));
    // Encode now, in call order; the file writes are chained so they land in the same order.
    let mainChunks: Uint8Array[];
    let poolChunks: Uint8Array[] | null = null;
    if (sb.kind === 'waveform') {
      const cols = recordColumns(sb.batch);
      const base = entry.poolSamples;
      const offsets = new BigInt64Array(cols.wave_offset.length);
      for (let i = 0; i < offsets.length; i++) offsets[i] = cols.wave_offset[i]! + base;
      mainChunks = entry.main.encoder.encode(makeRecordsBatch({ ...cols, wave_offset: offsets }));
      poolChunks = entry.pool!.encoder.encode(makeBatch(wavePoolSchema, [sb.samples]));
      entry.poolSamples += BigInt(sb.samples.length);
    } else {
      mainChunks = entry.main.encoder.encode(sb.batch);
    }
    if (this.failed) return Promise.reject(this.failed);
    const rows = sb.batch.numRows;
    // Each write gets its file position now, in call order, and runs at once: several batches'
    // writes proceed in parallel in the I/O threads, and each is acknowledged as it completes.
    const writes = [this.writeAt(entry.main, mainChunks)];
    if (poolChunks) writes.push(this.writeAt(entry.pool!, poolChunks));
    const p = Promise.all(writes).then(() => {
      if (this.failed) throw this.failed;
      this.rowsWritten += rows;
    });
    this.chain = this.chain.then(() => p).catch((err) => {
      this.failed ??= err;
    });
    return p;
  }

  /** Reserves the next `chunks` bytes of `f` and writes them there. */
  private writeAt(f: OpenFile, chunks: Uint8Array[]): Promise<void> {
    let total = 0;
    for (const c of chunks) total += c.byteLength;
    const pos = f.bytes;
    f.bytes += total;
    return this.writeChunks(f, chunks, pos, total);
  }

  async close(): Promise<void> {
    await this.chain;
    const all: OpenFile[] = [];
    for (const e of this.files.values()) {
      all.push(e.main);
      if (e.pool) all.push(e.pool);
    }
    for (const f of all) {
      if (!this.failed) await this.writeAt(f, f.encoder.finish());
      await f.fh.sync();
      await f.fh.close();
    }
    this.files.clear();
    await fsyncDir(this.dir);
    if (this.failed) throw this.failed;
  }

  stats(): Record<string, number> {
    return { bytes_written: this.bytesWritten, rows_written: this.rowsWritten, open_files: this.files.size };
  }

  private async openFile(name: string, schema: Schema): Promise<OpenFile> {
    const p = path.join(this.dir, name);
    try {
      const fh = await fs.open(p, 'w');
      return { path: p, fh, encoder: new IpcStreamEncoder(schema), bytes: 0 };
    } catch (err) {
      throw new StorageError(`arrow-ipc sink: cannot create ${p}: ${(err as Error).message}`, { cause: err, details: { file: p } });
    }
  }

  private async writeChunks(f: OpenFile, chunks: Uint8Array[], position: number, total: number): Promise<void> {
    if (total === 0) return;
    try {
      let written = 0;
      let rest = chunks;
      while (written < total) {
        const { bytesWritten } = await f.fh.writev(rest.slice(0, 1024), position + written); // IOV_MAX
        written += bytesWritten;
        if (written < total) rest = remaining(chunks, written);
      }
    } catch (err) {
      this.failed ??= err;
      throw new StorageError(`arrow-ipc sink: write to ${f.path} failed at byte ${position}: ${(err as Error).message}`, {
        cause: err,
        details: { file: f.path, offset: position },
      });
    }
    this.bytesWritten += total;
  }
}

/** The chunks after skipping the first `skip` bytes (short writev). */
function remaining(chunks: Uint8Array[], skip: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const c of chunks) {
    if (skip >= c.byteLength) {
      skip -= c.byteLength;
      continue;
    }
    out.push(skip > 0 ? c.subarray(skip) : c);
    skip = 0;
  }
  return out;
}
