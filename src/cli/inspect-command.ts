import fs from 'node:fs';
import path from 'node:path';
import { DaqError } from '../errors.ts';
import { openRun } from '../query/open-run.ts';
import { LossLog } from '../storage/loss-log.ts';
import { walSegments } from '../storage/wal/wal-reader.ts';

export interface RunSummary {
  dir: string;
  run_id: unknown;
  segments: number;
  bytes: number;
  records: { count: number; channels: number[]; t_min_ps: string | null; t_max_ps: string | null; samples: string };
  scalars: Array<{ stream: string; tags: number; points: number }>;
  health: { tmp_files: string[]; wal_segments: number; needs_recovery: boolean; losses: number; locked_by: number | null };
}

/** `daq inspect RUN`: what a run folder holds and whether it is healthy. */
export async function inspectRun(dir: string): Promise<RunSummary> {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new DaqError('DAQ_ERR_RUN_NOT_FOUND', `no run folder at ${path.resolve(dir)}`, { details: { dir } });
  }
  const files = fs.readdirSync(dir);
  const walN = walSegments(path.join(dir, 'wal')).length;
  const lock = files.includes('LOCK') ? Number.parseInt(fs.readFileSync(path.join(dir, 'LOCK'), 'utf8'), 10) : null;
  const run = await openRun(dir);
  try {
    const r = run.records;
    const c = r.columns;
    const n = r.length;
    return {
      dir,
      run_id: run.attrs['run_id'],
      segments: run.segmentPaths.length,
      // Segments and the waveform pool files they link (wave_pool-NNNNNN.<stream>.h5).
      bytes: files.filter((f) => /^(seg-\d{6}|wave_pool-\d{6}\..+)\.h5$/.test(f)).reduce((a, f) => a + fs.statSync(path.join(dir, f)).size, 0),
      records: {
        count: n,
        channels: [...new Set(c.channel)].sort((a, b) => a - b),
        t_min_ps: n ? c.timestamp[0]!.toString() : null,
        t_max_ps: n ? c.timestamp[n - 1]!.toString() : null,
        samples: n ? (c.wave_offset[n - 1]! + BigInt(c.event_length[n - 1]!)).toString() : '0',
      },
      scalars: run.scalarStreams().map((s) => ({ stream: s, tags: run.tags(s).id.length, points: run.readScalars(s).tag.length })),
      health: {
        tmp_files: files.filter((f) => f.endsWith('.tmp')),
        wal_segments: walN,
        needs_recovery: files.some((f) => f.endsWith('.tmp')) || (walN > 0 && lock !== null),
        losses: LossLog.read(dir).length,
        locked_by: lock,
      },
    };
  } finally {
    run.close();
  }
}

export function formatSummary(s: RunSummary): string {
  const ps = (v: string | null) => (v === null ? '-' : `${(Number(v) / 1e12).toFixed(6)} s`);
  return [
    `run ${String(s.run_id)} in ${s.dir}`,
    `  segments: ${s.segments} (${(s.bytes / 1e6).toFixed(1)} MB)`,
    `  records: ${s.records.count} events on channels [${s.records.channels.join(', ')}], ${s.records.samples} samples, timestamps ${ps(s.records.t_min_ps)} .. ${ps(s.records.t_max_ps)} from t0`,
    ...s.scalars.map((x) => `  scalars ${x.stream}: ${x.points} points, ${x.tags} tags`),
    `  health: ${s.health.needs_recovery ? 'NEEDS RECOVERY (run daq recover)' : 'ok'}; ${s.health.tmp_files.length} tmp files, ${s.health.wal_segments} WAL segments, ${s.health.losses} loss records${s.health.locked_by ? `, locked by pid ${s.health.locked_by}` : ''}`,
  ].join('\n');
}
