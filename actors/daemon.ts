import fs from 'node:fs/promises';
import path from 'node:path';
import { dispatch, start, stop as stopSystem } from 'nact';
import type { Ref } from 'nact';
import type { DaqConfig } from '../src/config/schema.ts';
import { Fanout } from '../src/pipeline/fanout.ts';
import type { SubscriberStats } from '../src/pipeline/fanout.ts';
import type { Processor, RunInfo, Sink } from '../src/pipeline/types.ts';
import type { StreamInfo } from '../src/schema/batch.ts';
import { BUILTIN_INSTRUMENTS } from '../src/instruments/index.ts';
import { ArrowIpcSink } from '../src/sinks/arrow-ipc-sink.ts';
import { StorageSink } from '../src/storage/storage-sink.ts';
import { optionsHash } from '../src/util/hash.ts';
import { newestRunId, newRunId } from '../src/pipeline/run-id.ts';
import type { LogFn } from '../src/util/logger.ts';
import { DaqError } from '../src/errors.ts';
import { spawnManager } from './manager/manager.actor.ts';
import type { ManagerCounters } from './manager/manager.actor.ts';
import type { ManagerMsg } from './manager/manager.protocol.ts';
import { spawnInstrument } from './instrument/instrument.actor.ts';
import type { InstrumentCounters, InstrumentMsg, InstrumentSource } from './instrument/instrument.protocol.ts';
import { spawnSink } from './sink/sink.actor.ts';
import type { SinkMsg } from './sink/sink.protocol.ts';
import { spawnProcessor } from './processor/processor.actor.ts';
import type { ProcessorCounters, ProcessorMsg } from './processor/processor.protocol.ts';
import { spawnLiveView } from './live-view/live-view.actor.ts';
import type { LiveTarget } from './live-view/live-view.protocol.ts';
import { FaultLog } from './supervision.ts';
import { LossLog, LossRecorder } from '../src/storage/loss-log.ts';
import { StreamingRecords } from '../src/merge/streaming-records.ts';
import { nativeKernel } from '../src/merge/native-kernel.ts';
import { AckCounter } from './sink/ack-counter.ts';
import { h5ready } from '../src/storage/hdf5/segment-writer.ts';
import { createConfigProcessors, loadInstrumentPlugins } from '../src/plugins/config-plugins.ts';
import type { LoadedInstrumentPlugin } from '../src/plugins/config-plugins.ts';
import type { InstrumentHostStats } from '../src/plugins/instrument-host.ts';
import { makeDirs } from '../src/util/make-dirs.ts';

export const SOFTWARE = 'daq 0.1.0';

/** `digitizer.*` style pattern to a RegExp (only `*` is special). */
function globRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

/** Replay instruments read their recording's streams synchronously: h5wasm must be ready, and a bad folder fails before the run starts. */
async function checkReplays(cfg: DaqConfig, where: string): Promise<void> {
  for (const [i, inst] of cfg.instruments.entries()) {
    if (!inst.enabled || inst.type !== 'replay') continue;
    await h5ready();
    try {
      BUILTIN_INSTRUMENTS['replay']!.streams(inst.options as never, inst.name);
    } catch (err) {
      const e = err as DaqError;
      throw new DaqError(e.code ?? 'DAQ_ERR_RUN_NOT_FOUND', `${where}: instruments[${i}].options.run: ${e.message}`, { cause: err, details: { ...e.details, file: where, field: `instruments[${i}].options.run` } });
    }
  }
}

export interface DaemonOptions {
  config: DaqConfig;
  /** Where the config came from (stored with the run). */
  configSource?: string;
  log: LogFn;
  /** Extra lossless sinks (tests, benchmarks), besides those named in the config. */
  extraSinks?: Sink[];
  /** Extra instrument sources (tests, benchmarks), besides those in the config. */
  extraSources?: InstrumentSource[];
  /** Extra processors (tests), besides those in the config. */
  extraProcessors?: Processor[];
  /** Lossy live targets (live hub, tests). */
  liveTargets?: Array<{ id: string; target: LiveTarget }>;
  /** Raw manager subscriptions (tests: e.g. a lossy subscriber that never acknowledges). */
  extraSubscribers?: Parameters<Fanout['subscribe']>[0][];
  /** Append every storage acknowledgment to this file (crash harnesses; see AckCounter). */
  ackLog?: string;
  /** Run clock origin, Unix ns (default: now). */
  t0UnixNs?: bigint;
}

