import fs from 'node:fs';
import path from 'node:path';
import { DaqError } from '../errors.ts';
import { StorageSink } from '../storage/storage-sink.ts';
import type { RecoveryReport } from '../storage/storage-sink.ts';
import type { LogFn } from '../util/logger.ts';
import { h5ready, writeSegmentSync } from '../storage/hdf5/segment-writer.ts';

/**
 * `daq recover RUN_DIR`: takes the run's lock, removes half-written `*.tmp` segments, replays the
 * WAL after the last checkpoint into new segments, reports what it found (torn tail cut,
 * corruption with file and offset), and exits. `daq run` does the same when it opens an existing
 * run folder.
 */
export async function recoverRun(dir: string, log: LogFn): Promise<RecoveryReport> {
  const runJson = path.join(dir, 'run.json');
  if (!fs.existsSync(runJson)) {
    throw new DaqError('DAQ_ERR_RUN_NOT_FOUND', `${dir} is not a run folder (no run.json)`, { details: { file: runJson } });
  }
  const meta = JSON.parse(fs.readFileSync(runJson, 'utf8')) as { run_id: string; software: string; t0_unix_ns: string; config: unknown };
  // Nothing is being acquired: write segments on this thread (no worker to boot).
  await h5ready();
  const sink = new StorageSink({
    log,
    recordsStream: (meta.config as { merge?: { output?: string } })?.merge?.output ?? 'records',
    writeSegment: async (d, content) => writeSegmentSync(d, content),
  });
  await sink.open({ runId: meta.run_id, dir, t0UnixNs: BigInt(meta.t0_unix_ns), config: meta.config, software: meta.software });
  await sink.close();
  return sink.recovery!;
}
