import fs from 'node:fs';
import path from 'node:path';
import { DaqError } from '../errors.ts';
import type { RunInfo } from '../pipeline/types.ts';
import { StorageSink } from './storage-sink.ts';
import type { RecoveryReport, StorageSinkOptions } from './storage-sink.ts';

/** Options of {@link recoverRun}: the sink's, plus run facts when `run.json` is missing. */
export interface RecoverRunOptions extends StorageSinkOptions {
  /** Overrides (or, without `run.json`, supplies) the run's identity; `t0UnixNs` is then required. */
  run?: Partial<Omit<RunInfo, 'dir'>>;
}

/** What `daq recover DIR` did. */
export interface RecoverRunResult {
  run: RunInfo;
  recovery: RecoveryReport;
  stats: Record<string, number>;
}

/**
 * Recovers a crashed run folder and exits: takes the run lock, removes `*.h5.tmp`, replays the
 * WAL after its last checkpoint into new segments, then closes (which deletes the replayed WAL).
 * Run identity (run id, t0, config, software) comes from `<dir>/run.json` written by the daemon,
 * overridable by `opts.run`. A live daemon holding the folder is DAQ_ERR_RUN_LOCKED; corruption
 * before the tail is reported in `recovery.corruption` (the bad part moved aside as `*.corrupt`).
 */
export async function recoverRun(dir: string, opts: RecoverRunOptions = {}): Promise<RecoverRunResult> {
  if (!fs.existsSync(path.join(dir, 'wal')) && !fs.existsSync(path.join(dir, 'run.json'))) {
    throw new DaqError('DAQ_ERR_RUN_NOT_FOUND', `${dir} is not a run folder: expected ${path.join(dir, 'wal')}/ or run.json, found neither`, { details: { dir } });
  }
  const run = runInfo(dir, opts.run ?? {});
  const { run: _ignored, ...sinkOpts } = opts;
  // The primary records stream is the merge output named in the run's config unless given.
  const recordsStream = opts.recordsStream ?? (run.config as { merge?: { output?: string } } | null)?.merge?.output;
  const sink = new StorageSink({ ...sinkOpts, ...(recordsStream ? { recordsStream } : {}) });
  await sink.open(run);
  const recovery = sink.recovery!;
  await sink.close();
  return { run, recovery, stats: sink.stats() };
}

function runInfo(dir: string, over: Partial<Omit<RunInfo, 'dir'>>): RunInfo {
  const file = path.join(dir, 'run.json');
  let meta: { run_id?: string; t0_unix_ns?: string; software?: string; config?: unknown } = {};
  if (fs.existsSync(file)) {
    try {
      meta = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof meta;
    } catch (err) {
      throw new DaqError('DAQ_ERR_RUN_NOT_FOUND', `${file} is not valid JSON: ${(err as Error).message}`, { cause: err, details: { file } });
    }
  }
  const t0 = over.t0UnixNs ?? (meta.t0_unix_ns !== undefined ? BigInt(meta.t0_unix_ns) : undefined);
  if (t0 === undefined) {
    throw new DaqError('DAQ_ERR_RUN_NOT_FOUND', `cannot recover ${dir}: expected run.json with t0_unix_ns (or an explicit t0), found none`, { details: { dir } });
  }
  return {
    runId: over.runId ?? meta.run_id ?? path.basename(dir),
    dir,
    t0UnixNs: t0,
    config: over.config ?? meta.config ?? null,
    software: over.software ?? meta.software ?? 'daq recover',
  };
}
