import { loadConfig } from '../config/load.ts';
import { createLogger } from '../util/logger.ts';
import type { LogLevel } from '../util/logger.ts';
import { Daemon } from '../../actors/daemon.ts';
import { statusLine } from './status-line.ts';
import { ConfigError } from '../errors.ts';
import { LiveHub } from '../live/live-hub.ts';
import { isLoopback, startServer } from '../live/server.ts';
import type { LiveServer } from '../live/server.ts';
import { createMetrics } from '../metrics/prometheus.ts';

export interface RunFlags {
  config?: string;
  out?: string;
  duration?: number;
  quiet?: boolean;
  port?: number;
  logLevel?: LogLevel;
  ackLog?: string;
}

/**
 * `daq run`: validates the config before anything starts, runs until SIGINT/SIGTERM or
 * `--duration`, then stops gracefully (instruments stop, queues drain, files close). Returns the
 * exit code: 0 after a clean stop, 1 after a fatal storage error.
 */
export async function runCommand(flags: RunFlags): Promise<number> {
  const { config, source } = loadConfig(flags.config);
  if (flags.out) config.run.out = flags.out;
  if (flags.duration !== undefined) config.run.duration_s = flags.duration;
  if (flags.port !== undefined) config.http.port = flags.port;
  const { log } = createLogger(flags.logLevel ?? config.log.level);

  // Refuse a public bind without a token before anything starts.
  if (config.http.enabled && !isLoopback(config.http.host) && !config.http.token) {
    throw new ConfigError(`${source}: http.token: required when http.host ("${config.http.host}") is beyond loopback`, { details: { file: source, field: 'http.token' } });
  }
  const hub = new LiveHub();
  const daemon = await Daemon.start({ config, configSource: source, log, ackLog: flags.ackLog, liveTargets: config.http.enabled ? [{ id: 'live', target: hub }] : [] });
  let server: LiveServer | null = null;
  if (config.http.enabled) {
    const metrics = createMetrics(() => daemon.status());
    try {
      server = await startServer({
        host: config.http.host,
        port: config.http.port,
        ...(config.http.token ? { token: config.http.token } : {}),
        hub,
        status: () => ({ ...daemon.status(), live: { ...server?.stats(), ...hub.stats() } }),
        metrics: metrics.text,
      });
    } catch (err) {
      await daemon.stop().catch(() => undefined);
      throw err;
    }
  }
  log('info', `run ${daemon.run.runId} started`, { dir: daemon.run.dir, config: source, ...(server ? { url: server.url } : {}) });

  const tty = process.stderr.isTTY && !flags.quiet;
  const ticker = setInterval(() => {
    daemon.tickRates();
    if (tty) process.stderr.write(`\r\x1b[2K${statusLine(daemon.status())}`);
  }, 1000);

  let exitCode = 0;
  await new Promise<void>((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      log('info', `${sig}: stopping`);
      resolve();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    if (config.run.duration_s !== undefined) setTimeout(resolve, config.run.duration_s * 1000).unref();
    daemon.onFatal(() => {
      exitCode = 1;
      resolve();
    });
  });

  try {
    await daemon.stop();
  } catch (err) {
    log('error', `stopped with error: ${(err as Error).message}`);
    exitCode = 1;
  }
  clearInterval(ticker);
  await server?.close();
  daemon.tickRates();
  if (tty) process.stderr.write(`\r\x1b[2K${statusLine(daemon.status())}\n`);
  const s = daemon.status();
  const rows = Object.values(s.streams).reduce((a, r) => a + r.rows, 0);
  log('info', `run ${daemon.run.runId} ${exitCode === 0 ? 'finished' : 'failed'}: ${rows} rows in ${Object.keys(s.streams).length} streams`, { dir: daemon.run.dir });
  // The run folder on stdout, so scripts can pick it up.
  process.stdout.write(`${daemon.run.dir}\n`);
  return exitCode;
}
