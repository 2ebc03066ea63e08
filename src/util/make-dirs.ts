import fs from 'node:fs';
import path from 'node:path';
import { DaqError } from '../errors.ts';

/**
 * `mkdir -p` that ends. Node's `mkdir(dir, { recursive: true })` never returns where a parent
 * exists but refuses to hold directories with ENOENT (under /proc, for one: `daq export --out
 * /proc/x` hung); here each missing directory is made once, from the deepest existing ancestor
 * down, and a failure is a DaqError (DAQ_ERR_STORAGE_IO) naming the directory and why.
 */
export function makeDirsSync(dir: string): void {
  for (const d of missingDirs(dir)) {
    try {
      fs.mkdirSync(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !isDir(d)) throw cannotMake(d, e);
    }
  }
}

/** makeDirsSync, with an asynchronous mkdir for each directory made. */
export async function makeDirs(dir: string): Promise<void> {
  for (const d of missingDirs(dir)) {
    try {
      await fs.promises.mkdir(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !isDir(d)) throw cannotMake(d, e);
    }
  }
}

/** The directories to make, outermost first (none when dir exists; throws when dir or an ancestor is a file). */
function missingDirs(dir: string): string[] {
  const missing: string[] = [];
  let d = path.resolve(dir);
  for (;;) {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(d);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw cannotMake(d, e); // ENOTDIR: an ancestor is a file (found further up)
    }
    if (st) {
      if (!st.isDirectory()) throw new DaqError('DAQ_ERR_STORAGE_IO', `cannot create directory ${path.resolve(dir)}: ${d} is not a directory`, { details: { path: d } });
      return missing.reverse();
    }
    missing.push(d);
    const up = path.dirname(d);
    if (up === d) return missing.reverse();
    d = up;
  }
}

function isDir(d: string): boolean {
  try {
    return fs.statSync(d).isDirectory();
  } catch {
    return false;
  }
}

function cannotMake(d: string, e: unknown): DaqError {
  const err = e as NodeJS.ErrnoException;
  return new DaqError('DAQ_ERR_STORAGE_IO', `cannot create directory ${d}: ${err.message}`, { cause: e, details: { path: d, errno: err.code } });
}
