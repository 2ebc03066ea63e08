import { DaqError } from '../errors.ts';
import { batchBytes } from '../schema/batch.ts';
import type { StreamBatch, StreamInfo } from '../schema/batch.ts';

/** How a subscriber is treated when it falls behind. */
export type DeliveryMode = 'lossless' | 'lossy';

export interface SubscriberSpec {
  id: string;
  mode: DeliveryMode;
  /** Stream names, or a predicate over stream infos (evaluated as streams register). */
  streams: string[] | ((info: StreamInfo) => boolean);
  /** Lossless: bytes delivered but not yet acknowledged before producers are held (default 64 MiB). */
  maxInflightBytes?: number;
  /** Lossy: batches delivered but not acknowledged at once (default 2). */
  maxInflightBatches?: number;
  /** Lossy: batches kept waiting; beyond this the oldest is dropped and counted (default 4). */
  maxPendingBatches?: number;
  /** Called once per matching stream, before its first batch (also for streams registered later). */
  onStream?(info: StreamInfo): void;
  /** Called with every batch delivered to this subscriber; it must later call `ack(id, token)`. */
  deliver(sb: StreamBatch, token: number): void;
}

interface Subscriber {
  spec: SubscriberSpec;
  streams: Set<string>;
  inflightBytes: number;
  inflightBatches: number;
  /** Token -> bytes of each delivered, unacknowledged batch. */
  inflight: Map<number, number>;
  pending: StreamBatch[];
  delivered: number;
  deliveredRows: number;
  dropped: number;
  droppedRows: number;
  maxInflightBytes: number;
  maxInflightBatches: number;
  maxPendingBatches: number;
}

export interface SubscriberStats {
  id: string;
  mode: DeliveryMode;
  inflight_bytes: number;
  inflight_batches: number;
  pending_batches: number;
  delivered_batches: number;
  delivered_rows: number;
  dropped_batches: number;
  dropped_rows: number;
}

export interface StreamStats {
  batches: number;
  rows: number;
  bytes: number;
}

/**
 * The manager's engine: a registry of streams and subscribers, fan-out by reference and flow
 * control per subscriber.
 *
 * - A **lossless** subscriber gets every batch, in order. While its unacknowledged bytes exceed
 *   `maxInflightBytes`, {@link publish} reports that producers of the streams it takes must wait
 *   ({@link whenWritable}), so they slow down instead of memory growing or data being dropped.
 *   Only producers of *its* streams wait: a processor over its limit holds its inputs' producers,
 *   never its own output (which it must publish to drain; a global hold was a deadlock), and a
 *   subscriber of other streams is not held by it.
 * - A **lossy** subscriber gets at most `maxInflightBatches` at once; newer batches wait in a short
 *   queue whose oldest entry is dropped (and counted) when it overflows: a slow viewer sees the
 *   newest data and never slows a producer.
 */
export class Fanout {
  private readonly streams = new Map<string, { info: StreamInfo; subs: Subscriber[]; stats: StreamStats }>();
  private readonly subs = new Map<string, Subscriber>();
  /** Producers waiting for a stream's lossless subscribers to have room, in arrival order. */
  private readonly waiters: Array<{ stream: string; cb: () => void }> = [];
  private nextToken = 1;
  /** Lossless subscribers currently over their in-flight limit. */
  private blockedSubs = 0;

  registerStream(info: StreamInfo): void {
    if (this.streams.has(info.name)) {
      throw new DaqError('DAQ_ERR_STREAM_DUPLICATE', `stream "${info.name}" is already registered`, {
        details: { stream: info.name },
      });
    }
    const entry = { info, subs: [] as Subscriber[], stats: { batches: 0, rows: 0, bytes: 0 } };
    this.streams.set(info.name, entry);
    for (const sub of this.subs.values()) {
      if (this.matches(sub.spec, info)) {
        sub.streams.add(info.name);
        entry.subs.push(sub);
        sub.spec.onStream?.(info);
      }
    }
  }

  streamInfo(name: string): StreamInfo | undefined {
    return this.streams.get(name)?.info;
  }

  streamInfos(): StreamInfo[] {
    return [...this.streams.values()].map((s) => s.info);
  }

  subscribe(spec: SubscriberSpec): StreamInfo[] {
    if (this.subs.has(spec.id)) {
      throw new DaqError('DAQ_ERR_USAGE', `subscriber "${spec.id}" is already subscribed`);
    }
    const sub: Subscriber = {
      spec,
      streams: new Set(),
      inflightBytes: 0,
      inflightBatches: 0,
      inflight: new Map(),
      pending: [],
      delivered: 0,
      deliveredRows: 0,
      dropped: 0,
      droppedRows: 0,
      maxInflightBytes: spec.maxInflightBytes ?? 64 * 1024 * 1024,
      maxInflightBatches: spec.maxInflightBatches ?? 2,
      maxPendingBatches: spec.maxPendingBatches ?? 4,
    };
    this.subs.set(spec.id, sub);
    const matched: StreamInfo[] = [];
    for (const entry of this.streams.values()) {
      if (this.matches(spec, entry.info)) {
        sub.streams.add(entry.info.name);
        entry.subs.push(sub);
        matched.push(entry.info);
        spec.onStream?.(entry.info);
      }
    }
    // Streams registered later (processor outputs) are matched in registerStream.
    return matched;
  }

