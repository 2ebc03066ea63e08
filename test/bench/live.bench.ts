/**
 * Live view: latency from an instrument emitting a batch to a WebSocket client receiving it
 * (p50/p95), and, with 0, 1 and 10 viewers attached, the daemon's ingest rate and its own CPU time
 * per ingested point (process.cpuUsage: user + system of every thread), interleaved rep by rep.
 * The CPU-cost ratio (no viewer / n viewers) is the ingest rate the daemon would reach on the same
 * CPU with viewers; the throughput ratio also carries whatever else the machine runs. Viewers run in
 * another process, pinned to the other core (taskset). `BENCH_REPS=5 node bin/run-ts.js
 * test/bench/live.bench.ts` (BENCH_SECONDS, BENCH_REPS, BENCH_PIN=0 to not pin).
 */
import { firstValueFrom, filter, take, toArray } from 'rxjs';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Daemon } from '../../actors/daemon.ts';
import { validateConfig } from '../../src/config/load.ts';
import { LiveHub } from '../../src/live/live-hub.ts';
import { startServer } from '../../src/live/server.ts';
import { connectLive } from '../../src/live/client.ts';
import { NullSink } from '../../src/sinks/null-sink.ts';
import { envInt, median, printTable, repeat } from './harness.ts';

const SECONDS = envInt('BENCH_SECONDS', 4);
const REPS = envInt('BENCH_REPS', 3);
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'daq-live-bench-'));
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;
/** Pin this process (the daemon) to core 0 and the viewers to core 1 (BENCH_PIN=0: don't). */
const PIN = process.env.BENCH_PIN !== '0' && os.availableParallelism() >= 2 && spawnSync('taskset', ['-V']).status === 0;
const DAEMON_CORE = 0;
const VIEWER_CORE = 1;
// -a: every thread of this process; threads started later inherit the mask.
if (PIN) execFileSync('taskset', ['-a', '-p', '-c', String(DAEMON_CORE), String(process.pid)], { stdio: 'ignore' });

/** One measured window of an unpaced ingest with `viewers` live clients attached. */
interface IngestSample {
  /** Points/s through the manager to the null sink (wall clock). */
  rate: number;
  /** Daemon process CPU (user + system, every thread: process.cpuUsage) per point, ns. */
  cpuNsPerPoint: number;
  /** The system (kernel) part of it, ns. */
  sysNsPerPoint: number;
  /** Daemon process CPU over wall time (1 = one core busy all the time). */
  cpuShare: number;
  /** Viewer process CPU over wall time (its /proc stat), 0 without viewers. */
  viewerCpuShare: number;
  /**
   * CPU time the daemon spent serving viewers (LiveHub.serveCpuMs: building each view's frame and
   * handing it to every viewer, the server encoding it once and sending it to each) over its CPU time.
   */
  serveShare: number;
  /** The same in wall time (includes moments this process was preempted) over wall time. */
  serveWallShare: number;
  /** Frames the viewers were sent per second (all viewers together). */
  framesPerSecond: number;
}

/** utime + stime of a process in seconds, from /proc (Linux), or NaN. */
function procCpuSeconds(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK; // fields 14 and 15 of stat(5)
  } catch {
    return Number.NaN;
  }
}

