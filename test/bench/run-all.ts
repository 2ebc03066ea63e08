/**
 * `npm run bench`: runs every benchmark listed in test/bench/benches.txt, one after another, each
 * in its own process (so one's memory and JIT state do not colour the next), printing their tables.
 * `npm run bench -- merge` runs only those whose name contains "merge".
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const here = import.meta.dirname;
const filter = process.argv[2];
const benches = fs
  .readFileSync(path.join(here, 'benches.txt'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#') && (!filter || l.includes(filter)));
let failed = 0;
for (const b of benches) {
  console.log(`\n## ${b}`);
  const r = spawnSync(process.execPath, [path.join(here, '../../bin/run-ts.js'), path.join(here, b)], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.log(`(${b} failed with exit ${r.status})`);
    failed++;
  }
}
process.exitCode = failed ? 1 : 0;
