import { Worker } from 'node:worker_threads';
import type { WorkerOptions } from 'node:worker_threads';

const bootstrap = new URL('./worker-bootstrap.js', import.meta.url);

/**
 * Starts a worker thread running a TypeScript module (through tsx), e.g.
 * `startWorker(new URL('./segment-worker.ts', import.meta.url), { workerData: {...} })`.
 * The module reads its own data from `workerData` as usual.
 */
export function startWorker(module: URL, options: WorkerOptions = {}): Worker {
  const data = (options.workerData ?? {}) as Record<string, unknown>;
  return new Worker(bootstrap, { ...options, workerData: { ...data, __module: module.href } });
}
