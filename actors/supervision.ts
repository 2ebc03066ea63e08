import type { LossRecorder, LossReport } from '../src/storage/loss-log.ts';
/**
 * Supervision. Every fault is counted by (actor, code) and logged once per kind, so a plugin that
 * fails on every batch does not flood the log. What happens on each kind of failure:
 *
 * - instrument run() throws or rejects: counted; restarted with exponential backoff
 *   (`backoffMs`), other instruments keep running;
 * - a published batch fails its schema check: rejected and counted per stream; the producer goes on;
 * - a lossless sink's write fails (disk full, I/O error, WAL poisoned): fatal: nothing more is
 *   acknowledged, the daemon stops and exits non-zero; recovery happens on restart;
 * - a processor throws on a batch: counted, the batch is skipped for that processor (recorded as a
 *   loss of its output), the processor keeps running;
 * - a live viewer falls behind: its oldest pending batches are dropped and counted.
 */
export class FaultLog {
  readonly counts = new Map<string, number>();
  private readonly logged = new Set<string>();

  constructor(private readonly log: (level: 'warn' | 'error', msg: string, extra?: Record<string, unknown>) => void) {}

  /** Where data dropped because of a fault is recorded (the run's losses.jsonl), once a run folder exists. */
  losses: LossRecorder | null = null;

  /** Counts a fault (logging the first of each kind); `lost` names data it dropped, for the loss log. */
  record(actor: string, code: string, err: Error, lost?: LossReport): void {
    if (lost) this.losses?.add({ ...lost, detail: lost.detail ?? `${code}: ${err.message}` });
    const key = `${actor}|${code}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    if (!this.logged.has(key)) {
      this.logged.add(key);
      this.log('warn', `${actor}: ${err.message} (${code}; further faults of this kind are only counted)`, { actor, code });
    }
  }

  /** Faults as { "actor|code": count }. */
  snapshot(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }
}

/** Restart delay after the n-th consecutive failure: 250 ms doubling up to 30 s. */
export function backoffMs(failures: number, baseMs = 250, capMs = 30_000): number {
  return Math.min(capMs, baseMs * 2 ** Math.max(0, failures - 1));
}
