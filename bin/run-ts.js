#!/usr/bin/env node
// Runs a TypeScript entry file with tsx's loader registered: `node bin/run-ts.js file.ts [args]`.
import { register } from 'tsx/esm/api';
import { pathToFileURL } from 'node:url';
import path from 'node:path';

// h5wasm imported natively first (benchmarks and examples read HDF5): see src/util/worker-bootstrap.js.
await import('h5wasm/node');
register();
const [file, ...rest] = process.argv.slice(2);
if (!file) {
  console.error('usage: run-ts.js FILE.ts [args...]');
  process.exit(2);
}
process.argv = [process.argv[0], path.resolve(file), ...rest];
await import(pathToFileURL(path.resolve(file)).href);
