// Shared helpers for trace tests: temp dirs and files made by numpy/h5py (independent writers).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PYTHON = '/usr/bin/python3';

/** Runs a Python snippet with numpy as `np` (and h5py when asked) in `dir`. */
export function py(dir: string, code: string): string {
  return execFileSync(PYTHON, ['-c', `import numpy as np\nimport os\nos.chdir(${JSON.stringify(dir)})\n${code}`], {
    encoding: 'utf8',
  });
}

export function makeTempDir(prefix: string): { dir: string; cleanup: () => void; file: (name: string) => string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }), file: (name) => join(dir, name) };
}

/** Plain array of a trace array's values (numbers, or bigints for 64-bit integer dtypes). */
export function list(a: ArrayLike<number> | ArrayLike<bigint>): (number | bigint)[] {
  return Array.from(a as ArrayLike<number | bigint>);
}