export interface StreamRate {
  batches: number;
  rows: number;
  bytes: number;
  rows_per_s: number;
  mb_per_s: number;
}

/** The JSON of `GET /status` and the source of the status line. */
export interface DaemonStatus {
  run_id: string;
  dir: string;
  state: 'running' | 'stopping' | 'stopped' | 'failed';
  uptime_s: number;
  streams: Record<string, StreamRate>;
  subscribers: SubscriberStats[];
  instruments: Record<string, InstrumentCounters>;
  processors: Record<string, ProcessorCounters & Record<string, number>>;
  sinks: Record<string, Record<string, number>>;
  /** Rows each lossless sink has acknowledged (for storage: durable), per stream. */
  acked_rows: Record<string, Record<string, number>>;
  rejected_batches: Record<string, number>;
  /** Instrument plugins (`type: plugin`) by instance: restarts, faults by kind, rejected batches by stream and code. */
  plugins: Record<string, InstrumentHostStats>;
  faults: Record<string, number>;
  memory: { rss_mb: number; heap_used_mb: number; array_buffers_mb: number };
  error?: string;
}

/**
 * A running acquisition: a nact system with the manager, one actor per instrument, processor,
 * sink and live view. `stop()` stops the instruments, drains every lossless subscriber, flushes
 * processors, closes the sinks (fsync) and stops the actor system.
 */
export class Daemon {
  readonly run: RunInfo;
  private readonly system = start();
  private readonly fanout = new Fanout();
  private readonly counters: ManagerCounters = { rejectedBatches: new Map(), rejectedRows: new Map() };
  private readonly faults: FaultLog;
  private readonly losses: LossRecorder;
  private readonly manager: Ref<ManagerMsg>;
  private readonly instruments: Array<{ source: InstrumentSource; ref: Ref<InstrumentMsg>; counters: InstrumentCounters }> = [];
  private readonly processors: Array<{ proc: Processor; ref: Ref<ProcessorMsg>; counters: ProcessorCounters; stopTicks: () => void }> = [];
  private readonly sinks: Array<{ sink: Sink; ref: Ref<SinkMsg>; acked: AckCounter }> = [];
  private readonly startedAt = Date.now();
  private state: DaemonStatus['state'] = 'running';
  private fatalError: Error | null = null;
  private fatalListeners: Array<(err: Error) => void> = [];
  private lastRates = { at: Date.now(), streams: {} as Record<string, { rows: number; bytes: number }> };
  private rates: Record<string, { rows_per_s: number; mb_per_s: number }> = {};
  private stopping: Promise<void> | null = null;

  private constructor(
    private readonly opts: DaemonOptions,
    run: RunInfo,
    private readonly plugins: LoadedInstrumentPlugin[],
  ) {
    this.run = run;
    this.faults = new FaultLog(opts.log);
    // Data dropped by a fault (a rejected batch, a processor that threw, a late event the merge
    // rejected) is recorded in <run>/losses.jsonl: "no signal" stays distinguishable from "not recorded".
    this.losses = new LossRecorder(new LossLog(run.dir));
    this.faults.losses = this.losses;
    for (const { host } of plugins) host.onReject = (stream, code, message, sb) => this.losses.add({ stream, reason: 'rejected-batch', ...(sb ? { sb } : {}), detail: `${code}: ${message}` });
    this.manager = spawnManager(this.system, this.fanout, this.counters, this.faults);
  }

