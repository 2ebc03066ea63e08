import fs from 'node:fs';
import path from 'node:path';
import { DaqError } from '../errors.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A killed process not yet reaped by its parent (a zombie) still answers signal 0.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/**
 * Takes `<dir>/LOCK` (created exclusively, holding our pid). A lock left by a process that no
 * longer exists (a crash) is taken over; a live holder is DAQ_ERR_RUN_LOCKED. Returns release().
 */
export function acquireRunLock(dir: string): () => void {
  const file = path.join(dir, 'LOCK');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx');
      fs.writeSync(fd, `${process.pid}\n`);
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      return () => fs.rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
      if (Number.isFinite(pid) && pid !== process.pid && alive(pid)) {
        throw new DaqError('DAQ_ERR_RUN_LOCKED', `run folder ${dir} is locked by process ${pid} (${file}); stop it first`, { details: { file, pid } });
      }
      fs.rmSync(file, { force: true }); // stale: its owner is gone
    }
  }
  throw new DaqError('DAQ_ERR_RUN_LOCKED', `could not take the lock ${file}`, { details: { file } });
}
