import type { DaemonStatus } from '../../actors/daemon.ts';

function fmt(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(0);
}

/** One terminal line: rows/s and MB/s per stream group, queue depths, drops, faults. */
export function statusLine(s: DaemonStatus): string {
  const groups = new Map<string, { rows: number; mb: number }>();
  for (const [name, r] of Object.entries(s.streams)) {
    const g = name.includes('.') ? name.slice(0, name.indexOf('.')) : name;
    const e = groups.get(g) ?? { rows: 0, mb: 0 };
    e.rows += r.rows_per_s;
    e.mb += r.mb_per_s;
    groups.set(g, e);
  }
  const parts = [...groups].map(([g, e]) => `${g} ${fmt(e.rows)}/s ${e.mb.toFixed(1)}MB/s`);
  const queues = s.subscribers.map((q) => `${q.id}:${q.inflight_batches + q.pending_batches}`).join(' ');
  const drops = s.subscribers.reduce((a, q) => a + q.dropped_batches, 0);
  const faults = Object.values(s.faults).reduce((a, n) => a + n, 0);
  return `[${s.uptime_s.toFixed(0)}s] ${parts.join(' | ')} | q ${queues} | drops ${drops} | faults ${faults} | rss ${s.memory.rss_mb.toFixed(0)}MB`;
}
