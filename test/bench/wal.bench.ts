/**
 * The WAL on the acquisition path, fsync mode: acknowledged MB/s and points/s for scalar batches
 * (64k points) and waveform batches, beside raw `fs` sequential write of the same bytes with the
 * same fsync cadence (bytes per fdatasync) measured in the same run; fsyncs/s; bytes written per
 * sample byte; ack latency p50/p99 at a paced 100k points/s; recovery replay (scan + CRC + decode)
 * MB/s beside a plain read of the same files.
 * `node bin/run-ts.js test/bench/wal.bench.ts` (BENCH_REPS, BENCH_WAL_MB, BENCH_PACED_S).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ScalarGenerator, simScalarOptions } from '../../src/instruments/sim-scalar.ts';
import { ChannelGenerator, simDigitizerOptions } from '../../src/instruments/sim-digitizer.ts';
import type { StreamBatch, WaveBatch } from '../../src/schema/batch.ts';
import { decodeBatch, encodeBatch } from '../../src/storage/wal/codec.ts';
import { RecordType } from '../../src/storage/wal/frame.ts';
import { scanWal, walSegments } from '../../src/storage/wal/wal-reader.ts';
import { WalWriter } from '../../src/storage/wal/wal-writer.ts';
import { envInt, median, printTable, repeat } from './harness.ts';

const REPS = envInt('BENCH_REPS', 5);
const TOTAL_MB = envInt('BENCH_WAL_MB', 48);
const PACED_S = envInt('BENCH_PACED_S', 2);
const ROWS = 65_536;
const WINDOW_BYTES = envInt('BENCH_WINDOW_MIB', 64) * 1024 * 1024; // unacknowledged bytes in flight, as the fan-out allows a lossless sink (flow.lossless_max_inflight_mib)

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'daq-wal-bench-'));
process.on('exit', () => fs.rmSync(root, { recursive: true, force: true }));

const sOpts = simScalarOptions.parse({ tags: 100_000, rate_hz: 1 });
const sGen = new ScalarGenerator(sOpts, 1, 0n);
const scalarPool: StreamBatch[] = Array.from({ length: 8 }, () => sGen.generate(ROWS, 'bench.tags'));
const cg = new ChannelGenerator(simDigitizerOptions.parse({ trigger_rate_hz: 20_000, max_length: 3000 }), 3, 0, 0n);
const wavePool: WaveBatch[] = Array.from({ length: 8 }, (_, k) => ({ ...cg.generate(BigInt(k + 1) * 50_000_000_000n, 'records')!, stream: 'records' }));

const bytesOf = (parts: Uint8Array[]) => parts.reduce((a, p) => a + p.byteLength, 0);
const pointsOf = (sb: StreamBatch) => (sb.kind === 'waveform' ? sb.samples.length : sb.batch.numRows);

interface WalRun {
  mbps: number;
  pps: number;
  fsyncsPerS: number;
  bytesPerFsync: number;
  walBytesPerSampleByte: number;
  chunk: number;
  dir: string;
}

async function throughWal(pool: StreamBatch[], tag: string, i: number): Promise<WalRun> {
  const dir = path.join(root, `${tag}-${i}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const wal = new WalWriter(dir);
  const target = TOTAL_MB * 1024 * 1024;
  let sent = 0;
  let points = 0;
  let sampleBytes = 0;
  let n = 0;
  const inFlight = new Set<Promise<unknown>>();
  let inFlightBytes = 0;
  const t = performance.now();
  while (sent < target) {
    const sb = pool[n++ % pool.length]!;
    const parts = encodeBatch(sb); // encoding is part of the acquisition path: timed
    const b = bytesOf(parts);
    sent += b;
    inFlightBytes += b;
    points += pointsOf(sb);
    if (sb.kind === 'waveform') sampleBytes += sb.samples.byteLength;
    const p = wal.append(RecordType.BATCH, parts);
    inFlight.add(p);
    void p.then(() => {
      inFlight.delete(p);
      inFlightBytes -= b;
    });
    while (inFlightBytes >= WINDOW_BYTES) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  const s = (performance.now() - t) / 1000;
  await wal.close();
  return {
    mbps: wal.bytesWritten / 1e6 / s,
    pps: points / s,
    fsyncsPerS: wal.fsyncs / s,
    bytesPerFsync: wal.bytesWritten / Math.max(1, wal.fsyncs),
    walBytesPerSampleByte: sampleBytes ? wal.bytesWritten / sampleBytes : 0,
    chunk: wal.bytesWritten / Math.max(1, wal.records),
    dir,
  };
}

/** Raw sequential write of `total` bytes in `chunk`-byte writes with one fdatasync per `perSync` bytes. */
function rawWrite(total: number, chunk: number, perSync: number): number {
  const file = path.join(root, 'raw.bin');
  const buf = Buffer.alloc(Math.max(1, Math.round(chunk)), 7);
  const fd = fs.openSync(file, 'w');
  const t = performance.now();
  let done = 0;
  let since = 0;
  while (done < total) {
    fs.writeSync(fd, buf);
    done += buf.length;
    since += buf.length;
    if (since >= perSync) {
      fs.fdatasyncSync(fd);
      since = 0;
    }
  }
  fs.fdatasyncSync(fd);
  const s = (performance.now() - t) / 1000;
  fs.closeSync(fd);
  fs.rmSync(file);
  return total / 1e6 / s;
}

