import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StorageSink } from '../../../src/storage/storage-sink.ts';
import { recoverRun } from '../../../src/storage/recover-run.ts';
import type { SegmentContent, SegmentSummary } from '../../../src/storage/segment.ts';
import { ScalarGenerator, simScalarOptions, simScalarTags } from '../../../src/instruments/sim-scalar.ts';
import { ChannelGenerator, simDigitizerOptions } from '../../../src/instruments/sim-digitizer.ts';
import { scalarSchema } from '../../../src/schema/scalar.ts';
import { recordsSchema } from '../../../src/schema/waveform.ts';
import type { StreamBatch, StreamInfo, WaveBatch } from '../../../src/schema/batch.ts';
import type { RunInfo } from '../../../src/pipeline/types.ts';
import { walSegments } from '../../../src/storage/wal/wal-reader.ts';
import { concatScalar } from '../../helpers/scalar.ts';
import { tmpDir } from '../../helpers/tmp.ts';
import { POOL_DATA_OFFSET } from '../../../src/storage/hdf5/pool-header.ts';

let cleanup: (() => void) | null = null;
afterEach(() => cleanup?.());

const T0 = 1_790_000_000_000_000_000n;
const lineage = { plugin: 'sim', version: '1', optionsHash: 'abc', inputs: [] };
const sOpts = simScalarOptions.parse({ tags: 20, rate_hz: 10 });
const tagsInfo: StreamInfo = { name: 'plant.tags', kind: 'scalar', schema: scalarSchema, lineage, tags: simScalarTags(sOpts) };
const recInfo: StreamInfo = { name: 'records', kind: 'waveform', schema: recordsSchema, lineage, dtNs: 4, channels: [0] };

/** A pooled part's samples, read from its pool file (finished by the sink before the segment). */
function poolSamples(dir: string, pool: { file: string; samples: number }): number[] {
  const buf = fs.readFileSync(path.join(dir, pool.file));
  expect(buf.length).toBe(POOL_DATA_OFFSET + 2 * pool.samples);
  return [...new Uint16Array(buf.buffer, buf.byteOffset + POOL_DATA_OFFSET, pool.samples)];
}

/** Test double of the HDF5 writer: the segment's arrays as JSON, tmp + fsync + rename. */
async function jsonSegment(dir: string, c: SegmentContent): Promise<SegmentSummary> {
  const name = `seg-${String(c.index).padStart(6, '0')}.h5`;
  const body = JSON.stringify({
    index: c.index,
    runId: c.runId,
    t0: c.t0UnixNs.toString(),
    scalars: c.scalars.map((s) => ({ stream: s.stream, ts: [...s.timestampNs].map(String), tag: [...s.tag], value: [...s.value] })),
    waves: c.waves.map((w) => ({ stream: w.stream, primary: w.primary, samples: w.pool ? poolSamples(dir, w.pool) : [...w.samples], events: w.records.timestamp.length })),
  });
  const tmp = path.join(dir, `${name}.tmp`);
  const fd = fs.openSync(tmp, 'w');
  fs.writeSync(fd, body);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fs.renameSync(tmp, path.join(dir, name));
  return { path: path.join(dir, name), bytes: body.length, scalarPoints: 0, records: 0, samples: 0, durationMs: 0 };
}

interface Seg { index: number; runId: string; t0: string; scalars: Array<{ ts: string[]; tag: number[]; value: number[] }>; waves: Array<{ primary: boolean; samples: number[]; events: number }> }
const segments = (dir: string): Seg[] =>
  fs.readdirSync(dir).filter((f) => /^seg-\d{6}\.h5$/.test(f)).sort().map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Seg);

function data() {
  const g = new ScalarGenerator(sOpts, 3, T0);
  const scal: StreamBatch[] = Array.from({ length: 6 }, () => g.generate(100, 'plant.tags'));
  const cg = new ChannelGenerator(simDigitizerOptions.parse({ trigger_rate_hz: 500, max_length: 500 }), 3, 0, T0);
  const waves: WaveBatch[] = [1n, 2n].map((k) => ({ ...cg.generate(k * 20_000_000_000n, 'records')!, stream: 'records' }));
  return { scal, waves };
}

