import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DaqError, isDaqError } from '../errors.ts';
import type { StreamBatch, StreamInfo } from '../schema/batch.ts';
import { validateBatch } from '../schema/validate.ts';
import { optionsHash } from '../util/hash.ts';
import type { LogFn } from '../util/logger.ts';
import { backoffDelayMs, DEFAULT_BACKOFF, sleep } from './backoff.ts';
import type { BackoffOptions } from './backoff.ts';
import { PluginSession } from './plugin-session.ts';
import type { PluginFaultKind, ReadyMsg, SessionTimers } from './plugin-session.ts';
import { decodeBatch, decodeSchema } from './wire.ts';
import type { WorkerToHost } from './wire.ts';

export interface InstrumentHostOptions {
  /** Plugin module: a path (relative to the working directory) or a file: URL. */
  module: string;
  /** Instance name from the config (prefixes its streams by convention). */
  instance: string;
  /** The raw options block; validated by the plugin's own zod schema inside the worker. */
  options: unknown;
  t0UnixNs: bigint;
  /** This session's start (Unix ns; default `t0UnixNs`). */
  sessionStartUnixNs?: bigint;
  seed: number;
  log?: LogFn;
  /** Batches the plugin may produce ahead of the consumer (default 4). */
  credits?: number;
  /** Default 15000: import + validation + streams() must finish within this. */
  bootTimeoutMs?: number;
  /** Default 250. */
  pingIntervalMs?: number;
  /** Default 3000: a worker silent this long is terminated (fault `unresponsive`). */
  pingTimeoutMs?: number;
  /** Default 0 (off): holding credit without producing for this long is a fault (`stalled`). */
  stallTimeoutMs?: number;
  /** Default 5000: after stop, run() has this long to return before the worker is terminated. */
  stopTimeoutMs?: number;
  backoff?: Partial<BackoffOptions>;
  /** Consecutive failed restarts before run() gives up with DAQ_ERR_PLUGIN_CRASHED (default: never). */
  maxRestarts?: number;
}

/** Counters of one host, for /status and /metrics. */
export interface InstrumentHostStats {
  batches: number;
  rows: number;
  rejected: number;
  /** Rejected batches by `<stream>:<error code>`. */
  rejectedByKind: Record<string, number>;
  restarts: number;
  faults: Record<PluginFaultKind, number>;
  /** Delay before the latest restart, ms. */
  lastBackoffMs: number;
  running: boolean;
}

const FAULT_KINDS: PluginFaultKind[] = ['start', 'throw', 'unresponsive', 'stalled', 'uncaught', 'exit', 'boot'];

/**
 * Runs an instrument plugin module in a worker thread, so a busy loop, a crash or a bad batch in
 * it cannot freeze or kill the daemon. `InstrumentHost.load()` boots it once to validate the
 * module's default export and its options (DAQ_ERR_PLUGIN_LOAD / DAQ_ERR_PLUGIN_INVALID) and to
 * learn its streams; `run(signal)` yields its batches, each validated against its declared
 * stream (bad ones are rejected, counted and logged once per kind), with credit-based flow
 * control: the plugin's `run()` is pulled only while the consumer keeps up. A plugin that throws,
 * rejects, exits or stops answering pings is terminated and restarted with backoff.
 *
 * @example
 * const host = await InstrumentHost.load({ module: './my-meter.ts', instance: 'meter', options: {}, t0UnixNs, seed: 1 });
 * for await (const sb of host.run(signal)) publish(sb);
 */
export class InstrumentHost {
  /** Streams with lineage (plugin name, version, options hash). */
  readonly streams: StreamInfo[];
  readonly name: string;
  readonly plugin: { name: string; version: string };
  private readonly byName: Map<string, StreamInfo>;
  private readonly credits: number;
  private readonly timers: SessionTimers;
  private readonly backoff: BackoffOptions;
  private readonly log: LogFn;
  private session: PluginSession | null;
  private readonly counters: InstrumentHostStats;
  private readonly loggedKinds = new Set<string>();
  private queue: StreamBatch[] = [];
  private wake: (() => void) | null = null;

