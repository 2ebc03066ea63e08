/**
 * Durable storage benchmarks, each figure beside its reference measured in the same run:
 * - seed 002's three scalar scenarios driven faster than real time: points/s acknowledged (WAL
 *   fsync'd) through the whole daemon, beside raw fs append+fdatasync at the same fsync cadence;
 *   RSS per scenario (each in its own process);
 * - 100k points/s in real time: ack latency p50/p99 and fsyncs/s;
 * - waveform samples acknowledged MB/s beside raw fs write with the same fsync cadence, and bytes
 *   written per sample byte on the acquisition path;
 * - recovery replay MB/s of WAL; bytes on disk per scalar point;
 * - RSS of each scenario recorded at its own rate (real time, default storage settings) for
 *   BENCH_RT_SECONDS (75: two or more segments even at 1M tags), peak and median: the daemon's
 *   memory while it records that plant, where the RSS under the unpaced drive above also holds
 *   the backlog that flow control bounds (epoch, queued segments, in-flight batches).
 * `node bin/run-ts.js test/bench/storage.bench.ts` (BENCH_SECONDS, BENCH_REPS, BENCH_WRITER_THREADS,
 * BENCH_RT_SECONDS, BENCH_LAT_SECONDS (30: the real-time ack latency window), BENCH_PARTS=scalar,latency,waveform,replay,rss,
 * BENCH_SCENARIOS=100k,10k,1M).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Daemon } from '../../actors/daemon.ts';
import { validateConfig } from '../../src/config/load.ts';
import { ChannelGenerator, simDigitizerOptions } from '../../src/instruments/sim-digitizer.ts';
import { recordsSchema } from '../../src/schema/waveform.ts';
import type { WaveBatch } from '../../src/schema/batch.ts';
import { scanWal } from '../../src/storage/wal/wal-reader.ts';
import { decodeBatch } from '../../src/storage/wal/codec.ts';
import { RecordType } from '../../src/storage/wal/frame.ts';
import { StorageSink } from '../../src/storage/storage-sink.ts';
import { ScalarGenerator, simScalarOptions, simScalarTags } from '../../src/instruments/sim-scalar.ts';
import { scalarSchema } from '../../src/schema/scalar.ts';
import { envInt, median, printTable, repeat, stepAlignedRate, windowRate } from './harness.ts';

const SECONDS = envInt('BENCH_SECONDS', 6);
const REPS = envInt('BENCH_REPS', 3);
/** storage.writer_threads for the scalar scenarios and the real-time RSS (BENCH_WRITER_THREADS; default: the config's default). */
const WRITER_THREADS = envInt('BENCH_WRITER_THREADS', 1);
/** BENCH_PARTS: which measurements (comma-separated; default all): scalar, latency, waveform, replay, rss. */
const PARTS = new Set((process.env['BENCH_PARTS'] ?? 'scalar,latency,waveform,replay,rss').split(','));
const RT_SECONDS = envInt('BENCH_RT_SECONDS', 75);
/**
 * Window of the real-time ack latency run (BENCH_LAT_SECONDS): acks come one per WAL record, about
 * 10 a second at 100k points/s, so a p99 needs a few hundred of them to be more than the maximum.
 */
const LAT_SECONDS = envInt('BENCH_LAT_SECONDS', 30);
/** How often the scalar scenarios sample the ack count (ms). */
const ACK_SAMPLE_MS = 5;
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'daq-storage-bench-'));

const ALL_SCENARIOS: Record<string, { tags: number; rate_hz: number }> = {
  '100k tags x 1 Hz': { tags: 100_000, rate_hz: 1 },
  '10k tags x 10 Hz': { tags: 10_000, rate_hz: 10 },
  '1M tags x 0.1 Hz': { tags: 1_000_000, rate_hz: 0.1 },
};
/** BENCH_SCENARIOS: which scalar scenarios (comma-separated tag counts: 100k,10k,1M; default all). */
const SCENARIOS = process.env['BENCH_SCENARIOS']
  ? Object.fromEntries(Object.entries(ALL_SCENARIOS).filter(([k]) => process.env['BENCH_SCENARIOS']!.split(',').includes(k.split(' ')[0]!)))
  : ALL_SCENARIOS;

