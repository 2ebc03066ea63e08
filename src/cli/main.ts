import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { DaqError } from '../errors.ts';
import path from 'node:path';
import { createLogger } from '../util/logger.ts';
import type { LogLevel } from '../util/logger.ts';
import type { RunFlags } from './run-command.ts';
import type { ExportFlags } from './export-command.ts';

const USAGE_CODES = new Set<string>(['DAQ_ERR_CONFIG_INVALID', 'DAQ_ERR_CONFIG_READ', 'DAQ_ERR_USAGE']);

function positiveNumber(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number, got "${v}"`);
  return n;
}

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`expected a port 0-65535, got "${v}"`);
  return n;
}

/** Entry point of the `daq` command. Exit codes: 0 ok, 1 runtime failure, 2 bad usage or config. */
export async function main(argv: string[]): Promise<void> {
  // exitOverride: commander's own usage errors (unknown command or option, a missing argument)
  // throw instead of exiting 1, so they exit 2 like every other bad command line (subcommands
  // inherit it).
  const program = new Command('daq').description('Data-acquisition daemon: instruments -> Arrow -> storage, merge, live view').showHelpAfterError().exitOverride();
  program
    .command('run')
    .description('acquire until SIGINT/SIGTERM (or --duration); with no --config, an embedded default with simulated instruments')
    .option('-c, --config <file>', 'YAML or JSON config file (see examples/daemon-config/daq.yaml)')
    .option('-o, --out <dir>', 'output folder; the run goes to <dir>/<run_id>/ (default ./data)')
    .option('-d, --duration <seconds>', 'stop after this many seconds', positiveNumber)
    .option('-p, --port <port>', 'HTTP port for /status and live view (default 7420)', port)
    .option('-q, --quiet', 'no status line')
    .option('--log-level <level>', 'debug | info | warn | error | silent')
    .option('--ack-log <file>', 'append "<stream>\\t<rows acknowledged>" per storage acknowledgment (crash testing)')
    .action(async (flags: RunFlags) => {
      // Commands load lazily: `daq run` never loads h5wasm on the acquisition thread.
      const { runCommand } = await import('./run-command.ts');
      process.exitCode = await runCommand(flags);
    });

  program
    .command('recover')
    .description('recover a crashed run folder: replay its WAL into HDF5 segments, cut a torn tail, report corruption')
    .argument('<run-dir>', 'the run folder (<out>/<run_id>)')
    .option('--log-level <level>', 'debug | info | warn | error | silent', 'info')
    .action(async (dir: string, flags: { logLevel: LogLevel }) => {
      const { log } = createLogger(flags.logLevel);
      const { recoverRun } = await import('./recover-command.ts');
      const report = await recoverRun(path.resolve(dir), log);
      process.stdout.write(`${JSON.stringify(report)}\n`);
      process.exitCode = report.corruption ? 1 : 0;
    });

  program
    .command('inspect')
    .description('what a run folder holds: counts, time span, channels, tags, sizes, segments, health')
    .argument('<run-dir>', 'the run folder')
    .option('--json', 'machine-readable output')
    .action(async (dir: string, flags: { json?: boolean }) => {
      const { inspectRun, formatSummary } = await import('./inspect-command.ts');
      const s = await inspectRun(path.resolve(dir));
      process.stdout.write(`${flags.json ? JSON.stringify(s) : formatSummary(s)}\n`);
    });

  program
    .command('export')
    .description('write a run (records with waveforms, scalar points) as Arrow IPC files, CSV or .npy columns into one folder')
    .argument('<run-dir>', 'the run folder')
    .option('-f, --format <format>', 'arrow | csv | npy')
    .option('--from <time>', 'window start from the run origin (inclusive): 1.5, 250ms, 20us, 100ns, 5ps')
    .option('--to <time>', 'window end from the run origin (exclusive)')
    .option('--tags <names...>', 'only these scalar tags (space- or comma-separated)')
    .option('--no-records', 'skip waveform records')
    .option('--no-scalars', 'skip scalar points')
    .option('-o, --out <dir>', 'output folder (default ./<run_id>.<format>)')
    .option('-q, --quiet', 'no progress on stderr')
    .action(async (dir: string, flags: ExportFlags) => {
      const { exportCommand } = await import('./export-command.ts');
      const summary = await exportCommand(dir, flags);
      process.stdout.write(`${JSON.stringify(summary)}\n`);
    });

  program
    .command('merge')
    .description('merge sorted part files (records + wave pool each) into one, written to a temporary name and renamed')
    .argument('<parts...>', 'HDF5 part files with /records/<field> and /wave_pool')
    .requiredOption('-o, --out <file>', 'output HDF5 file')
    .option('--chunk <records>', 'records read per part at a time (default: whole HDF5 chunks of the part, about 65536, within its share of --read-mib)', (v) => Number(v))
    .option('--read-mib <MiB>', 'part data (columns and samples) held at once, shared among the parts; sets the default read size', (v) => Number(v), 512)
    .action(async (parts: string[], flags: { out: string; chunk?: number; readMib: number }) => {
      const { mergeParts } = await import('../merge/offline-merge.ts');
      const tty = process.stderr.isTTY;
      const res = await mergeParts(parts, path.resolve(flags.out), {
        ...(flags.chunk !== undefined ? { chunkRecords: flags.chunk } : {}),
        maxReadBytes: flags.readMib * 1024 * 1024,
        onProgress: (p) => tty && process.stderr.write(`\r${p.records}/${p.total} records`),
      });
      if (tty) process.stderr.write('\n');
      process.stdout.write(`${JSON.stringify({ out: path.resolve(flags.out), ...res })}\n`);
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof DaqError) {
      process.stderr.write(`daq: ${err.code}: ${err.message}\n`);
      process.exitCode = USAGE_CODES.has(err.code) ? 2 : 1;
      return;
    }
    // Commander has printed what was wrong (or the help, or the version: exit code 0).
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    throw err;
  }
}
