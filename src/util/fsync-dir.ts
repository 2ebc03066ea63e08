import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

/** fsyncs a directory, so that a rename or a new file in it survives a power cut. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsyncs a file or a directory by path, synchronously (for worker threads and close paths). */
export function fsyncPathSync(p: string): void {
  const fd = fsSync.openSync(p, 'r');
  try {
    fsSync.fsyncSync(fd);
  } finally {
    fsSync.closeSync(fd);
  }
}

/**
 * Makes a finished temporary file durable under its final name: fsync it, rename it over `final`,
 * fsync the folder (so the rename survives a power cut too). Readers never see a partial file.
 */
export function commitFileSync(tmp: string, final: string): void {
  fsyncPathSync(tmp);
  fsSync.renameSync(tmp, final);
  fsyncPathSync(path.dirname(final));
}

/** {@link commitFileSync} on the thread pool: the calling thread goes on while the disk syncs. */
export async function commitFile(tmp: string, final: string): Promise<void> {
  const fh = await fs.open(tmp, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, final);
  await fsyncDir(path.dirname(final));
}