interface ScenarioResult {
  /** Points acknowledged per second between the first and the last ack release in the window. */
  pointsPerS: number;
  /** The window's acknowledged points over its length (moves by one release per window). */
  windowPointsPerS: number;
  /** Ack releases (steps) between the two the rate is taken from. */
  ackSteps: number;
  walMBs: number;
  bytesPerFsync: number;
  rssMB: number;
  bytesPerPoint: number;
  fsyncsPerS: number;
}

/** One scenario in this process (called in a child): the daemon, simulator unpaced, storage only. */
async function scenario(name: string, dir: string): Promise<ScenarioResult> {
  const sc = ALL_SCENARIOS[name]!;
  const config = validateConfig(
    {
      run: { out: dir },
      instruments: [{ name: 'plant', type: 'sim-scalar', options: { ...sc, realtime: false, batch_rows: 65536 } }],
      storage: { sinks: ['hdf5'], epoch_s: 2, writer_threads: WRITER_THREADS },
      http: { enabled: false },
      merge: { enabled: false },
    },
    'bench',
  );
  const d = await Daemon.start({ config, log: () => {} });
  let peakRss = 0;
  const probe = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
  await new Promise((r) => setTimeout(r, 1000)); // warm-up
  const s0 = d.status();
  const w0 = s0.sinks['storage']!;
  // The ack count sampled every ACK_SAMPLE_MS: acknowledgments are released a segment at a time
  // (flow control holds them while the writer is a segment behind), so the rate is taken between
  // the first and the last release inside the window (whole cycles: stepAlignedRate).
  const acks: Array<[number, number]> = [];
  const t0 = performance.now();
  const sample = () => acks.push([performance.now(), d.ackedRows('storage', 'plant.tags')]);
  sample();
  const sampler = setInterval(sample, ACK_SAMPLE_MS);
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  clearInterval(sampler);
  sample();
  const s1 = d.status();
  const dt = (performance.now() - t0) / 1000;
  const w1 = s1.sinks['storage']!;
  await d.stop();
  clearInterval(probe);
  const segBytes = fs.readdirSync(d.run.dir).filter((f) => f.endsWith('.h5')).reduce((a, f) => a + fs.statSync(path.join(d.run.dir, f)).size, 0);
  // Everything acknowledged up to the stop is in the segments.
  const stored = d.status().acked_rows['storage']?.['plant.tags'] ?? 0;
  const fsyncs = w1['fsyncs_total']! - w0['fsyncs_total']!;
  const aligned = stepAlignedRate(acks);
  // A run that acknowledged or stored nothing is broken, not slow: stop rather than print zeros.
  assert.ok(stored > 0 && segBytes > 0, `scenario ${name}: ${stored} rows stored, ${segBytes} segment bytes`);
  assert.ok(windowRate(acks) > 0, `scenario ${name}: nothing acknowledged in the window`);
  return {
    pointsPerS: aligned?.perS ?? windowRate(acks),
    windowPointsPerS: windowRate(acks),
    ackSteps: aligned?.steps ?? 0,
    walMBs: (w1['wal_bytes_written']! - w0['wal_bytes_written']!) / dt / 1e6,
    bytesPerFsync: (w1['wal_bytes_written']! - w0['wal_bytes_written']!) / Math.max(1, fsyncs),
    rssMB: peakRss / 1048576,
    bytesPerPoint: segBytes / Math.max(1, stored),
    fsyncsPerS: fsyncs / dt,
  };
}

interface RssResult {
  peakMB: number;
  medianMB: number;
  segments: number;
  pointsPerS: number;
}