  private constructor(
    private readonly opts: InstrumentHostOptions,
    private readonly modulePath: string,
    first: PluginSession,
    ready: ReadyMsg,
    timers: SessionTimers,
  ) {
    this.session = first;
    this.timers = timers;
    this.name = opts.instance;
    this.credits = opts.credits ?? 4;
    this.backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
    this.log = opts.log ?? (() => {});
    this.plugin = { name: ready.name, version: ready.version };
    const lineage = { plugin: ready.name, version: ready.version, optionsHash: optionsHash(ready.options), inputs: [] };
    this.streams = ready.streams.map(({ schemaIpc, ...rest }) => ({ ...rest, schema: decodeSchema(schemaIpc), lineage }));
    this.byName = new Map(this.streams.map((s) => [s.name, s]));
    this.counters = {
      batches: 0,
      rows: 0,
      rejected: 0,
      rejectedByKind: {},
      restarts: 0,
      faults: Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<PluginFaultKind, number>,
      lastBackoffMs: 0,
      running: false,
    };
  }

  /** Boots the plugin in a worker and validates it; rejects with a DaqError naming the module and the problem. */
  static async load(opts: InstrumentHostOptions): Promise<InstrumentHost> {
    const modulePath = opts.module.startsWith('file:') ? fileURLToPath(opts.module) : path.resolve(opts.module);
    if (!fs.existsSync(modulePath)) {
      throw new DaqError('DAQ_ERR_PLUGIN_LOAD', `plugin module not found: ${modulePath} (instance "${opts.instance}")`, { details: { module: modulePath } });
    }
    const timers: SessionTimers = {
      bootTimeoutMs: opts.bootTimeoutMs ?? 15_000,
      pingIntervalMs: opts.pingIntervalMs ?? 250,
      pingTimeoutMs: opts.pingTimeoutMs ?? 3000,
      stallTimeoutMs: opts.stallTimeoutMs ?? 0,
      stopTimeoutMs: opts.stopTimeoutMs ?? 5000,
    };
    let host: InstrumentHost | null = null;
    const session = InstrumentHost.spawn(opts, modulePath, timers, (m) => host?.onMessage(m));
    try {
      const ready = await session.ready;
      host = new InstrumentHost(opts, modulePath, session, ready, timers);
      return host;
    } catch (err) {
      await session.terminate();
      throw err;
    }
  }

  private static spawn(opts: InstrumentHostOptions, modulePath: string, timers: SessionTimers, onMessage: (m: WorkerToHost) => void): PluginSession {
    const workerData = {
      moduleHref: pathToFileURL(modulePath).href,
      modulePath,
      instance: opts.instance,
      options: opts.options,
      t0UnixNs: opts.t0UnixNs,
      sessionStartUnixNs: opts.sessionStartUnixNs ?? opts.t0UnixNs,
      seed: opts.seed,
    };
    return new PluginSession(workerData, timers, onMessage, modulePath);
  }

  stats(): InstrumentHostStats {
    return { ...this.counters, rejectedByKind: { ...this.counters.rejectedByKind }, faults: { ...this.counters.faults } };
  }

