#!/usr/bin/env node
// Builds the merge's native kernel (src/merge/native/merge-kernel.c, a Node-API addon) into
// build/merge-kernel.node, stamped with its sources' sha1 (build/merge-kernel.json) so the daemon
// never loads a kernel built from another version of the source. Runs at `npm ci` / `npm install`
// (package.json "prepare") and before the tests; `npm run build:native` runs it by hand.
//
// Without a C compiler (CC, else cc) or Node's headers (node_api.h, beside the node binary in
// include/node, or DAQ_NODE_HEADERS) it says so and exits 0: the merge then uses its WebAssembly
// kernel, at about two thirds of the native one's speed on many inputs. With --require (the
// tests, `npm run build:native`) it exits 1 instead. Nothing is rebuilt while the stamp matches.
//
// Flags: -O3, and -march=native unless DAQ_NATIVE_MARCH is set (to a -march value, or "" for the
// compiler's default): the addon is built on the machine that runs it. DAQ_NATIVE_OUT builds into
// another folder (the tests; the daemon loads only build/).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const source = path.join(root, 'src/merge/native/merge-kernel.c');
const outDir = process.env.DAQ_NATIVE_OUT ? path.resolve(process.env.DAQ_NATIVE_OUT) : path.join(root, 'build');
const out = path.join(outDir, 'merge-kernel.node');
const stampFile = path.join(outDir, 'merge-kernel.json');
const require_ = process.argv.includes('--require');
const force = process.argv.includes('--force');

function give_up(why) {
  const msg = `build-native: ${why}; the merge will use its WebAssembly kernel`;
  if (require_) {
    console.error(`${msg}. Install a C compiler (Debian: apt-get install gcc libc6-dev) and run npm run build:native.`);
    process.exit(1);
  }
  console.error(`${msg} (install gcc and run npm run build:native for the native one).`);
  process.exit(0);
}

// The stamp: sha1 over the kernel's sources (every file in src/merge/native, by name; src/merge/native-kernel.ts hashes the same).
const sourceDir = path.dirname(source);
const hasher = createHash('sha1');
for (const f of readdirSync(sourceDir).sort()) hasher.update(f).update(readFileSync(path.join(sourceDir, f)));
const hash = hasher.digest('hex');
const march = process.env.DAQ_NATIVE_MARCH ?? 'native';
const flags = ['-O3', '-std=gnu11', '-fPIC', '-shared', '-Wall', ...(march ? [`-march=${march}`] : [])];
const stamp = { source: hash, flags: flags.join(' '), node: process.version };
try {
  const old = JSON.parse(readFileSync(stampFile, 'utf8'));
  if (!force && existsSync(out) && old.source === hash && old.flags === stamp.flags && old.node === stamp.node) process.exit(0);
} catch {
  // no stamp: build
}

const headerDirs = [process.env.DAQ_NODE_HEADERS, path.resolve(path.dirname(process.execPath), '../include/node'), '/usr/include/node'].filter(Boolean);
const headers = headerDirs.find((d) => existsSync(path.join(d, 'node_api.h')));
if (!headers) give_up(`Node's headers (node_api.h) are not in ${headerDirs.join(' or ')}`);
const cc = process.env.CC || 'cc';
const probe = spawnSync(cc, ['--version'], { encoding: 'utf8' });
if (probe.error || probe.status !== 0) give_up(`no C compiler (${cc})`);

mkdirSync(outDir, { recursive: true });
const tmp = path.join(outDir, `merge-kernel.${process.pid}.tmp.node`);
rmSync(stampFile, { force: true });
const t0 = Date.now();
const r = spawnSync(cc, [...flags, `-I${headers}`, '-o', tmp, source], { encoding: 'utf8' });
if (r.status !== 0) {
  rmSync(tmp, { force: true });
  process.stderr.write(r.stderr ?? '');
  give_up(`${cc} failed on ${path.relative(root, source)}`);
}
// The addon must load in this Node before it replaces the last one.
const load = spawnSync(process.execPath, ['-e', `const m = require(${JSON.stringify(tmp)}); if (typeof m.run !== 'function') process.exit(3);`], { encoding: 'utf8' });
if (load.status !== 0) {
  rmSync(tmp, { force: true });
  give_up(`the built addon does not load: ${(load.stderr || `exit ${load.status}`).trim().split('\n')[0]}`);
}
renameSync(tmp, out);
writeFileSync(stampFile, JSON.stringify(stamp) + '\n');
console.error(`build-native: built ${path.relative(root, out)} (${cc} ${flags.join(' ')}, ${Date.now() - t0} ms)`);
