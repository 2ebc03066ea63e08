import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/metrics/prometheus.ts';
import type { DaemonStatus } from '../../../actors/daemon.ts';

function status(rows: number): DaemonStatus {
  return {
    run_id: 'r',
    dir: '/x',
    state: 'running',
    uptime_s: 1,
    streams: { 'plant.tags': { batches: 3, rows, bytes: rows * 21, rows_per_s: 100, mb_per_s: 0.1 } },
    subscribers: [{ id: 'live', mode: 'lossy', inflight_bytes: 10, inflight_batches: 2, pending_batches: 4, delivered_batches: 9, delivered_rows: 90, dropped_batches: 7, dropped_rows: 70 }],
    instruments: { plant: { batches: 3, rows, rejected: 0, restarts: 2, blockedMs: 1500, running: true } },
    processors: {},
    sinks: { storage: { fsync_p99_ms: 1.5, 'acked_rows.plant.tags': rows } },
    acked_rows: { storage: { 'plant.tags': rows } },
    rejected_batches: { 'plant.tags': 1 },
    plugins: {
      plug: {
        batches: 5,
        rows: 10,
        rejected: 3,
        rejectedByKind: { 'plug.tags:DAQ_ERR_SCHEMA_MISMATCH': 3 },
        restarts: 4,
        faults: { start: 1, throw: 0, unresponsive: 2, stalled: 1, uncaught: 0, exit: 0, boot: 0 },
        lastBackoffMs: 500,
        running: true,
      },
    },
    faults: { 'plug|DAQ_ERR_PLUGIN_CRASHED': 4 },
    memory: { rss_mb: 1, heap_used_mb: 1, array_buffers_mb: 1 },
  };
}

describe('prometheus metrics', () => {
  it('exposes rates, queues, drops, restarts and faults from the status at scrape time', async () => {
    let rows = 300;
    const m = createMetrics(() => status(rows));
    let text = await m.text();
    expect(text).toContain('daq_stream_rows_total{stream="plant.tags"} 300');
    expect(text).toContain('daq_subscriber_queue_batches{subscriber="live",mode="lossy"} 6');
    expect(text).toContain('daq_subscriber_dropped_batches_total{subscriber="live"} 7');
    expect(text).toContain('daq_instrument_restarts_total{instrument="plant"} 2');
    expect(text).toContain('daq_instrument_blocked_seconds_total{instrument="plant"} 1.5');
    expect(text).toContain('daq_faults_total{actor="plug",code="DAQ_ERR_PLUGIN_CRASHED"} 4');
    expect(text).toContain('daq_sink_stat{sink="storage",stat="acked_rows.plant.tags"} 300');
    expect(text).toContain('daq_up 1');
    expect(text).toContain('daq_acked_rows_total{sink="storage",stream="plant.tags"} 300');
    expect(text).toMatch(/daq_process_resident_memory_bytes \d+/);
    expect(text).toContain('daq_plugin_restarts_total{instrument="plug"} 4');
    expect(text).toContain('daq_plugin_faults_total{instrument="plug",kind="unresponsive"} 2');
    expect(text).toContain('daq_plugin_watchdog_kills_total{instrument="plug"} 3');
    expect(text).toContain('daq_plugin_rejected_batches_total{instrument="plug",stream="plug.tags",reason="DAQ_ERR_SCHEMA_MISMATCH"} 3');
    expect(text).toContain('daq_stream_bytes_per_second{stream="plant.tags"} 100000');
    rows = 600;
    text = await m.text();
    expect(text).toContain('daq_stream_rows_total{stream="plant.tags"} 600');
  });
});