/** Ingest of an unpaced simulator through the manager to a null sink, with `viewers` live clients. */
async function ingest(viewers: number): Promise<IngestSample> {
  const config = validateConfig(
    { run: { out: base }, instruments: [{ name: 'plant', type: 'sim-scalar', options: { tags: 10_000, rate_hz: 1000, realtime: false, batch_rows: 65536 } }], storage: { sinks: ['none'] }, merge: { enabled: false } },
    'bench',
  );
  const hub = new LiveHub();
  const sink = new NullSink();
  const d = await Daemon.start({ config, log: () => {}, extraSinks: [sink], liveTargets: [{ id: 'live', target: hub }] });
  const server = await startServer({ port: 0, hub, status: () => d.status(), metrics: () => '' });
  // Viewers live in another process and stand for browsers on other machines. Pinned (default
  // when taskset exists and there are 2+ cores): this process on core 0, the viewers on core 1,
  // so their decoding never takes the daemon's core. Unpinned: they run at nice 19.
  const viewerArgs = [process.execPath, path.resolve('bin/run-ts.js'), path.join(import.meta.dirname, 'live-viewers.ts'), server.url, String(viewers)];
  const viewerProc = viewers > 0 ? spawn(PIN ? 'taskset' : 'nice', PIN ? ['-c', String(VIEWER_CORE), ...viewerArgs] : ['-n', '19', ...viewerArgs], { stdio: ['pipe', 'pipe', 'pipe'] }) : null;
  if (viewerProc) {
    // Measure only once every viewer is connected and receiving (their start-up costs CPU).
    await new Promise<void>((resolve, reject) => {
      let err = '';
      viewerProc.stderr!.on('data', (d: Buffer) => {
        err += String(d);
        if (err.includes('ready')) resolve();
      });
      viewerProc.once('exit', (code) => reject(new Error(`viewer process exited (${code}): ${err}`)));
    });
  }
  await new Promise((r) => setTimeout(r, 1000));
  const r0 = sink.rows;
  const s0 = hub.serveCpuMs;
  const w0 = hub.serveMs;
  const f0 = server.stats().sent_frames;
  const c0 = process.cpuUsage();
  const v0 = viewerProc ? procCpuSeconds(viewerProc.pid!) : 0;
  const t = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const wall = (performance.now() - t) / 1000;
  const c = process.cpuUsage(c0);
  const v1 = viewerProc ? procCpuSeconds(viewerProc.pid!) : 0;
  const serveS = (hub.serveCpuMs - s0) / 1000;
  const serveWallS = (hub.serveMs - w0) / 1000;
  const frames = server.stats().sent_frames - f0;
  const rows = sink.rows - r0;
  const cpu = (c.user + c.system) / 1e6;
  if (viewerProc) {
    let out = '';
    viewerProc.stdout!.on('data', (d) => (out += d));
    viewerProc.stdin!.end();
    await new Promise((r) => viewerProc.once('exit', r));
    if (!(Number(out) > 0)) throw new Error(`viewers received no frames (${out})`);
  }
  await server.close();
  await d.stop();
  return { rate: rows / wall, cpuNsPerPoint: (cpu * 1e9) / rows, sysNsPerPoint: (c.system * 1e3) / rows, cpuShare: cpu / wall, viewerCpuShare: (v1 - v0) / wall, serveShare: serveS / cpu, serveWallShare: serveWallS / wall, framesPerSecond: frames / wall };
}

/** Latency: a real-time instrument; for each frame, now minus the time of the newest point in it. */
async function latency(): Promise<number[]> {
  const config = validateConfig(
    { run: { out: base }, instruments: [{ name: 'plant', type: 'sim-scalar', options: { tags: 100, rate_hz: 100, batch_ms: 10 } }], storage: { sinks: ['none'] }, merge: { enabled: false } },
    'bench',
  );
  const hub = new LiveHub();
  const d = await Daemon.start({ config, log: () => {}, extraSinks: [new NullSink()], liveTargets: [{ id: 'live', target: hub }] });
  const server = await startServer({ port: 0, hub, status: () => d.status(), metrics: () => '' });
  const lat: number[] = [];
  await firstValueFrom(
    connectLive(server.url, { streams: ['plant.tags'], tags: ['tag0', 'tag50', 'tag99'], intervalMs: 20, pixels: 100_000 }).pipe(
      filter((f) => f.batch.numRows > 0),
      take(Math.round((SECONDS * 1000) / 20)),
      filter((f) => {
        const t = f.batch.getChild('t_ms')!.toArray() as Float64Array;
        let newest = 0;
        for (const x of t) newest = Math.max(newest, x);
        // A point is emitted when its batch is due (batch_ms after its time): count from then.
        lat.push(Date.now() - newest);
        return true;
      }),
      toArray(),
    ),
  );
  await server.close();
  await d.stop();
  return lat;
}

const VIEWERS = [0, 1, 10] as const;
/** "median (min–max)" of xs, each shown by `f`. */
const spread = (xs: number[], f: (x: number) => string): string => `${f(median(xs))} (${f(Math.min(...xs))}–${f(Math.max(...xs))})`;
const mps = (x: number) => (x / 1e6).toFixed(2);
const r3 = (x: number) => x.toFixed(3);
const pct = (x: number) => `${(x * 100).toFixed(3)}%`;

