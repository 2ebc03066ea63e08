/**
 * The same scalar load through daq's durable path and through InfluxDB 1.6 (Debian package
 * `influxdb`, private instance on loopback, `wal-fsync-delay = "0s"`: fsync on every write), both
 * acknowledging only durable writes. Payloads are prepared before the clock starts for both.
 * `npm run bench:peers` (BENCH_POINTS, BENCH_REPS). Needs /usr/bin/influxd
 * (`apt-get install influxdb`).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StorageSink } from '../../src/storage/storage-sink.ts';
import { ScalarGenerator, simScalarOptions, simScalarTags } from '../../src/instruments/sim-scalar.ts';
import { scalarColumns, scalarSchema } from '../../src/schema/scalar.ts';
import type { StreamBatch } from '../../src/schema/batch.ts';
import { startInflux } from './peers/influx.ts';
import { envInt, median, printTable, repeat } from './harness.ts';

const POINTS = envInt('BENCH_POINTS', 2_000_000);
const REPS = envInt('BENCH_REPS', 3);
const BATCH = 10_000;
const TAGS = 10_000;

if (!fs.existsSync('/usr/bin/influxd')) {
  console.error('bench:peers needs InfluxDB 1.6: apt-get install influxdb');
  process.exit(2);
}
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'daq-peers-'));
const opts = simScalarOptions.parse({ tags: TAGS, rate_hz: 10 });
const batches: StreamBatch[] = [];
const g = new ScalarGenerator(opts, 1, 1_790_000_000_000_000_000n);
for (let n = 0; n < POINTS; n += BATCH) batches.push(g.generate(BATCH, 'plant.tags'));
// The same points as InfluxDB line protocol, one body per batch.
const bodies = batches.map((b) => {
  const c = scalarColumns(b.batch);
  const lines: string[] = new Array(c.tag.length);
  for (let i = 0; i < c.tag.length; i++) lines[i] = `plant,tag=tag${c.tag[i]} value=${c.value[i]},quality=${c.quality[i]}i ${c.timestampNs[i]}`;
  return Buffer.from(lines.join('\n'));
});

async function ours(rep: number): Promise<number> {
  const dir = path.join(base, `daq${rep}`);
  fs.mkdirSync(dir);
  const sink = new StorageSink({ epochS: 3600, epochMiB: 64 });
  await sink.open({ runId: 'peer', dir, t0UnixNs: 0n, config: {}, software: 'bench' });
  sink.addStream({ name: 'plant.tags', kind: 'scalar', schema: scalarSchema, tags: simScalarTags(opts), lineage: { plugin: 'b', version: '1', optionsHash: '', inputs: [] } });
  const t = performance.now();
  await Promise.all(batches.map((b) => sink.write(b)));
  const s = (performance.now() - t) / 1000;
  await sink.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return POINTS / s;
}

async function influx(rep: number): Promise<number> {
  const ix = await startInflux(path.join(base, `influx${rep}`), 18086 + rep * 2);
  try {
    await ix.query('CREATE DATABASE bench');
    let next = 0;
    const t = performance.now();
    await Promise.all(
      [0, 1, 2, 3].map(async () => {
        while (next < bodies.length) await ix.write('bench', bodies[next++]!);
      }),
    );
    return POINTS / ((performance.now() - t) / 1000);
  } finally {
    await ix.stop();
  }
}

try {
  const d = await repeat(REPS, (i) => ours(i), 0);
  const ix = await repeat(REPS, (i) => influx(i), 0);
  printTable(`peer: ${POINTS / 1e6} M scalar points, ${TAGS} tags, durable acknowledgment, ${REPS} runs`, [
    {
      measure: 'points/s acknowledged durable: daq WAL (group commit) vs InfluxDB 1.6 (fsync per write, 4 writers, 10k-point line-protocol bodies)',
      value: `daq ${(median(d) / 1e6).toFixed(2)} M/s`,
      reference: `InfluxDB ${(median(ix) / 1e6).toFixed(2)} M/s`,
      ratio: (median(d) / median(ix)).toFixed(1),
      goal: '>= 3x',
    },
  ]);
} finally {
  fs.rmSync(base, { recursive: true, force: true });
}
