import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeDirs, makeDirsSync } from '../../../src/util/make-dirs.ts';
import { isDaqError } from '../../../src/errors.ts';
import { tmpDir } from '../../helpers/tmp.ts';

let cleanup: (() => void) | undefined;
afterEach(() => cleanup?.());

describe('makeDirs (mkdir -p that ends)', () => {
  it('makes every missing directory, and is a no-op on an existing one', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const deep = path.join(t.dir, 'a', 'b', 'c');
    makeDirsSync(deep);
    expect(fs.statSync(deep).isDirectory()).toBe(true);
    makeDirsSync(deep);
    const other = path.join(t.dir, 'x', 'y');
    await makeDirs(other);
    await makeDirs(other);
    expect(fs.statSync(other).isDirectory()).toBe(true);
  });

  it('names the directory and the reason where Node’s recursive mkdir never returns (/proc) or a parent is a file', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    for (const make of [makeDirsSync, makeDirs]) {
      // Node 20: fs.mkdirSync('/proc/x/y', { recursive: true }) loops forever (mkdir under /proc says ENOENT).
      const proc = await Promise.resolve()
        .then(() => make('/proc/daq-no-such/run'))
        .then(() => null, (e: unknown) => e);
      expect(isDaqError(proc) && proc.code).toBe('DAQ_ERR_STORAGE_IO');
      expect((proc as Error).message).toContain('cannot create directory /proc/daq-no-such: ENOENT');
      const file = path.join(t.dir, 'f');
      fs.writeFileSync(file, '');
      const under = await Promise.resolve()
        .then(() => make(path.join(file, 'sub')))
        .then(() => null, (e: unknown) => e);
      expect((under as Error).message).toBe(`cannot create directory ${path.join(file, 'sub')}: ${file} is not a directory`);
    }
  });
});