/** One scenario at its own rate (called in a child): RSS sampled every 100 ms from the start. */
async function realtimeRss(name: string, dir: string): Promise<RssResult> {
  const sc = ALL_SCENARIOS[name]!;
  const config = validateConfig(
    {
      run: { out: dir },
      instruments: [{ name: 'plant', type: 'sim-scalar', options: { ...sc, realtime: true } }],
      storage: { sinks: ['hdf5'], ...(process.env['BENCH_WRITER_THREADS'] ? { writer_threads: WRITER_THREADS } : {}) },
      http: { enabled: false },
      merge: { enabled: false },
    },
    'bench',
  );
  const samples: number[] = [];
  const probe = setInterval(() => samples.push(process.memoryUsage().rss / 1048576), 100);
  const d = await Daemon.start({ config, log: () => {} });
  await new Promise((r) => setTimeout(r, RT_SECONDS * 1000));
  const acked = d.status().acked_rows['storage']?.['plant.tags'] ?? 0;
  clearInterval(probe);
  await d.stop();
  const segments = fs.readdirSync(d.run.dir).filter((f) => /^seg-\d{6}\.h5$/.test(f)).length;
  assert.ok(acked > 0 && segments > 0, `real-time run: ${acked} rows acknowledged, ${segments} segments`);
  return { peakMB: Math.max(...samples), medianMB: median(samples), segments, pointsPerS: acked / RT_SECONDS };
}

/** Raw fs: sequential appends of `chunk` bytes, an fdatasync after each, for ~2 s: MB/s. */
function rawAppendSync(file: string, chunk: number, ms = 2000): number {
  const buf = Buffer.alloc(chunk, 1);
  const fd = fs.openSync(file, 'w');
  let bytes = 0;
  const t = performance.now();
  while (performance.now() - t < ms) {
    fs.writeSync(fd, buf);
    fs.fdatasyncSync(fd);
    bytes += chunk;
  }
  const s = (performance.now() - t) / 1000;
  fs.closeSync(fd);
  fs.rmSync(file);
  return bytes / s / 1e6;
}

async function realtimeLatency(dir: string) {
  const config = validateConfig(
    { run: { out: dir }, instruments: [{ name: 'plant', type: 'sim-scalar', options: { tags: 10_000, rate_hz: 10 } }], storage: { sinks: ['hdf5'] }, http: { enabled: false }, merge: { enabled: false } },
    'bench',
  );
  const d = await Daemon.start({ config, log: () => {} });
  await new Promise((r) => setTimeout(r, 1000));
  d.resetStats(); // quantiles of the measured window only, not of the start
  const s0 = d.status().sinks['storage']!;
  await new Promise((r) => setTimeout(r, LAT_SECONDS * 1000));
  const st = d.status().sinks['storage']!;
  await d.stop();
  const fsyncs = st['fsyncs_total']! - s0['fsyncs_total']!;
  const acks = st['wal_records']! - s0['wal_records']!;
  assert.ok(acks > 0 && fsyncs > 0, `latency run: ${acks} acks, ${fsyncs} fsyncs`);
  const bytesPerFsync = (st['wal_bytes_written']! - s0['wal_bytes_written']!) / Math.max(1, fsyncs);
  // Reference, right after: the disk's own fdatasync latency at the same cadence and size.
  const raw = rawSyncLatency(path.join(dir, 'raw-lat'), Math.max(512, Math.round(bytesPerFsync)), fsyncs / LAT_SECONDS, LAT_SECONDS);
  return { p50: st['ack_p50_ms']!, p99: st['ack_p99_ms']!, fsyncP99: st['fsync_p99_ms']!, fsyncsPerS: fsyncs / LAT_SECONDS, acks, raw };
}

/** Raw fs: append `chunk` bytes + fdatasync, `perS` times a second for `seconds`: latency p50/p99/max of the fdatasync. */
function rawSyncLatency(file: string, chunk: number, perS: number, seconds: number): { p50: number; p99: number; max: number } {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, 'w');
  const buf = Buffer.alloc(chunk, 1);
  const t: number[] = [];
  const period = 1000 / Math.max(1, perS);
  const end = performance.now() + seconds * 1000;
  try {
    for (let next = performance.now(); performance.now() < end; next += period) {
      while (performance.now() < next) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.max(0, next - performance.now()));
      fs.writeSync(fd, buf);
      const a = performance.now();
      fs.fdatasyncSync(fd);
      t.push(performance.now() - a);
    }
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
  t.sort((a, b) => a - b);
  return { p50: t[Math.floor(t.length / 2)] ?? 0, p99: t[Math.floor(t.length * 0.99)] ?? 0, max: t[t.length - 1] ?? 0 };
}

