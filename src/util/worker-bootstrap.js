// Worker entry that registers tsx's loader, then imports the TypeScript module named in workerData.
// Large plain-JS packages named in `__preload` (h5wasm: 4 MB of JS with its WebAssembly inlined)
// are imported natively first: through tsx's loader the same import costs ~1 s and ~650 MB of RSS;
// the TypeScript module's later import of the same specifier reuses the loaded module.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

for (const spec of workerData.__preload ?? []) await import(spec);
register();
await import(workerData.__module);
