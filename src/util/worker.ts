import { Worker } from 'node:worker_threads';
import type { WorkerOptions } from 'node:worker_threads';

const bootstrap = new URL('./worker-bootstrap.js', import.meta.url);

/**
 * Starts a worker thread running a TypeScript module (through tsx), e.g.
 * `startWorker(new URL('./segment-worker.ts', import.meta.url), { workerData: {...} })`.
 * The module reads its own data from `workerData` as usual. `preload` names plain-JS packages to
 * import natively before tsx's loader is registered (see worker-bootstrap.js: h5wasm).
 */
export function startWorker(module: URL, options: WorkerOptions & { preload?: string[] } = {}): Worker {
  const { preload, ...rest } = options;
  const data = (rest.workerData ?? {}) as Record<string, unknown>;
  return new Worker(bootstrap, { ...rest, workerData: { ...data, __module: module.href, __preload: preload ?? [] } });
}