  /** Builds the run folder and every actor, then starts the instruments. */
  static async start(opts: DaemonOptions): Promise<Daemon> {
    const cfg = opts.config;
    const sessionStartUnixNs = opts.t0UnixNs ?? BigInt(Date.now()) * 1_000_000n;
    const continued = cfg.run.id === undefined && cfg.run.on_restart === 'continue' ? newestRunId(path.resolve(cfg.run.out)) : null;
    const runId = cfg.run.id ?? continued ?? newRunId();
    const dir = path.resolve(cfg.run.out, runId);
    // A run folder that already exists (continued, or named by run.id) keeps its clock origin, so
    // every session's timestamps count from the same t0 and go on rising.
    const t0UnixNs = (await runOrigin(dir)) ?? sessionStartUnixNs;
    // Plugins boot (and fail on a bad module) before the run folder exists.
    const where = opts.configSource ?? '(config)';
    const configProcessors = await createConfigProcessors(cfg, where);
    await checkReplays(cfg, where);
    const plugins = await loadInstrumentPlugins(cfg, where, t0UnixNs, opts.log, sessionStartUnixNs);
    let run: RunInfo;
    try {
      if (continued) opts.log('info', `continuing run ${runId} (run.on_restart: continue)`, { dir, t0_unix_ns: t0UnixNs.toString() });
      await makeDirs(dir);
      run = { runId, dir, t0UnixNs, sessionStartUnixNs, config: cfg, software: SOFTWARE };
    } catch (err) {
      await Promise.all(plugins.map(({ host }) => host.close()));
      throw err;
    }
    const d = new Daemon(opts, run, plugins);
    try {
      await d.build(configProcessors);
    } catch (err) {
      await d.abort();
      throw err;
    }
    return d;
  }