  unsubscribe(id: string): void {
    const sub = this.subs.get(id);
    if (!sub) return;
    this.subs.delete(id);
    for (const name of sub.streams) {
      const entry = this.streams.get(name);
      if (entry) entry.subs = entry.subs.filter((s) => s !== sub);
    }
    if (sub.spec.mode === 'lossless' && sub.inflightBytes > sub.maxInflightBytes) this.blockedSubs--;
    this.wakeIfWritable();
  }

  /**
   * Fans a batch out by reference to every subscriber of its stream. Returns true when every
   * lossless subscriber of the stream still has room; false means the producer should wait for
   * {@link whenWritable} before publishing again (the batch itself has been accepted).
   */
  publish(sb: StreamBatch): boolean {
    const entry = this.streams.get(sb.stream);
    if (!entry) {
      throw new DaqError('DAQ_ERR_STREAM_UNKNOWN', `batch for unregistered stream "${sb.stream}"`, {
        details: { stream: sb.stream },
      });
    }
    const bytes = batchBytes(sb);
    const rows = sb.batch.numRows;
    entry.stats.batches++;
    entry.stats.rows += rows;
    entry.stats.bytes += bytes;
    for (const sub of entry.subs) {
      if (sub.spec.mode === 'lossless') {
        this.send(sub, sb, bytes);
      } else if (sub.inflightBatches < sub.maxInflightBatches) {
        this.send(sub, sb, bytes);
      } else {
        sub.pending.push(sb);
        if (sub.pending.length > sub.maxPendingBatches) {
          const old = sub.pending.shift()!;
          sub.dropped++;
          sub.droppedRows += old.batch.numRows;
        }
      }
    }
    return this.writableFor(sb.stream);
  }

  /** True when no lossless subscriber is over its in-flight limit. */
  get writable(): boolean {
    return this.blockedSubs === 0;
  }

  /** True when every lossless subscriber of `stream` is within its in-flight limit. */
  writableFor(stream: string): boolean {
    if (this.blockedSubs === 0) return true;
    const entry = this.streams.get(stream);
    if (!entry) return true;
    for (const sub of entry.subs) if (sub.spec.mode === 'lossless' && sub.inflightBytes > sub.maxInflightBytes) return false;
    return true;
  }

  /** Calls `cb` once every lossless subscriber of `stream` is back within its limit (at once if it is). */
  whenWritable(stream: string, cb: () => void): void {
    if (this.writableFor(stream)) cb();
    else this.waiters.push({ stream, cb });
  }

  /** A subscriber finished with a delivered batch. */
  ack(id: string, token: number): void {
    const sub = this.subs.get(id);
    if (!sub) return;
    const bytes = sub.inflight.get(token);
    if (bytes === undefined) return;
    sub.inflight.delete(token);
    const wasBlocked = sub.spec.mode === 'lossless' && sub.inflightBytes > sub.maxInflightBytes;
    sub.inflightBytes -= bytes;
    sub.inflightBatches--;
    if (wasBlocked && sub.inflightBytes <= sub.maxInflightBytes) {
      this.blockedSubs--;
      this.wakeIfWritable();
    }
    if (sub.spec.mode === 'lossy') {
      while (sub.pending.length > 0 && sub.inflightBatches < sub.maxInflightBatches) {
        const next = sub.pending.shift()!;
        this.send(sub, next, batchBytes(next));
      }
    }
  }

  subscriberStats(): SubscriberStats[] {
    return [...this.subs.values()].map((s) => ({
      id: s.spec.id,
      mode: s.spec.mode,
      inflight_bytes: s.inflightBytes,
      inflight_batches: s.inflightBatches,
      pending_batches: s.pending.length,
      delivered_batches: s.delivered,
      delivered_rows: s.deliveredRows,
      dropped_batches: s.dropped,
      dropped_rows: s.droppedRows,
    }));
  }

  streamStats(): Record<string, StreamStats> {
    const out: Record<string, StreamStats> = {};
    for (const [name, e] of this.streams) out[name] = { ...e.stats };
    return out;
  }

  /** Unacknowledged batches across lossless subscribers (0 when drained). */
  get losslessInflight(): number {
    let n = 0;
    for (const s of this.subs.values()) if (s.spec.mode === 'lossless') n += s.inflightBatches;
    return n;
  }

  private send(sub: Subscriber, sb: StreamBatch, bytes: number): void {
    const token = this.nextToken++;
    const wasBlocked = sub.inflightBytes > sub.maxInflightBytes;
    sub.inflight.set(token, bytes);
    sub.inflightBytes += bytes;
    sub.inflightBatches++;
    sub.delivered++;
    sub.deliveredRows += sb.batch.numRows;
    if (sub.spec.mode === 'lossless' && !wasBlocked && sub.inflightBytes > sub.maxInflightBytes) this.blockedSubs++;
    sub.spec.deliver(sb, token);
  }

  /** A subscriber came back within its limit (or left): wakes the producers whose streams have room. */
  private wakeIfWritable(): void {
    if (this.waiters.length === 0) return;
    const ready: Array<() => void> = [];
    let kept = 0;
    for (const w of this.waiters) {
      if (this.writableFor(w.stream)) ready.push(w.cb);
      else this.waiters[kept++] = w;
    }
    this.waiters.length = kept;
    for (const cb of ready) cb();
  }

  private matches(spec: SubscriberSpec, info: StreamInfo): boolean {
    return Array.isArray(spec.streams) ? spec.streams.includes(info.name) : spec.streams(info);
  }
}