/** Ack latency at a paced rate: `ratePps` points/s in 1000-point scalar batches. */
async function paced(ratePps: number, i: number): Promise<{ p50: number; p99: number }> {
  const dir = path.join(root, `paced-${i}`);
  fs.mkdirSync(dir, { recursive: true });
  const wal = new WalWriter(dir);
  const g = new ScalarGenerator(sOpts, 5, 0n);
  const batches = Array.from({ length: 16 }, () => g.generate(1000, 'bench.tags'));
  const periodMs = (1000 / ratePps) * 1000;
  const count = Math.round((PACED_S * 1000) / periodMs);
  const lat = new Float64Array(count);
  const acks: Promise<void>[] = [];
  const t0 = performance.now();
  for (let k = 0; k < count; k++) {
    const due = t0 + k * periodMs;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const t = performance.now();
    acks.push(wal.append(RecordType.BATCH, encodeBatch(batches[k % batches.length]!)).then(() => void (lat[k] = performance.now() - t)));
  }
  await Promise.all(acks);
  await wal.close();
  fs.rmSync(dir, { recursive: true, force: true });
  lat.sort();
  return { p50: lat[Math.floor(count * 0.5)]!, p99: lat[Math.min(count - 1, Math.floor(count * 0.99))]! };
}

function replay(dir: string): { mbps: number; rawMbps: number } {
  const files = walSegments(dir).map((s) => s.file);
  const bytes = files.reduce((a, f) => a + fs.statSync(f).size, 0);
  let t = performance.now();
  for (const f of files) fs.readFileSync(f);
  const rawMbps = bytes / 1e6 / ((performance.now() - t) / 1000);
  t = performance.now();
  const scan = scanWal(dir);
  let rows = 0;
  for (const r of scan.records) if (r.type === RecordType.BATCH) rows += decodeBatch(r.payload).batch.numRows;
  if (scan.corruption || rows === 0) throw new Error('replay found nothing or corruption');
  return { mbps: bytes / 1e6 / ((performance.now() - t) / 1000), rawMbps };
}

const fmt = (x: number, d = 1) => x.toFixed(d);
const rows: Parameters<typeof printTable>[1] = [];
for (const [tag, pool] of [['scalar 64k-point batches', scalarPool], ['waveform batches', wavePool]] as const) {
  const runs = await repeat(REPS, async (i) => {
    const w = await throughWal(pool, tag.split(' ')[0]!, i);
    const raw = rawWrite(TOTAL_MB * 1024 * 1024, w.chunk, w.bytesPerFsync);
    const r = replay(w.dir);
    fs.rmSync(w.dir, { recursive: true, force: true });
    return { ...w, raw, replay: r };
  });
  const m = (f: (x: (typeof runs)[number]) => number) => median(runs.map(f));
  const raw = m((x) => x.raw);
  rows.push({ measure: `${tag}: acked MB/s (fsync mode)`, value: fmt(m((x) => x.mbps)), reference: `raw write+fdatasync same cadence ${fmt(raw)} MB/s`, ratio: fmt(m((x) => x.mbps) / raw, 2) });
  rows.push({ measure: `${tag}: acked points/s`, value: `${fmt(m((x) => x.pps) / 1e6, 2)} M`, reference: '' });
  rows.push({ measure: `${tag}: fsyncs/s (bytes per fsync)`, value: `${fmt(m((x) => x.fsyncsPerS))} (${fmt(m((x) => x.bytesPerFsync) / 1e6, 2)} MB)`, reference: '' });
  if (tag.startsWith('waveform')) rows.push({ measure: 'waveform: WAL bytes written per sample byte', value: fmt(m((x) => x.walBytesPerSampleByte), 3), reference: 'samples written once, inline' });
  const rp = m((x) => x.replay.mbps);
  const rr = m((x) => x.replay.rawMbps);
  rows.push({ measure: `${tag}: recovery replay MB/s (scan+CRC+decode)`, value: fmt(rp), reference: `plain read ${fmt(rr)} MB/s`, ratio: fmt(rp / rr, 2) });
}
const lat = await repeat(REPS, (i) => paced(100_000, i), 0);
rows.push({ measure: 'ack latency at paced 100k points/s (1000-pt batches): p50 / p99 ms', value: `${fmt(median(lat.map((x) => x.p50)), 2)} / ${fmt(median(lat.map((x) => x.p99)), 2)}`, reference: 'group commit 2 ms' });
printTable(`WAL bench: ${TOTAL_MB} MB per run, ${WINDOW_BYTES >> 20} MiB in flight, ${REPS} runs, ${os.tmpdir()}`, rows);