describe('recoverRun (daq recover DIR)', () => {
  it('rebuilds exactly the segments a crash left missing, once, from run.json identity', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const run: RunInfo = { runId: 'run-7', dir: t.dir, t0UnixNs: T0, config: { a: 1 }, software: 'daq test' };
    fs.writeFileSync(path.join(t.dir, 'run.json'), JSON.stringify({ run_id: 'run-7', t0_unix_ns: T0.toString(), software: 'daq test', config: { a: 1 } }));
    const { scal, waves } = data();

    // A first session closes cleanly: segment 0 holds batches 0-2.
    const a = new StorageSink({ writeSegment: jsonSegment, epochS: 3600 });
    await a.open(run);
    a.addStream(tagsInfo);
    a.addStream(recInfo);
    await Promise.all([a.write(scal[0]!), a.write(waves[0]!), a.write(scal[1]!), a.write(scal[2]!)]);
    await a.close();
    // A second session on the same folder crashes after acknowledgement: no close, no segment.
    const b = new StorageSink({ writeSegment: jsonSegment, epochS: 3600 });
    await b.open(run);
    await expect(b.write(scal[3]!)).rejects.toMatchObject({ code: 'DAQ_ERR_STREAM_UNKNOWN' }); // addStream first
    b.addStream(tagsInfo);
    b.addStream(recInfo);
    await Promise.all([b.write(scal[3]!), b.write(waves[1]!), b.write(scal[4]!), b.write(scal[5]!)]);
    expect(segments(t.dir).length).toBe(1);
    const st = b.stats();
    expect(st['buffered_bytes']).toBeGreaterThan(0); // the open epoch holds the 4 batches
    expect(st['bytes_written']).toBeGreaterThan(waves[1]!.samples.byteLength);
    expect(st['fsyncs_total']).toBeGreaterThan(0);
    expect(st['ack_p99_ms']).toBeGreaterThanOrEqual(st['ack_p50_ms']!);
    expect(st['bytes_per_sample_byte']).toBeGreaterThan(1); // scalars and framing ride along
    expect(st['pool_bytes_written']).toBe(waves[1]!.samples.byteLength);

    const res = await recoverRun(t.dir, { writeSegment: jsonSegment });
    expect(res.recovery).toMatchObject({ replayedRecords: 4, rebuiltSegments: 1, corruption: null });
    expect(res.run).toMatchObject({ runId: 'run-7', t0UnixNs: T0, software: 'daq test' });
    expect(walSegments(path.join(t.dir, 'wal'))).toEqual([]);
    expect(fs.existsSync(path.join(t.dir, 'LOCK'))).toBe(false);

    const segs = segments(t.dir);
    expect(segs.map((s) => s.index)).toEqual([0, 1]);
    expect(segs[1]!.runId).toBe('run-7');
    expect(segs[1]!.t0).toBe(T0.toString());
    const first = concatScalar(scal.slice(0, 3));
    const second = concatScalar(scal.slice(3));
    expect(segs[0]!.scalars[0]!.value).toEqual([...first.value]);
    expect(segs[1]!.scalars[0]!.value).toEqual([...second.value]);
    expect(segs[1]!.scalars[0]!.ts).toEqual([...second.ts].map(String));
    expect(segs[0]!.waves[0]!.samples).toEqual([...waves[0]!.samples]);
    expect(segs[1]!.waves[0]!.samples).toEqual([...waves[1]!.samples]);
    expect(segs[1]!.waves[0]!.primary).toBe(true);

    // Recovering a recovered run changes nothing.
    const again = await recoverRun(t.dir, { writeSegment: jsonSegment });
    expect(again.recovery).toMatchObject({ replayedRecords: 0, rebuiltSegments: 0 });
    expect(segments(t.dir).length).toBe(2);
  });

  it('a segment finished but not checkpointed before the crash is rebuilt, not stored twice', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const run: RunInfo = { runId: 'run-8', dir: t.dir, t0UnixNs: T0, config: null, software: 'daq test' };
    fs.writeFileSync(path.join(t.dir, 'run.json'), JSON.stringify({ run_id: 'run-8', t0_unix_ns: T0.toString() }));
    const { scal, waves } = data();
    // The process dies right after the segment's rename, before its checkpoint is logged.
    let written!: () => void;
    const segmentDone = new Promise<void>((r) => (written = r));
    const dying = async (dir: string, c: SegmentContent) => {
      await jsonSegment(dir, c);
      written();
      return new Promise<SegmentSummary>(() => {});
    };
    const a = new StorageSink({ writeSegment: dying, epochS: 0.05 }); // the epoch timer cuts the segment
    await a.open(run);
    a.addStream(tagsInfo);
    a.addStream(recInfo);
    await Promise.all([a.write(scal[0]!), a.write(waves[0]!), a.write(scal[1]!)]);
    await segmentDone;
    expect(segments(t.dir).map((s) => s.index)).toEqual([0]);

    const res = await recoverRun(t.dir, { writeSegment: jsonSegment });
    expect(res.recovery).toMatchObject({ uncheckpointed: ['seg-000000.h5'], replayedRecords: 3, corruption: null });
    const segs = segments(t.dir);
    expect(segs.map((s) => s.index)).toEqual([0]);
    const all = segs.flatMap((s) => s.scalars.flatMap((x) => x.value));
    expect(all).toEqual([...concatScalar(scal.slice(0, 2)).value]);
    expect(segs.flatMap((s) => s.waves.flatMap((w) => w.samples))).toEqual([...waves[0]!.samples]);
  });

  it('refuses a folder that is not a run, and one without a run clock origin', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    await expect(recoverRun(t.dir)).rejects.toMatchObject({ code: 'DAQ_ERR_RUN_NOT_FOUND' });
    fs.mkdirSync(path.join(t.dir, 'wal'));
    await expect(recoverRun(t.dir, { writeSegment: jsonSegment })).rejects.toMatchObject({ code: 'DAQ_ERR_RUN_NOT_FOUND', message: expect.stringContaining('t0_unix_ns') });
  });
});