  /**
   * Yields the plugin's validated batches until `signal` aborts (the plugin's own signal aborts,
   * it finishes its batch and returns) or its run() ends. Restarts it after faults; throws
   * DAQ_ERR_PLUGIN_CRASHED only once `maxRestarts` consecutive restarts have failed.
   */
  async *run(signal: AbortSignal): AsyncGenerator<StreamBatch> {
    const state = { ended: false, failure: null as Error | null };
    const onAbort = () => {
      this.session?.stop();
      this.notify();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const supervisor = this.supervise(signal, state).catch((err: Error) => {
      state.failure = err;
      state.ended = true;
      this.notify();
    });
    this.counters.running = true;
    try {
      for (;;) {
        const sb = this.queue.shift();
        if (sb) {
          this.session?.grant(1);
          yield sb;
          continue;
        }
        if (state.ended) break;
        await new Promise<void>((r) => (this.wake = r));
        this.wake = null;
      }
      await supervisor;
      if (state.failure) throw state.failure;
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.counters.running = false;
      state.ended = true;
      await this.session?.terminate();
      this.session = null;
      this.queue = [];
    }
  }

  /** Terminates the worker (when run() was never called or was abandoned). */
  async close(): Promise<void> {
    await this.session?.terminate();
    this.session = null;
  }

  private notify(): void {
    this.wake?.();
  }

  private async supervise(signal: AbortSignal, state: { ended: boolean }): Promise<void> {
    let consecutive = 0;
    for (;;) {
      let session = this.session;
      if (!session) {
        session = InstrumentHost.spawn(this.opts, this.modulePath, this.timers, (m) => this.onMessage(m));
        this.session = session;
      }
      const ok = await session.ready.then(
        () => true,
        () => false,
      );
      if (ok && !state.ended) {
        session.start(Math.max(0, this.credits - this.queue.length));
        if (signal.aborted) session.stop();
      }
      const outcome = await session.outcome;
      if (outcome.type === 'done' || state.ended) break;
      this.counters.faults[outcome.kind]++;
      this.log('warn', `plugin ${this.plugin.name} (instance "${this.name}") failed (${outcome.kind}): ${outcome.message}`, {
        code: 'DAQ_ERR_PLUGIN_CRASHED',
        module: this.modulePath,
        kind: outcome.kind,
      });
      await session.terminate();
      this.session = null;
      if (signal.aborted) break;
      consecutive = session.delivered > 0 ? 1 : consecutive + 1;
      if (this.opts.maxRestarts !== undefined && consecutive > this.opts.maxRestarts) {
        throw new DaqError('DAQ_ERR_PLUGIN_CRASHED', `plugin ${this.plugin.name} (${this.modulePath}) failed ${consecutive} times in a row (${outcome.kind}: ${outcome.message}); giving up`, {
          details: { module: this.modulePath, kind: outcome.kind },
        });
      }
      const delay = backoffDelayMs(consecutive, this.backoff);
      this.counters.lastBackoffMs = delay;
      if (!(await sleep(delay, signal))) break;
      this.counters.restarts++;
    }
    state.ended = true;
    this.notify();
  }

  private onMessage(m: WorkerToHost): void {
    if (m.type === 'log') return this.log(m.level, `[${this.name}] ${m.msg}`, m.extra);
    if (m.type === 'bad-batch') return this.reject(m.stream, 'DAQ_ERR_BATCH_INVALID', m.message);
    if (m.type !== 'batch') return;
    const info = this.byName.get(m.stream);
    let sb: StreamBatch | undefined;
    try {
      if (!info) {
        throw new DaqError('DAQ_ERR_STREAM_UNKNOWN', `plugin ${this.plugin.name} emitted a batch for stream "${m.stream}", which it did not declare (declared: ${[...this.byName.keys()].join(', ')})`);
      }
      const batch = decodeBatch(m.ipc);
      if (!batch) throw new DaqError('DAQ_ERR_BATCH_INVALID', `stream "${m.stream}": batch message holds no record batch`);
      sb = (m.kind === 'waveform' ? { kind: 'waveform', stream: m.stream, batch, samples: m.samples } : { kind: m.kind, stream: m.stream, batch }) as StreamBatch;
      validateBatch(info, sb);
      this.counters.batches++;
      this.counters.rows += batch.numRows;
      if (this.session) this.session.delivered++;
      this.queue.push(sb);
      this.notify();
    } catch (err) {
      this.reject(m.stream, isDaqError(err) ? err.code : 'DAQ_ERR_BATCH_INVALID', (err as Error).message, sb);
    }
  }

  /** Called for every rejected batch (the daemon records it in the run's loss log). */
  onReject: ((stream: string, code: string, message: string, sb?: StreamBatch) => void) | null = null;

  /** Counts a rejected batch, logs the first of each kind, and returns its credit. */
  private reject(stream: string, code: string, message: string, sb?: StreamBatch): void {
    this.onReject?.(stream, code, message, sb);
    const kind = `${stream}:${code}`;
    this.counters.rejected++;
    this.counters.rejectedByKind[kind] = (this.counters.rejectedByKind[kind] ?? 0) + 1;
    if (!this.loggedKinds.has(kind)) {
      this.loggedKinds.add(kind);
      this.log('warn', `plugin ${this.plugin.name} (instance "${this.name}"): batch rejected: ${message} (further ${kind} rejections are only counted)`, { code, stream });
    }
    this.session?.grant(1);
  }
}
