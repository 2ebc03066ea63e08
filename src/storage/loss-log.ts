import fs from 'node:fs';
import path from 'node:path';
import { columnValues } from '../schema/batch.ts';
import type { StreamBatch } from '../schema/batch.ts';

/** One gap in stored data: what is missing, from which stream, and why. */
export interface LossEntry {
  stream: string;
  reason: 'wal-corrupted' | 'wal-unregistered-stream' | 'late' | 'rejected-batch' | 'processor-failed';
  rows?: number;
  /** Batches behind this entry (a recorder aggregates a second's worth of the same loss). */
  batches?: number;
  t_min?: string;
  t_max?: string;
  /** Unit of t_min/t_max: `ns` (scalar timestamp_ns) or `ps` (waveform timestamp). */
  time_unit?: 'ns' | 'ps';
  file?: string;
  offset?: number;
  detail?: string;
  at: string;
}

/**
 * `<run>/losses.jsonl`: one JSON line per place where data was dropped or cut, so an analyst can
 * tell "no signal" from "signal not recorded" (strax-style deadtime records). Each line is
 * fsynced as it is appended; losses are rare.
 */
export class LossLog {
  readonly file: string;
  count = 0;

  constructor(runDir: string) {
    this.file = path.join(runDir, 'losses.jsonl');
  }

  append(entry: Omit<LossEntry, 'at'>): void {
    const fd = fs.openSync(this.file, 'a');
    try {
      fs.writeSync(fd, `${JSON.stringify({ ...entry, at: new Date().toISOString() })}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    this.count++;
  }

  static read(runDir: string): LossEntry[] {
    const file = path.join(runDir, 'losses.jsonl');
    if (!fs.existsSync(file)) return [];
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as LossEntry);
  }
}

/** Time span of a batch's rows (scalar `timestamp_ns` in ns, waveform `timestamp` in ps), or null when empty. */
export function batchTimeSpan(sb: StreamBatch): { tMin: bigint; tMax: bigint; unit: 'ns' | 'ps' } | null {
  const name = sb.kind === 'scalar' ? 'timestamp_ns' : sb.kind === 'waveform' ? 'timestamp' : null;
  const i = name ? sb.batch.schema.fields.findIndex((f) => f.name === name) : -1;
  // A rejected batch may have the wrong schema: only a 64-bit integer time column is read.
  if (i < 0 || sb.batch.numRows === 0 || sb.batch.getChildAt(i)?.data.length !== 1) return null;
  const v = columnValues<BigInt64Array>(sb.batch, i);
  if (!(v instanceof BigInt64Array)) return null;
  let tMin = v[0]!;
  let tMax = v[0]!;
  for (let k = 1; k < v.length; k++) {
    const t = v[k]!;
    if (t < tMin) tMin = t;
    if (t > tMax) tMax = t;
  }
  return { tMin, tMax, unit: sb.kind === 'scalar' ? 'ns' : 'ps' };
}

/** One dropped batch (or part of one), reported to a {@link LossRecorder}. */
export interface LossReport {
  stream: string;
  reason: LossEntry['reason'];
  rows?: number;
  /** The dropped batch, for its row count and time span. */
  sb?: StreamBatch;
  /** Time span when there is no batch (`unit`: ns for scalar time, ps for waveform time). */
  tMin?: bigint;
  tMax?: bigint;
  unit?: 'ns' | 'ps';
  detail?: string;
}

/**
 * Aggregates losses per (stream, reason) and appends them to the run's {@link LossLog} once per
 * interval (and on close): a plugin emitting a wrong batch a thousand times a second costs one
 * fsynced line per second, not a thousand.
 */
export class LossRecorder {
  private readonly pending = new Map<string, { stream: string; reason: LossEntry['reason']; rows: number; batches: number; tMin: bigint | null; tMax: bigint | null; unit?: 'ns' | 'ps'; detail?: string }>();
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(readonly log: LossLog, intervalMs = 1000) {
    this.timer = setInterval(() => this.flush(), intervalMs);
    this.timer.unref();
  }

  add(r: LossReport): void {
    const key = `${r.stream}\u0000${r.reason}`;
    let p = this.pending.get(key);
    if (!p) this.pending.set(key, (p = { stream: r.stream, reason: r.reason, rows: 0, batches: 0, tMin: null, tMax: null, ...(r.detail ? { detail: r.detail } : {}) }));
    p.batches++;
    p.rows += r.rows ?? r.sb?.batch.numRows ?? 0;
    const span = r.sb ? batchTimeSpan(r.sb) : r.tMin !== undefined && r.tMax !== undefined ? { tMin: r.tMin, tMax: r.tMax, unit: r.unit ?? 'ns' } : null;
    if (span) {
      if (p.tMin === null || span.tMin < p.tMin) p.tMin = span.tMin;
      if (p.tMax === null || span.tMax > p.tMax) p.tMax = span.tMax;
      p.unit = span.unit;
    }
  }

  private readonly sources: Array<() => LossReport[]> = [];

  /** A component that collects its own losses (the merge): drained at every flush. */
  addSource(drain: () => LossReport[]): void {
    this.sources.push(drain);
  }

  /** Appends what is pending (one line per stream and reason). */
  flush(): void {
    for (const drain of this.sources) for (const r of drain()) this.add(r);
    for (const p of this.pending.values()) {
      this.log.append({
        stream: p.stream,
        reason: p.reason,
        rows: p.rows,
        batches: p.batches,
        ...(p.tMin !== null && p.tMax !== null ? { t_min: p.tMin.toString(), t_max: p.tMax.toString(), time_unit: p.unit } : {}),
        ...(p.detail ? { detail: p.detail } : {}),
      });
    }
    this.pending.clear();
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
  }
}
