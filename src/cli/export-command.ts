import path from 'node:path';
import { DaqError } from '../errors.ts';
import { openRun } from '../query/open-run.ts';
import { exportRun } from '../query/export-run.ts';
import type { RunExportProgress, RunExportSummary } from '../query/export-run.ts';
import type { ExportFormat } from '../query/export.ts';

export interface ExportFlags {
  format?: string;
  from?: string;
  to?: string;
  tags?: string[];
  out?: string;
  quiet?: boolean;
  records?: boolean;
  scalars?: boolean;
}

const FORMATS = ['arrow', 'csv', 'npy'] as const;
const UNIT_PS: Record<string, bigint> = { s: 10n ** 12n, ms: 10n ** 9n, us: 10n ** 6n, ns: 1000n, ps: 1n };

/**
 * A time from the run's clock origin: a decimal number with an optional unit (`s` default, `ms`,
 * `us`, `ns`, `ps`), e.g. `1.5`, `250ms`, `-10us`. Returns ps, exactly (no float rounding).
 */
export function parseRunTime(flag: string, text: string): bigint {
  const m = /^([+-]?)(\d+)(?:\.(\d+))?\s*(s|ms|us|ns|ps)?$/.exec(text.trim());
  if (!m) throw new DaqError('DAQ_ERR_USAGE', `${flag}: expected a time from the run start like 1.5, 250ms, 20us, 1000ns or 5ps; got "${text}"`, { details: { flag, value: text } });
  const unit = UNIT_PS[m[4] ?? 's']!;
  const frac = m[3] ?? '';
  const scale = 10n ** BigInt(frac.length);
  const num = BigInt(m[2]!) * scale + BigInt(frac || '0');
  if ((num * unit) % scale !== 0n) throw new DaqError('DAQ_ERR_USAGE', `${flag}: "${text}" is finer than 1 ps`, { details: { flag, value: text } });
  const ps = (num * unit) / scale;
  if (ps >= 2n ** 63n) throw new DaqError('DAQ_ERR_USAGE', `${flag}: "${text}" is out of range`, { details: { flag, value: text } });
  return m[1] === '-' ? -ps : ps;
}

/** Progress on stderr: at most one line per `intervalMs` per part, and each part's last line. */
export function progressPrinter(write: (line: string) => void, intervalMs = 250): (p: RunExportProgress) => void {
  let last = 0;
  return (p) => {
    const now = Date.now();
    const done = p.rows === p.total;
    if (!done && now - last < intervalMs) return;
    last = now;
    const pct = p.total === 0 ? 100 : (100 * p.rows) / p.total;
    write(`export ${p.part}: ${pct.toFixed(1)}% (${p.rows}/${p.total} rows)\n`);
  };
}

/** `daq export RUN --format arrow|csv|npy [--from T] [--to T] [--tags ...] [--out DIR]`. */
export async function exportCommand(runDir: string, flags: ExportFlags): Promise<RunExportSummary> {
  const format = flags.format;
  if (format === undefined) throw new DaqError('DAQ_ERR_USAGE', `--format is required: one of ${FORMATS.join(', ')}`);
  if (!(FORMATS as readonly string[]).includes(format)) throw new DaqError('DAQ_ERR_USAGE', `--format: expected one of ${FORMATS.join(', ')}, got "${format}"`, { details: { format } });
  const fromPs = flags.from === undefined ? undefined : parseRunTime('--from', flags.from);
  const toPs = flags.to === undefined ? undefined : parseRunTime('--to', flags.to);
  if (fromPs !== undefined && toPs !== undefined && fromPs > toPs) {
    throw new DaqError('DAQ_ERR_USAGE', `--from (${flags.from}) is after --to (${flags.to})`, { details: { from: flags.from, to: flags.to } });
  }
  const tags = flags.tags?.flatMap((t) => t.split(',')).map((t) => t.trim()).filter((t) => t !== '');
  if (flags.tags && (!tags || tags.length === 0)) throw new DaqError('DAQ_ERR_USAGE', '--tags: expected at least one tag name');
  if (flags.records === false && flags.scalars === false) throw new DaqError('DAQ_ERR_USAGE', '--no-records and --no-scalars together leave nothing to export');
  const dir = path.resolve(runDir);
  const run = await openRun(dir);
  try {
    const out = path.resolve(flags.out ?? `${path.basename(dir)}.${format}`);
    return await exportRun(run, {
      format: format as ExportFormat,
      out,
      fromPs,
      toPs,
      tags,
      records: flags.records,
      scalars: flags.scalars,
      onProgress: flags.quiet ? undefined : progressPrinter((l) => process.stderr.write(l)),
    });
  } finally {
    run.close();
  }
}
