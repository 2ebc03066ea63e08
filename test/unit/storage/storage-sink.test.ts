import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { StorageSink } from '../../../src/storage/storage-sink.ts';
import { ScalarGenerator, simScalarOptions, simScalarTags } from '../../../src/instruments/sim-scalar.ts';
import { ChannelGenerator, simDigitizerOptions } from '../../../src/instruments/sim-digitizer.ts';
import { scalarSchema } from '../../../src/schema/scalar.ts';
import { recordColumns, recordsSchema } from '../../../src/schema/waveform.ts';
import type { StreamBatch, StreamInfo, WaveBatch } from '../../../src/schema/batch.ts';
import type { RunInfo } from '../../../src/pipeline/types.ts';
import { walSegments } from '../../../src/storage/wal/wal-reader.ts';
import { concatScalar } from '../../helpers/scalar.ts';
import { h5dump, py, tagIndexRows } from '../../helpers/h5py.ts';
import { POOL_DATA_OFFSET } from '../../../src/storage/hdf5/pool-header.ts';
import { tmpDir } from '../../helpers/tmp.ts';
import { openRun } from '../../../src/query/open-run.ts';

let cleanup: (() => void) | null = null;
afterEach(() => cleanup?.());

const T0 = 1_790_000_000_000_000_000n;
const lineage = { plugin: 'sim', version: '1', optionsHash: 'abc', inputs: [] };
const sOpts = simScalarOptions.parse({ tags: 50, rate_hz: 10 });
const tagsInfo: StreamInfo = { name: 'plant.tags', kind: 'scalar', schema: scalarSchema, lineage, tags: simScalarTags(sOpts) };
const recInfo: StreamInfo = { name: 'records', kind: 'waveform', schema: recordsSchema, lineage: { ...lineage, inputs: ['d.ch0'] }, dtNs: 4, channels: [0] };

function runInfo(dir: string): RunInfo {
  return { runId: 'run-1', dir, t0UnixNs: T0, config: { hello: 'world' }, software: 'daq test' };
}

function data() {
  const g = new ScalarGenerator(sOpts, 3, T0);
  const scal: StreamBatch[] = Array.from({ length: 6 }, () => g.generate(250, 'plant.tags'));
  const cg = new ChannelGenerator(simDigitizerOptions.parse({ trigger_rate_hz: 500, max_length: 3000 }), 3, 0, T0);
  const waves: WaveBatch[] = [1n, 2n, 3n].map((k) => ({ ...cg.generate(k * 100_000_000_000n, 'records')!, stream: 'records' }));
  return { scal, waves };
}

async function writeAll(sink: StorageSink, scal: StreamBatch[], waves: WaveBatch[]) {
  sink.addStream(tagsInfo);
  sink.addStream(recInfo);
  const acks: Promise<void>[] = [];
  for (let i = 0; i < 6; i++) {
    acks.push(sink.write(scal[i]!));
    if (i < 3) acks.push(sink.write(waves[i]!));
  }
  await Promise.all(acks);
}

/** Everything stored in a run folder, read back by h5py, concatenated across segments. */
function stored(dir: string) {
  const segs = fs.readdirSync(dir).filter((f) => /^seg-\d{6}\.h5$/.test(f)).sort();
  const acc = { ts: [] as number[], tag: [] as number[], value: [] as number[], rec: [] as number[], waves: [] as number[][], segs, dumps: [] as ReturnType<typeof h5dump>[] };
  for (const s of segs) {
    const d = h5dump(path.join(dir, s));
    acc.dumps.push(d);
    const sc = 'scalars/plant.tags';
    if (d.datasets[`${sc}/value`]) {
      acc.ts.push(...(d.datasets[`${sc}/timestamp_ns`] as number[]));
      // No per-point tag column: tag k of the index names rows [start, start+count).
      const { tag: tags, start, count } = tagIndexRows(d, sc);
      expect(d.datasets[`${sc}/tag`]).toBeUndefined();
      tags.forEach((tg, k) => {
        expect(start[k]).toBe(k === 0 ? 0 : start[k - 1]! + count[k - 1]!); // contiguous, in tag order
        for (let r = 0; r < count[k]!; r++) acc.tag.push(tg);
      });
      expect(acc.tag.length).toBe(acc.ts.length); // every row named
      acc.value.push(...(d.datasets[`${sc}/value`] as number[]));
    }
    if (d.datasets['records/timestamp']) {
      const off = d.datasets['records/wave_offset'] as number[];
      const len = d.datasets['records/event_length'] as number[];
      const pool = d.datasets['wave_pool'] as number[];
      acc.rec.push(...(d.datasets['records/timestamp'] as number[]));
      off.forEach((o, i) => acc.waves.push(pool.slice(o, o + len[i]!)));
    }
  }
  return acc;
}