  private async build(configProcessors: Array<{ index: number; proc: Processor }>): Promise<void> {
    const cfg = this.opts.config;
    const sources: InstrumentSource[] = [];
    for (const [i, inst] of cfg.instruments.entries()) {
      if (!inst.enabled) continue;
      const plugin = this.plugins.find((p) => p.index === i);
      if (plugin) {
        const host = plugin.host;
        // The host restarts the plugin itself (with the configured backoff).
        sources.push({ name: inst.name, streams: host.streams, restartable: false, run: (signal) => host.run(signal) });
      } else sources.push(this.builtinSource(inst.name, inst.type, inst.options));
    }
    sources.push(...(this.opts.extraSources ?? []));

    const infos: StreamInfo[] = sources.flatMap((s) => s.streams);
    for (const info of infos) await this.registerStream(info);

    // The streaming merge of waveform streams comes first: other processors may use its output.
    const mergeInputs = new Set<string>();
    if (cfg.merge.enabled) {
      const patterns = cfg.merge.inputs.map(globRegExp);
      const inputs = this.fanout
        .streamInfos()
        .filter((i) => i.kind === 'waveform' && patterns.some((p) => p.test(i.name)))
        .map((i) => i.name);
      if (inputs.length > 0) {
        const merge = new StreamingRecords({
          inputs,
          output: cfg.merge.output,
          silenceTimeoutMs: cfg.merge.silence_timeout_ms,
          latePolicy: cfg.merge.late_policy,
          maxBufferedBytes: cfg.merge.max_buffered_mib * 1024 * 1024,
        });
        this.losses.addSource(() => merge.losses.splice(0).map((l) => ({ stream: l.stream, reason: l.reason, rows: l.rows, tMin: l.tMinPs, tMax: l.tMaxPs, unit: 'ps' as const, detail: 'late event rejected by the merge (merge.late_policy: reject)' })));
        await this.addProcessor(merge, cfg.merge.max_buffered_mib * 1024 * 1024);
        const native = nativeKernel();
        this.opts.log('info', `merge of ${inputs.length} waveform streams into "${cfg.merge.output}": ${native.addon ? 'native kernel' : `WebAssembly kernel (native kernel not used: ${native.why})`}`);
        if (!cfg.merge.store_inputs) for (const i of inputs) mergeInputs.add(i);
      }
    }
    const where = this.opts.configSource ?? '(config)';
    for (const { index, proc } of configProcessors) {
      try {
        await this.addProcessor(proc);
      } catch (err) {
        const e = err as DaqError;
        throw new DaqError(e.code ?? 'DAQ_ERR_INTERNAL', `${where}: processors[${index}]: ${e.message}`, { cause: err, details: { ...e.details, file: where, field: `processors[${index}]` } });
      }
    }
    for (const proc of this.opts.extraProcessors ?? []) await this.addProcessor(proc);

    const sinks: Sink[] = [];
    for (const kind of cfg.storage.sinks) {
      if (kind === 'arrow-ipc') sinks.push(new ArrowIpcSink());
      else if (kind === 'hdf5') {
        sinks.push(
          new StorageSink({
            epochS: cfg.storage.epoch_s,
            epochMiB: cfg.storage.epoch_mib,
            poolMiB: cfg.storage.pool_mib,
            writerThreads: cfg.storage.writer_threads,
            recordsStream: cfg.merge.output,
            wal: { segmentBytes: cfg.storage.wal.segment_mib * 1024 * 1024, groupCommitMs: cfg.storage.wal.group_commit_ms, durability: cfg.storage.wal.durability },
            log: this.opts.log,
          }),
        );
      }
    }
    sinks.push(...(this.opts.extraSinks ?? []));
    const maxInflightBytes = cfg.flow.lossless_max_inflight_mib * 1024 * 1024;
    for (const [i, sink] of sinks.entries()) {
      await sink.open(this.run);
      const id = `${sink.name}${i === 0 ? '' : `-${i}`}`;
      const acked = new AckCounter(i === 0 ? this.opts.ackLog : undefined);
      const ref = spawnSink(this.system, this.manager, sink, id, (err) => {
        // Detach the failed sink so producers held for it are released and the stop can proceed;
        // nothing after the failure is acknowledged by it.
        dispatch(this.manager, { type: 'unsubscribe', id });
        this.fail(err);
      }, acked);
      await this.subscribe({
        id,
        mode: 'lossless',
        streams: (info) => !mergeInputs.has(info.name),
        maxInflightBytes,
        onStream: (info) => dispatch(ref, { type: 'stream', info }),
        deliver: (sb, token) => dispatch(ref, { type: 'batch', sb, token }),
      });
      this.sinks.push({ sink, ref, acked });
    }

    for (const { id, target } of this.opts.liveTargets ?? []) {
      const ref = spawnLiveView(this.system, this.manager, target, id, this.faults);
      await this.subscribe({
        id,
        mode: 'lossy',
        streams: () => true,
        maxPendingBatches: cfg.flow.lossy_max_pending,
        onStream: (info) => dispatch(ref, { type: 'stream', info }),
        deliver: (sb, token) => dispatch(ref, { type: 'batch', sb, token }),
      });
    }

    for (const spec of this.opts.extraSubscribers ?? []) await this.subscribe(spec);

    // A continued run (same folder) keeps its first start and lists every session.
    const runJson = path.join(this.run.dir, 'run.json');
    const session = { started: new Date(this.startedAt).toISOString(), started_unix_ns: (this.run.sessionStartUnixNs ?? this.run.t0UnixNs).toString() };
    let previous: { started?: string; sessions?: unknown[] } = {};
    try {
      previous = JSON.parse(await fs.readFile(runJson, 'utf8')) as typeof previous;
    } catch {
      // a new run
    }
    const sessions = [...(Array.isArray(previous.sessions) ? previous.sessions : previous.started ? [{ started: previous.started }] : []), session];
    await fs.writeFile(
      runJson,
      JSON.stringify(
        {
          run_id: this.run.runId,
          software: SOFTWARE,
          t0_unix_ns: this.run.t0UnixNs.toString(),
          started: previous.started ?? session.started,
          sessions,
          config_source: this.opts.configSource ?? null,
          config: cfg,
          streams: this.fanout.streamInfos().map((s) => ({ name: s.name, kind: s.kind, lineage: s.lineage, fields: s.schema.fields.map((f) => `${f.name}:${String(f.type)}`) })),
        },
        null,
        2,
      ),
    );

    for (const source of sources) {
      const counters: InstrumentCounters = { batches: 0, rows: 0, rejected: 0, restarts: 0, blockedMs: 0, running: false };
      const ref = spawnInstrument(this.system, this.manager, source, this.faults, counters);
      this.instruments.push({ source, ref, counters });
      dispatch(ref, { type: 'start' });
    }
  }

  private async addProcessor(proc: Processor, maxInflightBytes?: number): Promise<void> {
    const inputs = proc.inputs.map((n) => {
      const info = this.fanout.streamInfo(n);
      if (!info) throw new DaqError('DAQ_ERR_STREAM_UNKNOWN', `processor "${proc.name}" needs stream "${n}", which no instrument emits`, { details: { stream: n } });
      return info;
    });
    for (const out of proc.outputs(inputs)) await this.registerStream(out);
    const counters: ProcessorCounters = { inBatches: 0, outBatches: 0, failures: 0 };
    const { ref, stopTicks } = spawnProcessor(this.system, this.manager, proc, proc.name, this.faults, counters);
    await this.subscribe({
      id: proc.name,
      mode: 'lossless',
      streams: [...proc.inputs],
      ...(maxInflightBytes !== undefined ? { maxInflightBytes } : {}),
      deliver: (sb, token) => dispatch(ref, { type: 'batch', sb, token }),
    });
    this.processors.push({ proc, ref, counters, stopTicks });
  }

