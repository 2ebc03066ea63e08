import { recoverRun as recoverRunFolder } from '../storage/recover-run.ts';
import type { RecoveryReport } from '../storage/storage-sink.ts';
import type { LogFn } from '../util/logger.ts';
import { h5ready, writeSegmentSync } from '../storage/hdf5/segment-writer.ts';

/**
 * `daq recover RUN_DIR`: takes the run's lock, removes half-written `*.tmp` segments, replays the
 * WAL after the last checkpoint into new segments, reports what it found (torn tail cut,
 * corruption with file and offset), and exits. `daq run` does the same when it opens an existing
 * run folder. Nothing is being acquired, so segments are written on this thread (no worker).
 */
export async function recoverRun(dir: string, log: LogFn): Promise<RecoveryReport> {
  await h5ready();
  const { recovery } = await recoverRunFolder(dir, { log, writeSegment: async (d, content) => writeSegmentSync(d, content) });
  return recovery;
}
