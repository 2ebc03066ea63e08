import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { DaemonStatus } from '../../actors/daemon.ts';

type Labels = Record<string, string>;

/**
 * Prometheus metrics for `GET /metrics`, read from the daemon's status at scrape time (nothing
 * is counted twice and the hot path pays nothing). Names are documented in README ("Metrics").
 */
export function createMetrics(status: () => DaemonStatus): { registry: Registry; text: () => Promise<string> } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'daq_' });

  const gauge = (name: string, help: string, labelNames: string[], fill: (s: DaemonStatus, set: (l: Labels, v: number) => void) => void) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        fill(status(), (l, v) => this.set(l, v));
      },
    });
  // Monotonic totals exposed as counters: set from the status snapshot on each scrape.
  const counter = (name: string, help: string, labelNames: string[], fill: (s: DaemonStatus, set: (l: Labels, v: number) => void) => void) =>
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        fill(status(), (l, v) => this.inc(l, v));
      },
    });

  counter('daq_stream_rows_total', 'Rows published per stream', ['stream'], (s, set) => {
    for (const [stream, r] of Object.entries(s.streams)) set({ stream }, r.rows);
  });
  counter('daq_stream_bytes_total', 'Bytes published per stream', ['stream'], (s, set) => {
    for (const [stream, r] of Object.entries(s.streams)) set({ stream }, r.bytes);
  });
  counter('daq_stream_batches_total', 'Batches published per stream', ['stream'], (s, set) => {
    for (const [stream, r] of Object.entries(s.streams)) set({ stream }, r.batches);
  });
  gauge('daq_stream_rows_per_second', 'Rows per second per stream over the last second', ['stream'], (s, set) => {
    for (const [stream, r] of Object.entries(s.streams)) set({ stream }, r.rows_per_s);
  });
  gauge('daq_stream_bytes_per_second', 'Bytes per second per stream over the last second', ['stream'], (s, set) => {
    for (const [stream, r] of Object.entries(s.streams)) set({ stream }, r.mb_per_s * 1e6);
  });
  gauge('daq_subscriber_inflight_bytes', 'Bytes delivered to a subscriber and not yet acknowledged', ['subscriber', 'mode'], (s, set) => {
    for (const q of s.subscribers) set({ subscriber: q.id, mode: q.mode }, q.inflight_bytes);
  });
  gauge('daq_subscriber_queue_batches', 'Batches in flight plus waiting per subscriber (queue depth)', ['subscriber', 'mode'], (s, set) => {
    for (const q of s.subscribers) set({ subscriber: q.id, mode: q.mode }, q.inflight_batches + q.pending_batches);
  });
  counter('daq_subscriber_dropped_batches_total', 'Batches dropped for a lossy subscriber that fell behind', ['subscriber'], (s, set) => {
    for (const q of s.subscribers) set({ subscriber: q.id }, q.dropped_batches);
  });
  counter('daq_subscriber_dropped_rows_total', 'Rows dropped for a lossy subscriber that fell behind', ['subscriber'], (s, set) => {
    for (const q of s.subscribers) set({ subscriber: q.id }, q.dropped_rows);
  });
  counter('daq_rejected_batches_total', 'Batches rejected by the schema check, per stream', ['stream'], (s, set) => {
    for (const [stream, n] of Object.entries(s.rejected_batches)) set({ stream }, n);
  });
  counter('daq_faults_total', 'Faults by actor and error code', ['actor', 'code'], (s, set) => {
    for (const [key, n] of Object.entries(s.faults)) {
      const [actor = '', code = ''] = key.split('|');
      set({ actor, code }, n);
    }
  });
  counter('daq_instrument_restarts_total', 'Instrument restarts after a failure', ['instrument'], (s, set) => {
    for (const [instrument, c] of Object.entries(s.instruments)) set({ instrument }, c.restarts);
  });
  counter('daq_instrument_blocked_seconds_total', 'Time instruments waited for admission (backpressure)', ['instrument'], (s, set) => {
    for (const [instrument, c] of Object.entries(s.instruments)) set({ instrument }, c.blockedMs / 1000);
  });
  counter('daq_instrument_batches_total', 'Batches an instrument published (admitted)', ['instrument'], (s, set) => {
    for (const [instrument, c] of Object.entries(s.instruments)) set({ instrument }, c.batches);
  });
  counter('daq_instrument_rows_total', 'Rows an instrument published (admitted)', ['instrument'], (s, set) => {
    for (const [instrument, c] of Object.entries(s.instruments)) set({ instrument }, c.rows);
  });
  counter('daq_instrument_rejected_batches_total', 'Batches of an instrument rejected by the schema check (plugins: in their host)', ['instrument'], (s, set) => {
    for (const [instrument, c] of Object.entries(s.instruments)) set({ instrument }, c.rejected);
  });
  gauge('daq_instrument_running', '1 while an instrument source runs', ['instrument'], (s, set) => {
    for (const [instrument, c] of Object.entries(s.instruments)) set({ instrument }, c.running ? 1 : 0);
  });
  counter('daq_plugin_restarts_total', 'Restarts of an instrument plugin worker after a fault', ['instrument'], (s, set) => {
    for (const [instrument, p] of Object.entries(s.plugins)) set({ instrument }, p.restarts);
  });
  counter('daq_plugin_faults_total', 'Instrument plugin faults by kind (start, throw, unresponsive, stalled, uncaught, exit, boot)', ['instrument', 'kind'], (s, set) => {
    for (const [instrument, p] of Object.entries(s.plugins)) for (const [kind, n] of Object.entries(p.faults)) set({ instrument, kind }, n);
  });
  counter('daq_plugin_watchdog_kills_total', 'Plugin workers terminated by the watchdog (unresponsive or stalled)', ['instrument'], (s, set) => {
    for (const [instrument, p] of Object.entries(s.plugins)) set({ instrument }, p.faults.unresponsive + p.faults.stalled);
  });
  counter('daq_plugin_rejected_batches_total', 'Plugin batches rejected by its host, by stream and reason (error code)', ['instrument', 'stream', 'reason'], (s, set) => {
    for (const [instrument, p] of Object.entries(s.plugins)) {
      for (const [key, n] of Object.entries(p.rejectedByKind)) {
        const cut = key.lastIndexOf(':');
        set({ instrument, stream: key.slice(0, cut), reason: key.slice(cut + 1) }, n);
      }
    }
  });
  gauge('daq_plugin_backoff_seconds', 'Delay before the latest restart of a plugin', ['instrument'], (s, set) => {
    for (const [instrument, p] of Object.entries(s.plugins)) set({ instrument }, p.lastBackoffMs / 1000);
  });
  counter('daq_processor_in_batches_total', 'Batches a processor received', ['processor'], (s, set) => {
    for (const [processor, c] of Object.entries(s.processors)) set({ processor }, c.inBatches);
  });
  counter('daq_processor_out_batches_total', 'Batches a processor published', ['processor'], (s, set) => {
    for (const [processor, c] of Object.entries(s.processors)) set({ processor }, c.outBatches);
  });
  counter('daq_processor_failures_total', 'Batches a processor failed on', ['processor'], (s, set) => {
    for (const [processor, c] of Object.entries(s.processors)) set({ processor }, c.failures);
  });
  gauge('daq_sink_stat', 'Sink statistics (WAL bytes, fsync latency, acked rows, ...) by sink and name', ['sink', 'stat'], (s, set) => {
    for (const [sink, stats] of Object.entries(s.sinks)) for (const [stat, v] of Object.entries(stats)) if (Number.isFinite(v)) set({ sink, stat }, v);
  });
  counter('daq_acked_rows_total', 'Rows a lossless sink acknowledged (storage: durable), per stream', ['sink', 'stream'], (s, set) => {
    for (const [sink, streams] of Object.entries(s.acked_rows)) for (const [stream, n] of Object.entries(streams)) set({ sink, stream }, n);
  });
  gauge('daq_up', '1 while the daemon is running, 0 once stopping or failed', [], (s, set) => set({}, s.state === 'running' ? 1 : 0));

  return { registry, text: () => registry.metrics() };
}