function expected(scal: StreamBatch[], waves: WaveBatch[]) {
  const s = concatScalar(scal);
  // Per segment the writer sorts by (tag, time); with one segment that is the global order.
  const order = Array.from(s.tag.keys()).sort((a, b) => s.tag[a]! - s.tag[b]! || Number(s.ts[a]! - s.ts[b]!));
  const wv: number[][] = [];
  const rec: number[] = [];
  for (const w of waves) {
    const c = recordColumns(w.batch);
    for (let i = 0; i < w.batch.numRows; i++) {
      rec.push(Number(c.timestamp[i]));
      wv.push([...w.samples.subarray(Number(c.wave_offset[i]), Number(c.wave_offset[i]) + c.event_length[i]!)]);
    }
  }
  return { ts: order.map((i) => Number(s.ts[i])), tag: order.map((i) => s.tag[i]!), value: order.map((i) => s.value[i]!), rec, wv };
}

describe('StorageSink', () => {
  it('writes HDF5 segments that native h5py reads exactly, with the layout contract', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const { scal, waves } = data();
    const sink = new StorageSink({ epochS: 3600 });
    await sink.open(runInfo(t.dir));
    await writeAll(sink, scal, waves);
    await sink.close();
    const got = stored(t.dir);
    const exp = expected(scal, waves);
    expect(got.segs).toEqual(['seg-000000.h5']);
    expect(got.ts).toEqual(exp.ts);
    expect(got.tag).toEqual(exp.tag);
    expect(got.value).toEqual(exp.value);
    expect(got.rec).toEqual(exp.rec);
    expect(got.waves).toEqual(exp.wv);
    const d = got.dumps[0]!;
    expect(d.attrs['/']).toMatchObject({ run_id: 'run-1', software: 'daq test', NX_class: 'NXentry', segment_index: 0 });
    expect(JSON.parse(d.attrs['/']!['config'] as string)).toEqual({ hello: 'world' });
    expect(JSON.parse(d.attrs['/']!['lineage'] as string)['records']).toMatchObject({ plugin: 'sim', inputs: ['d.ch0'] });
    expect(d.attrs['/']!['t0_unix_ns']).toEqual(Number(T0)); // scalar int64 attribute
    expect(d.attrs['records/timestamp']).toEqual({ units: 'ps' });
    expect(d.attrs['records']).toMatchObject({ NX_class: 'NXdata', signal: 'event_length' });
    expect(d.attrs['wave_pool']).toMatchObject({ global_offset: 0, units: 'ADC counts' });
    // Tag index: one tag's rows are [start, start+count), each of them tag 7's (from the source).
    const idx = tagIndexRows(d, 'scalars/plant.tags');
    const k = idx.tag.indexOf(7);
    const rows = exp.tag.slice(idx.start[k]!, idx.start[k]! + idx.count[k]!);
    expect(rows.every((x) => x === 7)).toBe(true);
    expect(rows.length).toBe(exp.tag.filter((x) => x === 7).length);
    expect(d.datasets['scalars/plant.tags/tags/name']!.slice(0, 2)).toEqual(['tag0', 'tag1']);
    // Every field of the records table is there, with its HDF5 type (h5dump -H, the native tool).
    const header = execFileSync('h5dump', ['-H', path.join(t.dir, 'seg-000000.h5')], { encoding: 'utf8' });
    for (const [name, type] of [['timestamp', 'H5T_STD_I64LE'], ['channel', 'H5T_STD_I16LE'], ['flags', 'H5T_STD_U32LE'], ['baseline', 'H5T_IEEE_F64LE']]) {
      expect(header).toMatch(new RegExp(`DATASET "${name}" \\{\\s*DATATYPE\\s+${type}`));
    }
    // /wave_pool links the pool file the samples were written to once; h5dump follows the link.
    expect(header).toMatch(/EXTERNAL_LINK "wave_pool" \{\s*TARGETFILE "wave_pool-000000\.records\.h5"\s*TARGETPATH "\/wave_pool"\s*DATASET "\/wave_pool" \{\s*DATATYPE\s+H5T_STD_U16LE/);
    // The WAL is gone after a clean close: everything is in segments.
    expect(walSegments(path.join(t.dir, 'wal'))).toEqual([]);
  });

  it.each([1, 2])('cuts segments by size and carries global wave-pool offsets across them (%i writer threads)', async (writerThreads) => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const { scal, waves } = data();
    const sink = new StorageSink({ epochS: 3600, epochMiB: 0.05, poolMiB: 0.05, writerThreads });
    await sink.open(runInfo(t.dir));
    await writeAll(sink, scal, waves);
    await sink.close();
    const got = stored(t.dir);
    expect(got.segs.length).toBeGreaterThan(2);
    const exp = expected(scal, waves);
    expect(got.rec).toEqual(exp.rec);
    expect(got.waves).toEqual(exp.wv);
    expect(got.ts.length).toBe(exp.ts.length);
    const offsets = got.dumps.filter((d) => d.attrs['wave_pool']).map((d) => d.attrs['wave_pool']!['global_offset'] as number);
    const sizes = got.dumps.filter((d) => d.datasets['wave_pool']).map((d) => (d.datasets['wave_pool'] as number[]).length);
    offsets.forEach((o, i) => expect(o).toBe(sizes.slice(0, i).reduce((a, b) => a + b, 0)));
  });

  it('across sessions: stores a tag table once per session (later segments name its segment), numbers records and wave-pool offsets on', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const { scal, waves } = data();
    for (let session = 0; session < 2; session++) {
      const sink = new StorageSink({ epochS: 3600, epochMiB: 0.05, poolMiB: 0.05 });
      await sink.open(runInfo(t.dir));
      await writeAll(sink, scal, waves);
      await sink.close();
    }
    const got = stored(t.dir);
    const g = 'scalars/plant.tags';
    const withPoints = got.dumps.map((d, i) => ({ d, i })).filter(({ d }) => d.datasets[`${g}/value`]);
    expect(withPoints.length).toBeGreaterThan(3);
    // Each session stores the table in its first scalar segment; every other one points to it.
    const holders = withPoints.filter(({ d }) => d.datasets[`${g}/tags/name`]).map(({ i }) => i);
    expect(holders.length).toBe(2);
    for (const { d, i } of withPoints) {
      const holder = Math.max(...holders.filter((h) => h <= i));
      expect(d.attrs[g]!['tags_segment'], `segment ${i}`).toBe(holder);
    }
    expect(got.dumps[holders[0]!]!.datasets[`${g}/tags/name`]).toEqual(tagsInfo.tags!.map((x) => x.name));
    // Records number on across segments and sessions: event_id is the row in the run's records
    // table, and every segment's wave pool starts where the previous one ended.
    const ids = got.dumps.flatMap((d) => (d.datasets['records/event_id'] as number[] | undefined) ?? []);
    expect(ids.length).toBe(2 * expected(scal, waves).rec.length);
    expect(ids).toEqual(ids.map((_, i) => i));
    const pools = got.dumps.filter((d) => d.datasets['wave_pool']);
    let next = 0;
    for (const d of pools) {
      expect(d.attrs['wave_pool']!['global_offset']).toBe(next);
      next += (d.datasets['wave_pool'] as number[]).length;
    }
    // Readers still name every tag in every segment.
    const run = await openRun(t.dir);
    try {
      const name = tagsInfo.tags!.slice(7, 8)[0]!.name;
      const exp = expected(scal, waves);
      const n7 = exp.tag.filter((x) => x === 7).length;
      expect(run.readTag(name, -(2n ** 62n), 2n ** 62n).numRows).toBe(2 * n7);
    } finally {
      run.close();
    }
  });

  it('recovers acknowledged data after a crash: replays the WAL into segments, removes leftovers', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const { scal, waves } = data();
    const crashed = new StorageSink({ epochS: 3600 });
    await crashed.open(runInfo(t.dir));
    await writeAll(crashed, scal, waves); // every write acknowledged (fsynced)...
    // ...then the process "dies": no close, no segment. A half-written segment is left too.
    fs.writeFileSync(path.join(t.dir, 'seg-000000.h5.tmp'), 'partial');
    expect(fs.readdirSync(t.dir).filter((f) => f.endsWith('.h5'))).toEqual(['wave_pool-000000.records.h5']); // samples only, no segment
    // Bytes written after the last acknowledged sample (a write the crash cut before its record),
    // and a pool file no durable record refers to.
    const pool = path.join(t.dir, 'wave_pool-000000.records.h5');
    const poolSize = fs.statSync(pool).size;
    fs.appendFileSync(pool, Buffer.alloc(1000, 7));
    fs.writeFileSync(path.join(t.dir, 'wave_pool-000001.records.h5'), Buffer.alloc(5000, 9));
    const sink = new StorageSink({ epochS: 3600 });
    await sink.open(runInfo(t.dir));
    expect(sink.recovery).toMatchObject({ replayedRecords: 9, rebuiltSegments: 1, removedTmp: ['seg-000000.h5.tmp', 'wave_pool-000001.records.h5'], corruption: null });
    expect(fs.statSync(pool).size).toBe(poolSize);
    expect(fs.existsSync(path.join(t.dir, 'wave_pool-000001.records.h5'))).toBe(false);
    await sink.close();
    const got = stored(t.dir);
    const exp = expected(scal, waves);
    expect(got.value).toEqual(exp.value);
    expect(got.rec).toEqual(exp.rec);
    expect(got.waves).toEqual(exp.wv);
    expect(fs.existsSync(path.join(t.dir, 'seg-000000.h5.tmp'))).toBe(false);
    // The tag table came back from its file (the WAL's stream record only names it).
    expect(got.dumps[0]!.datasets['scalars/plant.tags/tags/name']).toEqual(tagsInfo.tags!.map((x) => x.name));
  });

  it('waveform samples are written once, into the pool file the segment links as /wave_pool; the WAL holds references', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const { scal, waves } = data();
    const sink = new StorageSink({ epochS: 3600 });
    await sink.open(runInfo(t.dir));
    await writeAll(sink, scal, waves);
    const st = sink.stats();
    const sampleBytes = waves.reduce((a, w) => a + w.samples.byteLength, 0);
    expect(st['sample_bytes_in']).toBe(sampleBytes);
    expect(st['pool_bytes_written']).toBe(sampleBytes);
    // The WAL carries records, scalars and framing, not the samples.
    const walBytes = st['wal_bytes_written']!;
    expect(walBytes).toBeLessThan(sampleBytes / 4);
    await sink.close();
    const files = fs.readdirSync(t.dir).filter((f) => f.endsWith('.h5')).sort();
    expect(files).toEqual(['seg-000000.h5', 'wave_pool-000000.records.h5']);
    // Exactly header + samples: nothing written twice, nothing preallocated left over.
    expect(fs.statSync(path.join(t.dir, files[1]!)).size).toBe(POOL_DATA_OFFSET + sampleBytes);
    const link = py<{ link: string[]; n: number; attrs: Record<string, unknown> }>(
      `
import h5py, json, sys
f = h5py.File(sys.argv[1], 'r')
l = f.get('wave_pool', getlink=True)
d = f['wave_pool']
print(json.dumps({'link': [type(l).__name__, l.filename, l.path], 'n': d.shape[0], 'attrs': {k: (d.attrs[k].decode() if isinstance(d.attrs[k], bytes) else d.attrs[k].item() if hasattr(d.attrs[k], 'item') else d.attrs[k]) for k in d.attrs}}))
`,
      [path.join(t.dir, files[0]!)],
    );
    expect(link).toEqual({ link: ['ExternalLink', 'wave_pool-000000.records.h5', '/wave_pool'], n: sampleBytes / 2, attrs: { units: 'ADC counts', global_offset: 0, dt_ns: 4 } });
    // Native HDF5 opens both files and follows the link.
    execFileSync('h5dump', ['-H', path.join(t.dir, files[0]!)], { stdio: 'pipe' });
    execFileSync('h5dump', ['-H', path.join(t.dir, files[1]!)], { stdio: 'pipe' });
  });

  it('a bit flip in a pooled batch\'s samples stops replay there: reported with file and offset, the rest kept aside', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const { scal, waves } = data();
    const crashed = new StorageSink({ epochS: 3600 });
    await crashed.open(runInfo(t.dir));
    await writeAll(crashed, scal, waves);
    const pool = path.join(t.dir, 'wave_pool-000000.records.h5');
    // A byte of the second waveform batch flipped.
    const at = POOL_DATA_OFFSET + waves[0]!.samples.byteLength + 10;
    const fd = fs.openSync(pool, 'r+');
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, at);
    b[0] = b[0]! ^ 0x10;
    fs.writeSync(fd, b, 0, 1, at);
    fs.closeSync(fd);
    const sink = new StorageSink({ epochS: 3600 });
    await sink.open(runInfo(t.dir));
    expect(sink.recovery!.corruption).toContain(pool);
    expect(sink.recovery!.corruption).toContain(`byte ${POOL_DATA_OFFSET + waves[0]!.samples.byteLength}`);
    expect(sink.recovery!.corruption).toContain('CRC32C');
    expect(fs.readdirSync(path.join(t.dir, 'wal')).some((f) => f.endsWith('.corrupt'))).toBe(true);
    await sink.close();
    // Replay stopped at the bad batch: the records before it are stored (the first waveform
    // batch and the scalar batches written before the second one), no waveform of the bad one.
    const got = stored(t.dir);
    const exp = expected(scal, waves.slice(0, 1));
    expect(got.rec).toEqual(exp.rec);
    expect(got.waves).toEqual(exp.wv);
    expect(fs.readFileSync(path.join(t.dir, 'losses.jsonl'), 'utf8')).toContain('CRC32C');
    // The pool file holds the replayed samples only; the rest (of the records moved aside) is kept
    // aside too, byte for byte, flipped byte included.
    const rest = Buffer.concat(waves.slice(1).map((w) => Buffer.from(w.samples.buffer, w.samples.byteOffset, w.samples.byteLength)));
    rest[10] = rest[10]! ^ 0x10;
    expect(fs.statSync(pool).size).toBe(POOL_DATA_OFFSET + waves[0]!.samples.byteLength);
    expect(Buffer.compare(fs.readFileSync(`${pool}.after-corruption`), rest)).toBe(0);
  });

  it('a tag table lives in streams/<stream>.tags.json, not in every WAL stream record; a missing one stops recovery, coded', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const { scal, waves } = data();
    const crashed = new StorageSink({ epochS: 3600 });
    await crashed.open(runInfo(t.dir));
    await writeAll(crashed, scal, waves);
    const file = path.join(t.dir, 'streams', 'plant.tags.tags.json');
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual(tagsInfo.tags!.slice());
    // The STREAM records in the WAL are small: no tag names inline.
    const wal = walSegments(path.join(t.dir, 'wal')).map((w) => fs.readFileSync(w.file));
    expect(wal.some((b) => b.includes('"tags_file":"streams/plant.tags.tags.json"'))).toBe(true);
    expect(wal.some((b) => b.includes(tagsInfo.tags!.slice(1, 2)[0]!.name + '"'))).toBe(false);
    fs.rmSync(file);
    await expect(new StorageSink({ epochS: 3600 }).open(runInfo(t.dir))).rejects.toMatchObject({ code: 'DAQ_ERR_WAL_CORRUPTED', message: expect.stringContaining(file) });
    // The failed open left the folder unlocked and the WAL untouched: with the file back, all is recovered.
    expect(fs.existsSync(path.join(t.dir, 'LOCK'))).toBe(false);
    fs.writeFileSync(file, JSON.stringify(tagsInfo.tags));
    const sink = new StorageSink({ epochS: 3600 });
    await sink.open(runInfo(t.dir));
    expect(sink.recovery).toMatchObject({ replayedRecords: 9, corruption: null });
    await sink.close();
    expect(stored(t.dir).value).toEqual(expected(scal, waves).value);
  });

  it('epoch size: 32 MiB by default, also for a huge tag table; epochMiB when given', async () => {
    const cap = async (opts: ConstructorParameters<typeof StorageSink>[0], infos: StreamInfo[]) => {
      const t = tmpDir();
      const sink = new StorageSink(opts);
      try {
        await sink.open(runInfo(t.dir));
        for (const i of infos) sink.addStream(i);
        return sink.stats()['epoch_cap_bytes'];
      } finally {
        await sink.close();
        t.cleanup();
      }
    };
    const huge: StreamInfo = { ...tagsInfo, name: 'big.tags', tags: simScalarTags(simScalarOptions.parse({ tags: 800_000 })) };
    expect(await cap({}, [tagsInfo])).toBe(32 * 1024 * 1024);
    expect(await cap({}, [tagsInfo, huge])).toBe(32 * 1024 * 1024);
    expect(await cap({ epochMiB: 8 }, [huge])).toBe(8 * 1024 * 1024);
  });

  it('refuses a run folder another live process holds', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    fs.writeFileSync(path.join(t.dir, 'LOCK'), `${process.ppid}\n`);
    const sink = new StorageSink();
    await expect(sink.open(runInfo(t.dir))).rejects.toMatchObject({ code: 'DAQ_ERR_RUN_LOCKED' });
  });
});
