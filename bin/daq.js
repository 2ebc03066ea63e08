#!/usr/bin/env node
// The `daq` command. The sources are TypeScript run through tsx's loader, so no build step is needed.
// Commands that read HDF5 in this thread (all but `run`, whose segment writer is a worker thread)
// import h5wasm natively before tsx's loader is registered: through the loader that import costs
// ~1 s and ~650 MB of RSS (see src/util/worker-bootstrap.js).
import { register } from 'tsx/esm/api';

const args = process.argv.slice(2);
if (args[0] && args[0] !== 'run' && !args[0].startsWith('-')) await import('h5wasm/node');
register();
const { main } = await import('../src/cli/main.ts');
await main(args);