async function waveformRate(dir: string) {
  // Pre-generated digitizer batches (the simulator's pulse synthesis is not what is measured).
  const g = new ChannelGenerator(simDigitizerOptions.parse({ trigger_rate_hz: 20_000, max_length: 20_000 }), 1, 0, 0n);
  const pool: WaveBatch[] = [];
  for (let k = 1; pool.length < 8; k++) {
    const wb = g.generate(BigInt(k) * 50_000_000_000n, 'd.ch0');
    if (wb) pool.push(wb);
  }
  // Default storage settings: segments are cut by size (pool_mib) every few seconds at this rate.
  const config = validateConfig({ run: { out: dir }, instruments: [], storage: { sinks: ['hdf5'] }, http: { enabled: false }, merge: { enabled: false } }, 'bench');
  let stop = false;
  const d = await Daemon.start({
    config,
    log: () => {},
    extraSources: [
      {
        name: 'd',
        restartable: false,
        streams: [{ name: 'd.ch0', kind: 'waveform', schema: recordsSchema, channels: [0], dtNs: 4, lineage: { plugin: 'bench', version: '1', optionsHash: '', inputs: [] } }],
        async *run() {
          for (let i = 0; !stop; i++) yield pool[i % pool.length]!;
        },
      },
    ],
  });
  await new Promise((r) => setTimeout(r, 1000));
  const s0 = d.status().sinks['storage']!;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  const s1 = d.status().sinks['storage']!;
  const dt = (performance.now() - t0) / 1000;
  stop = true;
  await d.stop();
  const sampleBytes = s1['sample_bytes_in']! - s0['sample_bytes_in']!;
  // Everything the acquisition path wrote: the WAL (records, references) and the pool files.
  const bytes = s1['bytes_written']! - s0['bytes_written']!;
  const commits = s1['group_commits']! - s0['group_commits']!;
  assert.ok(sampleBytes > 0 && commits > 0, `waveform run: ${sampleBytes} sample bytes, ${commits} group commits`);
  // The reference writes the same bytes per group commit with one fdatasync each (the daemon
  // syncs the pool file and then the WAL in each).
  return { samplesMBs: sampleBytes / dt / 1e6, bytesPerSampleByte: bytes / sampleBytes, bytesPerFsync: bytes / Math.max(1, commits) };
}

/** WAL replay speed: a crashed sink's WAL (no segment), scanned and decoded. */
async function replayRate(dir: string): Promise<number> {
  const sink = new StorageSink({ epochS: 3600, epochMiB: 1e6, writeSegment: async () => ({ path: '', bytes: 0, scalarPoints: 0, records: 0, samples: 0, durationMs: 0 }) });
  await sink.open({ runId: 'r', dir, t0UnixNs: 0n, config: {}, software: 'bench' });
  const opts = simScalarOptions.parse({ tags: 100_000, rate_hz: 1 });
  sink.addStream({ name: 'p', kind: 'scalar', schema: scalarSchema, tags: simScalarTags(opts), lineage: { plugin: 'b', version: '1', optionsHash: '', inputs: [] } });
  const g = new ScalarGenerator(opts, 1, 0n);
  const acks: Promise<void>[] = [];
  for (let i = 0; i < 300; i++) acks.push(sink.write(g.generate(65536, 'p')));
  await Promise.all(acks);
  // No close: as after a crash. Time the replay (scan + decode), not the segment write.
  const t = performance.now();
  const scan = scanWal(path.join(dir, 'wal'));
  let rows = 0;
  for (const r of scan.records) if (r.type === RecordType.BATCH) rows += decodeBatch(r.payload).batch.numRows;
  const s = (performance.now() - t) / 1000;
  if (rows !== 300 * 65536) throw new Error(`replayed ${rows} rows`);
  const walBytes = scan.records.reduce((a, r) => a + r.payload.length + 32, 0);
  return walBytes / s / 1e6;
}

