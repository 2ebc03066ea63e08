import type { Worker } from 'node:worker_threads';
import { DaqError, StorageError } from '../../errors.ts';
import { commitFile } from '../../util/fsync-dir.ts';
import type { DaqErrorCode } from '../../errors.ts';
import { startWorker } from '../../util/worker.ts';
import type { SegmentContent, SegmentSummary } from '../segment.ts';

/** Every ArrayBuffer under the content, so they move to the worker instead of being copied. */
function transferables(content: SegmentContent): ArrayBuffer[] {
  const set = new Set<ArrayBuffer>();
  const add = (a: { buffer: ArrayBufferLike }) => {
    if (a.buffer instanceof ArrayBuffer) set.add(a.buffer);
  };
  for (const s of content.scalars) [s.timestampNs, s.tag, s.value, s.quality].forEach(add);
  for (const w of content.waves) {
    Object.values(w.records).forEach(add);
    add(w.samples);
  }
  for (const t of content.tables) Object.values(t.columns).forEach(add);
  return [...set];
}

/**
 * One long-lived worker thread that writes HDF5 segments (h5wasm calls are synchronous and would
 * stall acquisition). `write` hands the content over by transfer: the caller must not touch its
 * arrays afterwards.
 */
export class SegmentWriter {
  private worker: Worker | null = null;
  private ready: Promise<void> | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (s: SegmentSummary) => void; reject: (e: Error) => void }>();

  /** Starts the thread (loading h5wasm takes a second or two): call early to have it warm. */
  start(): Promise<void> {
    this.ready ??= new Promise((resolve, reject) => {
      const w = startWorker(new URL('./segment-worker.ts', import.meta.url), { preload: ['h5wasm/node'] });
      this.worker = w;
      w.on('message', (m: { ready?: true; id?: number; summary?: SegmentSummary; error?: { message: string; code?: DaqErrorCode; details?: Record<string, unknown> } }) => {
        if (m.ready) {
          if (this.pending.size === 0) w.unref();
          return resolve();
        }
        const p = this.pending.get(m.id!);
        if (!p) return;
        this.pending.delete(m.id!);
        if (this.pending.size === 0) w.unref(); // idle: do not keep the process alive
        if (m.error) p.reject(new DaqError(m.error.code ?? 'DAQ_ERR_STORAGE_IO', m.error.message, { details: m.error.details ?? {} }));
        else {
          const s = m.summary!;
          const tmp = s.uncommitted;
          if (!tmp) p.resolve(s);
          else {
            // Durable under its final name before anyone is told it is written.
            const { uncommitted: _, ...done } = s;
            commitFile(tmp, s.path).then(
              () => p.resolve(done),
              (err: Error) => p.reject(new StorageError(`making segment ${s.path} durable failed (fsync or rename of ${tmp}): ${err.message}`, { cause: err, details: { file: tmp } })),
            );
          }
        }
      });
      // A thread that dies (out of memory, a crash in the wasm module) fails what it was doing
      // and is replaced on the next write: never leave a caller waiting on a dead thread.
      const fail = (err: Error) => {
        if (this.worker !== w) return;
        this.worker = null;
        this.ready = null;
        reject(err);
        for (const p of this.pending.values()) p.reject(new DaqError('DAQ_ERR_HDF5', `segment writer thread failed: ${err.message}`, { cause: err }));
        this.pending.clear();
      };
      w.on('error', fail);
      w.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
    });
    return this.ready;
  }

  async write(dir: string, content: SegmentContent): Promise<SegmentSummary> {
    await this.start();
    const w = this.worker;
    if (!w) throw new DaqError('DAQ_ERR_HDF5', `segment writer thread stopped before writing segment ${content.index} in ${dir}`, { details: { dir } });
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.ref(); // a write in progress keeps the process alive
      w.postMessage({ id, dir, content }, transferables(content));
    });
  }

  /** Stops the thread once the writes in progress have finished. */
  async close(): Promise<void> {
    const w = this.worker;
    if (!w) return;
    await Promise.allSettled([...this.pending.values()].map((p) => new Promise<void>((res) => {
      const { resolve, reject } = p;
      p.resolve = (s) => (resolve(s), res());
      p.reject = (e) => (reject(e), res());
    })));
    this.worker = null;
    this.ready = null;
    await w.terminate();
  }
}
