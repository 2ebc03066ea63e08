import type { Worker } from 'node:worker_threads';
import { DaqError } from '../errors.ts';
import { startWorker } from '../util/worker.ts';
import type { HostToWorker, WorkerToHost } from './wire.ts';

/** Why a plugin worker was stopped and restarted. */
export type PluginFaultKind =
  /** run() threw or rejected before its first batch. */
  | 'start'
  /** run() threw or rejected after yielding batches. */
  | 'throw'
  /** The worker's event loop stopped answering pings (busy loop, blocking call). */
  | 'unresponsive'
  /** It held credit but produced nothing for `stallTimeoutMs`. */
  | 'stalled'
  /** An uncaught exception in the worker (e.g. thrown from a timer callback). */
  | 'uncaught'
  /** The worker exited without finishing. */
  | 'exit'
  /** A restart failed to boot (import, validation, or boot timeout). */
  | 'boot';

export type SessionOutcome = { type: 'done' } | { type: 'fault'; kind: PluginFaultKind; message: string };

export interface SessionTimers {
  bootTimeoutMs: number;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  /** 0 = off. */
  stallTimeoutMs: number;
  stopTimeoutMs: number;
}

export type ReadyMsg = Extract<WorkerToHost, { type: 'ready' }>;

/**
 * One plugin worker from boot to end: boot handshake, start with credits, ping and stall
 * watchdogs, and a single outcome (done, or a fault). Batches and logs go to `onMessage`.
 */
export class PluginSession {
  private readonly worker: Worker;
  private readyResolve!: (m: ReadyMsg) => void;
  private readyReject!: (e: Error) => void;
  readonly ready: Promise<ReadyMsg>;
  private outcomeResolve!: (o: SessionOutcome) => void;
  readonly outcome: Promise<SessionOutcome>;
  private settled = false;
  private started = false;
  private pingSeq = 0;
  private lastPongMs = Date.now();
  private lastProgressMs = Date.now();
  private credits = 0;
  private pingTimer: NodeJS.Timeout | null = null;
  private bootTimer: NodeJS.Timeout | null = null;
  private stopTimer: NodeJS.Timeout | null = null;
  /** Valid batches delivered by this session (set by the host). */
  delivered = 0;

  constructor(
    workerData: Record<string, unknown>,
    private readonly timers: SessionTimers,
    private readonly onMessage: (m: WorkerToHost) => void,
    private readonly where: string,
  ) {
    this.ready = new Promise((res, rej) => {
      this.readyResolve = res;
      this.readyReject = rej;
    });
    this.ready.catch(() => {});
    this.outcome = new Promise((res) => (this.outcomeResolve = res));
    this.worker = startWorker(new URL('./instrument-worker.ts', import.meta.url), { workerData, stdout: false, stderr: false });
    this.worker.on('message', (m: WorkerToHost) => this.handle(m));
    this.worker.on('error', (err) => this.fail('uncaught', `uncaught exception in plugin worker: ${err.message}`));
    this.worker.on('exit', (code) => this.fail('exit', `plugin worker exited with code ${code}`));
    this.bootTimer = setTimeout(
      () => this.fail('boot', `plugin module ${where} did not finish loading within ${timers.bootTimeoutMs} ms`),
      timers.bootTimeoutMs,
    );
  }

  /** Starts run() with `credits` batches of allowance; arms the watchdogs. */
  start(credits: number): void {
    this.started = true;
    this.credits = credits;
    this.lastPongMs = this.lastProgressMs = Date.now();
    this.post({ type: 'start', credits });
    this.pingTimer = setInterval(() => this.watch(), this.timers.pingIntervalMs);
  }

  grant(n: number): void {
    if (this.settled) return;
    if (this.credits === 0) this.lastProgressMs = Date.now();
    this.credits += n;
    this.post({ type: 'credit', n });
  }

  /** Asks run() to return (its signal aborts); terminates the worker if it does not within the stop timeout. */
  stop(): void {
    if (this.settled || this.stopTimer) return;
    this.post({ type: 'stop' });
    this.stopTimer = setTimeout(() => this.finish({ type: 'done' }), this.timers.stopTimeoutMs);
  }

  /** Ends the worker now (idempotent). */
  async terminate(): Promise<void> {
    this.finish({ type: 'done' });
    await this.worker.terminate();
  }

  private post(m: HostToWorker): void {
    if (!this.settled) this.worker.postMessage(m);
  }

  private watch(): void {
    const now = Date.now();
    if (now - this.lastPongMs > this.timers.pingTimeoutMs) {
      return this.fail('unresponsive', `plugin worker did not answer pings for ${now - this.lastPongMs} ms (limit ${this.timers.pingTimeoutMs} ms): busy loop or blocking call`);
    }
    if (this.timers.stallTimeoutMs > 0 && this.credits > 0 && now - this.lastProgressMs > this.timers.stallTimeoutMs) {
      return this.fail('stalled', `plugin held ${this.credits} credits but produced nothing for ${now - this.lastProgressMs} ms (limit ${this.timers.stallTimeoutMs} ms)`);
    }
    this.post({ type: 'ping', seq: ++this.pingSeq });
  }

  private handle(m: WorkerToHost): void {
    if (this.settled) return;
    switch (m.type) {
      case 'ready':
        clearTimeout(this.bootTimer!);
        this.readyResolve(m);
        break;
      case 'boot-error':
        clearTimeout(this.bootTimer!);
        this.readyReject(new DaqError(m.code, m.message, { details: { module: this.where } }));
        this.finish({ type: 'fault', kind: 'boot', message: m.message });
        break;
      case 'pong':
        this.lastPongMs = Date.now();
        break;
      case 'batch':
      case 'bad-batch':
        this.credits = Math.max(0, this.credits - 1);
        this.lastProgressMs = Date.now();
        this.onMessage(m);
        break;
      case 'log':
        this.onMessage(m);
        break;
      case 'error':
        this.fail(m.phase === 'start' ? 'start' : 'throw', `plugin run() threw${m.phase === 'start' ? ' before its first batch' : ''}: ${m.message}`);
        break;
      case 'done':
        this.finish({ type: 'done' });
        break;
    }
  }

  private fail(kind: PluginFaultKind, message: string): void {
    if (this.settled) return;
    if (!this.started) this.readyReject(new DaqError('DAQ_ERR_PLUGIN_LOAD', message, { details: { module: this.where } }));
    this.finish({ type: 'fault', kind: this.started ? kind : 'boot', message });
  }

  private finish(o: SessionOutcome): void {
    if (this.settled) return;
    this.settled = true;
    for (const t of [this.pingTimer, this.bootTimer, this.stopTimer]) if (t) clearTimeout(t);
    this.outcomeResolve(o);
    void this.worker.terminate();
  }
}