if (process.argv[2] === '--rss') {
  const r = await realtimeRss(process.argv[3]!, process.argv[4]!);
  process.stdout.write(`${JSON.stringify(r)}\n`);
  process.exit(0);
}

if (process.argv[2] === '--scenario') {
  // Child mode: one scenario, JSON on stdout.
  const r = await scenario(process.argv[3]!, process.argv[4]!);
  process.stdout.write(`${JSON.stringify(r)}\n`);
  process.exit(0);
}

try {
  const rows = [];
  const perScenario: Record<string, ScenarioResult[]> = {};
  for (const name of PARTS.has('scalar') ? Object.keys(SCENARIOS) : []) {
    perScenario[name] = [];
    for (let rep = 0; rep < REPS; rep++) {
      const dir = path.join(base, `s${rep}`);
      const r = spawnSync(process.execPath, [path.resolve('bin/run-ts.js'), import.meta.filename, '--scenario', name, dir], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`scenario ${name} failed: ${r.stderr}`);
      perScenario[name]!.push(JSON.parse(r.stdout.trim().split('\n').pop()!) as ScenarioResult);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  for (const [name, rs] of Object.entries(perScenario)) {
    const cadence = median(rs.map((r) => r.bytesPerFsync));
    const raw = median(await repeat(REPS, () => rawAppendSync(path.join(base, 'raw'), Math.max(4096, Math.round(cadence))), 0));
    const wal = median(rs.map((r) => r.walMBs));
    rows.push({
      measure: `${name}: points/s acknowledged (fsync'd), faster than real time`,
      value: `${(median(rs.map((r) => r.pointsPerS)) / 1e6).toFixed(2)} M/s (per rep: ${rs.map((r) => (r.pointsPerS / 1e6).toFixed(2)).join(', ')}; between the first and last ack release, ${median(rs.map((r) => r.ackSteps))} releases; whole window ${(median(rs.map((r) => r.windowPointsPerS)) / 1e6).toFixed(2)} M/s; WAL ${wal.toFixed(0)} MB/s, ${median(rs.map((r) => r.fsyncsPerS)).toFixed(0)} fsyncs/s)`,
      reference: `raw fs append+fdatasync every ${(cadence / 1e6).toFixed(2)} MB: ${raw.toFixed(0)} MB/s`,
      ratio: (wal / raw).toFixed(2),
      goal: '>= 3 M points/s',
    });
    rows.push({ measure: `${name}: peak RSS, faster than real time (holds the backlog flow control bounds)`, value: `${median(rs.map((r) => r.rssMB)).toFixed(0)} MB`, reference: '', goal: '<= 512 MB, within ±20% across scenarios' });
    rows.push({ measure: `${name}: bytes on disk per point (whole .h5 files)`, value: median(rs.map((r) => r.bytesPerPoint)).toFixed(2), reference: '8-byte float64 + 8-byte time + tag + quality raw = 21', goal: '<= 12' });
  }
  const lat = PARTS.has('latency') ? await repeat(REPS, (i) => realtimeLatency(path.join(base, `l${i}`)), 0) : [];
  if (lat.length) rows.push({
    measure: '100k points/s real time (10k tags x 10 Hz): ack latency',
    value: `p50 ${median(lat.map((l) => l.p50)).toFixed(2)} ms, p99 ${median(lat.map((l) => l.p99)).toFixed(2)} ms (per run: ${lat.map((l) => l.p99.toFixed(1)).join(', ')}; ${median(lat.map((l) => l.acks)).toFixed(0)} acks in ${LAT_SECONDS} s per run); WAL fsync p99 ${median(lat.map((l) => l.fsyncP99)).toFixed(2)} ms; ${median(lat.map((l) => l.fsyncsPerS)).toFixed(0)} fsyncs/s`,
    reference: `raw append+fdatasync at the same cadence and size: p50 ${median(lat.map((l) => l.raw.p50)).toFixed(2)} ms, p99 ${median(lat.map((l) => l.raw.p99)).toFixed(2)} ms, max ${median(lat.map((l) => l.raw.max)).toFixed(1)} ms (per run: ${lat.map((l) => l.raw.max.toFixed(0)).join(', ')})`,
    goal: 'p99 <= 20 ms, <= 100 fsyncs/s',
  });
  // Paired: each rep runs the raw reference, the daemon, the raw reference again, each for the same
  // time and at the cadence the daemon's group commits had, and compares the daemon with the mean of
  // the two: this virtual disk's speed drifts 2-4x within minutes (host cache), so only
  // measurements seconds apart compare.
  const wv: Array<Awaited<ReturnType<typeof waveformRate>> & { raw: number }> = [];
  let cadence = 32e6;
  for (let i = 0; PARTS.has('waveform') && i < REPS; i++) {
    const before = rawAppendSync(path.join(base, 'raw'), Math.round(cadence), SECONDS * 1000);
    const w = await waveformRate(path.join(base, `w${i}`));
    fs.rmSync(path.join(base, `w${i}`), { recursive: true, force: true });
    cadence = w.bytesPerFsync;
    const after = rawAppendSync(path.join(base, 'raw'), Math.round(cadence), SECONDS * 1000);
    wv.push({ ...w, raw: (before + after) / 2 });
  }
  if (wv.length) {
    const wRate = median(wv.map((w) => w.samplesMBs));
    rows.push({
      measure: 'waveform samples acknowledged (fsync\'d)',
      value: `${wRate.toFixed(0)} MB/s (per rep: ${wv.map((w) => w.samplesMBs.toFixed(0)).join(', ')}); ${median(wv.map((w) => w.bytesPerSampleByte)).toFixed(3)} bytes written per sample byte`,
      reference: `raw fs append+fdatasync of each group commit's ${(median(wv.map((w) => w.bytesPerFsync)) / 1e6).toFixed(2)} MB, mean of ${SECONDS} s before and after each rep: ${median(wv.map((w) => w.raw)).toFixed(0)} MB/s (per rep: ${wv.map((w) => w.raw.toFixed(0)).join(', ')})`,
      ratio: `${median(wv.map((w) => w.samplesMBs / w.raw)).toFixed(2)} (median of per-rep ratios: ${wv.map((w) => (w.samplesMBs / w.raw).toFixed(2)).join(', ')})`,
      goal: '>= 0.75; <= 1.1 bytes per sample byte',
    });
  }
  const rp = PARTS.has('replay') ? await repeat(REPS, (i) => replayRate(path.join(base, `r${i}`)), 0) : [];
  if (rp.length) rows.push({ measure: 'recovery replay (scan + CRC + decode)', value: `${median(rp).toFixed(0)} MB/s of WAL`, reference: '', goal: '>= 200 MB/s' });
  if (PARTS.has('rss')) {
    // One run per scenario (each is RT_SECONDS long); memory, unlike speed, barely varies with load.
    const rt: Record<string, RssResult> = {};
    for (const name of Object.keys(ALL_SCENARIOS)) {
      const dir = path.join(base, 'rt');
      const r = spawnSync(process.execPath, [path.resolve('bin/run-ts.js'), import.meta.filename, '--rss', name, dir], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`real-time scenario ${name} failed: ${r.stderr}`);
      rt[name] = JSON.parse(r.stdout.trim().split('\n').pop()!) as RssResult;
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const peaks = Object.values(rt).map((r) => r.peakMB);
    const mean = peaks.reduce((a, b) => a + b, 0) / peaks.length;
    for (const [name, r] of Object.entries(rt)) {
      rows.push({
        measure: `${name} at its own rate (real time, ${RT_SECONDS} s, default storage settings): RSS`,
        value: `peak ${r.peakMB.toFixed(0)} MB (${((r.peakMB / mean - 1) * 100).toFixed(0)}% from the mean of the three peaks), median ${r.medianMB.toFixed(0)} MB; ${r.segments} segments, ${(r.pointsPerS / 1e3).toFixed(0)}k points/s`,
        reference: '',
        goal: '<= 512 MB, within ±20% across scenarios',
      });
    }
  }
  printTable(`durable storage, ${SECONDS} s per measurement, ${REPS} runs`, rows);
} finally {
  fs.rmSync(base, { recursive: true, force: true });
}
