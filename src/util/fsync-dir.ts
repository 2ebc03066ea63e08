import fs from 'node:fs/promises';

/** fsyncs a directory, so that a rename or a new file in it survives a power cut. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