try {
  // One warm-up, then the three configurations interleaved rep by rep, in a rotating order (so
  // that none always runs first or last after a given other), so JIT warm-up and the machine's
  // drift fall evenly on all three. Ratios are taken within a rep, then their median and range.
  await ingest(0);
  const runs: Record<number, IngestSample[]> = { 0: [], 1: [], 10: [] };
  console.log(`live ingest: ${PIN ? `daemon pinned to core ${DAEMON_CORE}, viewers to core ${VIEWER_CORE} (taskset)` : 'unpinned, viewers at nice 19'}; ${SECONDS} s per measurement`);
  for (let rep = 0; rep < REPS; rep++) {
    for (let k = 0; k < VIEWERS.length; k++) {
      const v = VIEWERS[(rep + k) % VIEWERS.length]!;
      const m = await ingest(v);
      runs[v]!.push(m);
      console.log(
        `  rep ${rep + 1} viewers ${String(v).padStart(2)}: ${mps(m.rate)} M points/s, daemon ${m.cpuNsPerPoint.toFixed(2)} ns CPU/point (sys ${m.sysNsPerPoint.toFixed(2)}), daemon CPU ${m.cpuShare.toFixed(2)} cores, serving viewers ${(m.serveShare * 100).toFixed(2)}% of it (wall ${(m.serveWallShare * 100).toFixed(2)}% of wall time, ${m.framesPerSecond.toFixed(0)} frames/s), viewer process ${m.viewerCpuShare.toFixed(2)} cores`,
      );
    }
  }
  const field = (v: number, f: keyof IngestSample) => runs[v]!.map((m) => m[f]);
  /** Per rep: the rate with n viewers over the rate without, and CPU per point without over with n. */
  const rateRatio = (n: number) => runs[n]!.map((m, i) => m.rate / runs[0]![i]!.rate);
  const costRatio = (n: number) => runs[n]!.map((m, i) => runs[0]![i]!.cpuNsPerPoint / m.cpuNsPerPoint);
  const lats = (await repeat(REPS, () => latency(), 0)).flat().sort((a, b) => a - b);
  const q = (p: number) => lats[Math.min(lats.length - 1, Math.floor(p * lats.length))]!;
  const ns = (x: number) => x.toFixed(2);
  const pinned = PIN ? 'pinned: daemon core 0, viewers core 1' : 'unpinned, viewers nice 19';
  printTable(`live view, ${SECONDS} s per measurement, ${REPS} reps interleaved; median (min–max) over reps`, [
    { measure: 'newest point emitted -> client received (20 ms sampling, 10 ms batches)', value: `p50 ${q(0.5).toFixed(0)} ms, p95 ${q(0.95).toFixed(0)} ms`, reference: `${lats.length} frames`, goal: 'p95 <= 50 ms' },
    ...[1, 10].flatMap((n) => [
      {
        measure: `ingest with ${n} viewer${n > 1 ? 's' : ''} (${pinned})`,
        value: `${spread(field(n, 'rate'), mps)} M points/s`,
        reference: `no viewer: ${spread(field(0, 'rate'), mps)} M points/s`,
        ratio: spread(rateRatio(n), r3),
        goal: '>= 0.98',
      },
      {
        measure: `daemon CPU per ingested point with ${n} viewer${n > 1 ? 's' : ''} (process.cpuUsage: user+sys, all threads; ratio: no-viewer cost / this cost, the ingest rate reached on the same CPU)`,
        value: `${spread(field(n, 'cpuNsPerPoint'), ns)} ns`,
        reference: `no viewer: ${spread(field(0, 'cpuNsPerPoint'), ns)} ns`,
        ratio: spread(costRatio(n), r3),
        goal: '>= 0.98',
      },
      {
        measure: `daemon CPU spent serving ${n} viewer${n > 1 ? 's' : ''} (frame build + IPC encode + sends, timed per tick in LiveHub) / the daemon's CPU; ratio: 1 - share`,
        value: `${spread(field(n, 'serveShare'), pct)}`,
        reference: `${median(field(n, 'framesPerSecond')).toFixed(0)} frames/s sent; daemon CPU ${spread(field(n, 'cpuShare'), (x) => x.toFixed(2))} cores`,
        ratio: spread(field(n, 'serveShare').map((x) => 1 - x), (x) => x.toFixed(4)),
        goal: '<= 2% (>= 0.98)',
      },
    ]),
    {
      measure: 'CPU used (cores): daemon with 0 / 1 / 10 viewers; viewer process with 1 / 10',
      value: `${VIEWERS.map((v) => median(field(v, 'cpuShare')).toFixed(2)).join(' / ')}; ${[1, 10].map((v) => median(field(v, 'viewerCpuShare')).toFixed(2)).join(' / ')}`,
      reference: '',
    },
  ]);
} finally {
  fs.rmSync(base, { recursive: true, force: true });
}