  private builtinSource(name: string, type: string, options: Record<string, unknown>): InstrumentSource {
    const def = BUILTIN_INSTRUMENTS[type]!;
    const opts = options as never;
    const lineage = { plugin: def.name, version: def.version, optionsHash: optionsHash(options), inputs: [] };
    const streams = def.streams(opts, name).map((s) => ({ ...s, lineage }));
    const log = this.opts.log;
    const run = this.run;
    const seed = this.opts.config.run.seed;
    return {
      name,
      streams,
      restartable: false,
      run: (signal) => def.run(opts, { signal, t0UnixNs: run.t0UnixNs, sessionStartUnixNs: run.sessionStartUnixNs ?? run.t0UnixNs, seed, log }, name),
    };
  }

  private registerStream(info: StreamInfo): Promise<void> {
    return new Promise((resolve, reject) =>
      dispatch(this.manager, { type: 'register-stream', info, reply: (err) => (err ? reject(err) : resolve()) }),
    );
  }

  private subscribe(spec: Parameters<Fanout['subscribe']>[0]): Promise<StreamInfo[]> {
    return new Promise((resolve) => dispatch(this.manager, { type: 'subscribe', spec, reply: resolve }));
  }

  private whenDrained(): Promise<void> {
    return new Promise((resolve) => dispatch(this.manager, { type: 'when-drained', reply: resolve }));
  }

  /** Resolves with the fatal error if one happens (a sink write failed). */
  onFatal(cb: (err: Error) => void): void {
    if (this.fatalError) cb(this.fatalError);
    else this.fatalListeners.push(cb);
  }

  private fail(err: Error): void {
    if (this.fatalError) return;
    this.fatalError = err;
    this.state = 'failed';
    this.opts.log('error', `fatal: ${err.message}`, { code: (err as DaqError).code });
    for (const l of this.fatalListeners.splice(0)) l(err);
  }

