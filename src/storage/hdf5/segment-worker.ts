// Worker thread: writes HDF5 segments with h5wasm off the acquisition event loop.
import { parentPort } from 'node:worker_threads';
import { h5ready, writeSegmentSync } from './segment-writer.ts';
import type { SegmentContent } from '../segment.ts';

await h5ready();
parentPort!.on('message', (msg: { id: number; dir: string; content: SegmentContent }) => {
  try {
    // The fsync and rename are left to the caller's thread pool: this thread starts on the next
    // segment while the disk syncs this one (the fsync was ~20% of this thread's time).
    const summary = writeSegmentSync(msg.dir, msg.content, { commit: false, consume: true });
    parentPort!.postMessage({ id: msg.id, summary });
  } catch (err) {
    const e = err as Error & { code?: string; details?: unknown };
    parentPort!.postMessage({ id: msg.id, error: { message: e.message, code: e.code, details: e.details } });
  }
});
parentPort!.postMessage({ ready: true });