  /**
   * Graceful stop: instruments stop (each finishes its current batch), every lossless subscriber
   * drains, processors flush, sinks close (fsync). Rejects with the fatal error if a sink failed.
   */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    if (this.state === 'running') this.state = 'stopping';
    await Promise.all(this.instruments.map(({ ref }) => new Promise<void>((r) => dispatch(ref, { type: 'stop', reply: r }))));
    // Every instrument batch is now delivered (an instrument's stop waits for its last batch to be
    // admitted, and admission is delivery): a flush sent now reaches each processor after all of
    // its input. Processors flush in order (the merge first), each publishing what it held before
    // it replies, so a later processor's flush also comes after its input. Only then wait for the
    // sinks: a processor that holds input (the merge holds the newest event of each input until
    // the input's watermark passes it, or the input ends) acks it only when flushed.
    for (const p of this.processors) {
      p.stopTicks();
      await new Promise<void>((r) => dispatch(p.ref, { type: 'flush', reply: r }));
    }
    if (!this.fatalError) await this.whenDrainedOrFatal();
    const errors: Error[] = [];
    for (const { ref, acked } of this.sinks) {
      const err = await new Promise<Error | null>((r) => dispatch(ref, { type: 'close', reply: r }));
      acked.close();
      if (err) errors.push(err);
    }
    await Promise.all(this.plugins.map(({ host }) => host.close()));
    this.losses.close();
    stopSystem(this.system);
    if (this.state !== 'failed') this.state = 'stopped';
    const err = this.fatalError ?? errors[0];
    if (err) throw err;
  }

  private whenDrainedOrFatal(): Promise<void> {
    return new Promise((resolve) => {
      this.whenDrained().then(resolve);
      this.onFatal(() => resolve());
    });
  }

  /** Tears down after a failed start. */
  private async abort(): Promise<void> {
    for (const p of this.processors) p.stopTicks();
    for (const { sink } of this.sinks) await sink.close().catch(() => undefined);
    await Promise.all(this.plugins.map(({ host }) => host.close()));
    stopSystem(this.system);
  }

  /** Recomputes per-stream rates; call about once a second. */
  tickRates(): void {
    const now = Date.now();
    const dt = Math.max(1, now - this.lastRates.at) / 1000;
    const cur = this.fanout.streamStats();
    const rates: typeof this.rates = {};
    for (const [name, s] of Object.entries(cur)) {
      const prev = this.lastRates.streams[name] ?? { rows: 0, bytes: 0 };
      rates[name] = { rows_per_s: (s.rows - prev.rows) / dt, mb_per_s: (s.bytes - prev.bytes) / dt / 1e6 };
    }
    this.rates = rates;
    this.lastRates = { at: now, streams: Object.fromEntries(Object.entries(cur).map(([k, v]) => [k, { rows: v.rows, bytes: v.bytes }])) };
  }

  /**
   * Rows of `stream` that sink `sink` has acknowledged so far: what `status().acked_rows` holds,
   * without building the whole status (benchmarks sample it every few milliseconds).
   */
  ackedRows(sink: string, stream: string): number {
    return this.sinks.find((s) => s.sink.name === sink)?.acked.rows.get(stream) ?? 0;
  }

  /** Starts every sink's latency quantiles afresh (benchmarks: after a warm-up). */
  resetStats(): void {
    for (const s of this.sinks) s.sink.resetStats?.();
  }

  status(): DaemonStatus {
    const streams: Record<string, StreamRate> = {};
    for (const [name, s] of Object.entries(this.fanout.streamStats())) {
      streams[name] = { ...s, rows_per_s: this.rates[name]?.rows_per_s ?? 0, mb_per_s: this.rates[name]?.mb_per_s ?? 0 };
    }
    const mem = process.memoryUsage();
    return {
      run_id: this.run.runId,
      dir: this.run.dir,
      state: this.state,
      uptime_s: (Date.now() - this.startedAt) / 1000,
      streams,
      subscribers: this.fanout.subscriberStats(),
      instruments: Object.fromEntries(
        this.instruments.map((i) => {
          const host = this.plugins.find((p) => p.host.name === i.source.name)?.host.stats();
          // A plugin's restarts happen inside its host; its rejected batches never reach the manager.
          return [i.source.name, host ? { ...i.counters, restarts: i.counters.restarts + host.restarts, rejected: i.counters.rejected + host.rejected } : { ...i.counters }];
        }),
      ),
      plugins: Object.fromEntries(this.plugins.map(({ host }) => [host.name, host.stats()])),
      processors: Object.fromEntries(this.processors.map((p) => [p.proc.name, { ...p.counters, ...(p.proc.stats?.() ?? {}) }])),
      sinks: Object.fromEntries(this.sinks.map(({ sink }) => [sink.name, sink.stats?.() ?? {}])),
      acked_rows: Object.fromEntries(this.sinks.map(({ sink, acked }) => [sink.name, acked.snapshot()])),
      rejected_batches: Object.fromEntries(this.counters.rejectedBatches),
      faults: this.faults.snapshot(),
      memory: { rss_mb: mem.rss / 1048576, heap_used_mb: mem.heapUsed / 1048576, array_buffers_mb: mem.arrayBuffers / 1048576 },
      ...(this.fatalError ? { error: this.fatalError.message } : {}),
    };
  }
}

/** `t0_unix_ns` of an existing run folder's run.json, or null for a new folder (or no origin). */
async function runOrigin(dir: string): Promise<bigint | null> {
  let text: string;
  try {
    text = await fs.readFile(path.join(dir, 'run.json'), 'utf8');
  } catch {
    return null;
  }
  try {
    const t0 = (JSON.parse(text) as { t0_unix_ns?: unknown }).t0_unix_ns;
    return typeof t0 === 'string' && /^-?\d+$/.test(t0) ? BigInt(t0) : null;
  } catch {
    throw new DaqError('DAQ_ERR_CONFIG_INVALID', `cannot continue run ${dir}: ${path.join(dir, 'run.json')} is not valid JSON (repair or move it, or start a new run)`, { details: { file: path.join(dir, 'run.json') } });
  }
}
