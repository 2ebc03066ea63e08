import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordBatchReader, type RecordBatchFileReader, type Table as ArrowTable, Table, type RecordBatch } from 'apache-arrow';
import { daq, ROOT } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { openRun, type RunReader } from '../../src/query/open-run.ts';
import { exportRun as exportRunApi } from '../../src/query/export-run.ts';
import { RECORD_FIELDS } from '../../src/schema/waveform.ts';

/**
 * `daq export` through the real CLI (child processes) on a run written by the daemon (several
 * segments: epoch 0.7 s over ~2.5 s), every value compared with what openRun reads.
 */
const t = tmpDir('daq-export-cli-');
let runDir = '';
let run: RunReader;
let t0 = 0n;

async function exportRun(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = daq(['export', runDir, ...args]);
  const { code } = await p.exit;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

function readArrowFile(file: string): ArrowTable {
  const reader = RecordBatchReader.from(fs.readFileSync(file));
  expect(reader.isFile()).toBe(true);
  const f = reader as RecordBatchFileReader;
  f.open();
  const batches: RecordBatch[] = [];
  for (let i = 0; i < f.numRecordBatches; i++) batches.push(f.readRecordBatch(i)!);
  return new Table(f.schema, batches);
}

/** A `.npy` written by the exporter (128-byte header, little-endian) as a typed array. */
function readNpy(file: string): ArrayLike<number | bigint> & ArrayBufferView {
  const b = fs.readFileSync(file);
  const header = b.subarray(10, 128).toString('latin1');
  const descr = /'descr': '([^']+)'/.exec(header)![1]!;
  const ctor = { '<i8': BigInt64Array, '<i4': Int32Array, '<i2': Int16Array, '<u4': Uint32Array, '<u2': Uint16Array, '<f8': Float64Array, '|u1': Uint8Array }[descr]!;
  const body = b.subarray(128);
  const copy = new Uint8Array(body.length);
  copy.set(body);
  return new ctor(copy.buffer);
}

const list = (a: ArrayLike<number | bigint>) => Array.from(a);

/** Exact equality of two typed arrays of the same type (bytes), naming the first difference. */
function expectSame(got: ArrayLike<unknown> & ArrayBufferView, want: ArrayLike<unknown> & ArrayBufferView, what: string): void {
  expect(got.constructor.name, what).toBe(want.constructor.name);
  expect(got.length, what).toBe(want.length);
  const a = Buffer.from(got.buffer, got.byteOffset, got.byteLength);
  const b = Buffer.from(want.buffer, want.byteOffset, want.byteLength);
  if (!a.equals(b)) {
    let i = 0;
    while (got[i] === want[i]) i++;
    expect(got[i], `${what}[${i}]`).toBe(want[i]);
  }
}

/** Every waveform of rows [a, b) back to back, from openRun (the reference). */
function storedSamples(a: number, b: number): Uint16Array {
  const parts = [...run.records.iterBatches(4096, { start: a, end: b })].map((x) => x.samples);
  const out = new Uint16Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

beforeAll(async () => {
  const cfgText = fs.readFileSync(path.join(ROOT, 'examples/daemon-config/daq.yaml'), 'utf8').replace(/epoch_s: 60/, 'epoch_s: 0.7');
  expect(cfgText).toContain('epoch_s: 0.7');
  const cfg = path.join(t.dir, 'daq.yaml');
  fs.writeFileSync(cfg, cfgText);
  const p = daq(['run', '--config', cfg, '--out', path.join(t.dir, 'data'), '--duration', '2.5', '--quiet', '--port', '0', '--log-level', 'warn']);
  const { code } = await p.exit;
  expect(code, p.stderr()).toBe(0);
  runDir = p.stdout().trim();
  run = await openRun(runDir);
  expect(run.segmentPaths.length).toBeGreaterThan(1);
  expect(run.records.length).toBeGreaterThan(100);
  t0 = BigInt(run.attrs['t0_unix_ns'] as bigint);
}, 60_000);

afterAll(() => {
  run?.close();
  t.cleanup();
});

describe('daq export (child process, daemon-written run)', () => {
  it('arrow: every record column, every waveform and every scalar point exact; progress on stderr', async () => {
    const out = path.join(t.dir, 'all-arrow');
    const res = await exportRun(['--format', 'arrow', '--out', out]);
    expect(res.code, res.stderr).toBe(0);
    const summary = JSON.parse(res.stdout) as { parts: Array<{ part: string; rows: number }> };
    const r = run.records;
    const stream = run.scalarStreams()[0]!;
    expect(summary.parts.map((p) => [p.part, p.rows])).toEqual([['records', r.length], [`scalars.${stream}`, run.readScalars(stream).tag.length]]);
    const lines = res.stderr.trim().split('\n');
    expect(lines.at(-1)).toBe(`export scalars.${stream}: 100.0% (${summary.parts[1]!.rows}/${summary.parts[1]!.rows} rows)`);
    expect(lines).toContain(`export records: 100.0% (${r.length}/${r.length} rows)`);

    const rec = readArrowFile(path.join(out, 'records.arrow'));
    expect(rec.numRows).toBe(r.length);
    for (const f of RECORD_FIELDS) expectSame(rec.getChild(f.name)!.toArray() as Int32Array, r.columns[f.name], f.name);
    const samples = rec.getChild('samples')!;
    // Each row's list is its waveform: offsets follow event_length, the values are the stored samples.
    const flat = new Uint16Array(samples.data.reduce((n, d) => n + d.children[0]!.length, 0));
    const lengths = new Int32Array(r.length);
    let o = 0;
    let row = 0;
    for (const d of samples.data) {
      const offs = d.valueOffsets as Int32Array;
      for (let k = 0; k < d.length; k++) lengths[row++] = offs[k + 1]! - offs[k]!;
      flat.set((d.children[0]!.values as Uint16Array).subarray(offs[0]!, offs[d.length]!), o);
      o += offs[d.length]! - offs[0]!;
    }
    expectSame(lengths, r.columns.event_length, 'list lengths');
    expectSame(flat, storedSamples(0, r.length), 'samples');
    for (const i of [0, 1, r.length >> 1, r.length - 1]) expectSame(samples.get(i)!.toArray() as Uint16Array, r.rawWave(i), `samples row ${i}`);

    const sc = readArrowFile(path.join(out, `scalars.${stream}.arrow`));
    const all = run.readWindow(-(2n ** 63n), 2n ** 63n - 1n, { stream });
    for (const c of ['timestamp_ns', 'tag', 'value', 'quality']) expectSame(sc.getChild(c)!.toArray() as Int32Array, all.getChild(c)!.toArray() as Int32Array, c);
    const tags = run.tags(stream);
    const nameOf = new Map(Array.from(tags.id, (id, k) => [id, tags.name[k]!]));
    const names = sc.getChild('name')!.toArray() as string[];
    const ids = all.getChild('tag')!.toArray() as Uint32Array;
    for (let i = 0; i < ids.length; i += 97) expect(names[i]).toBe(nameOf.get(ids[i]!));
    expect(sc.schema.metadata.get('daq.t0_unix_ns')).toBe(String(t0));
  }, 60_000);

  it('scalars stream out in bounded pieces: 200-point pieces give the same file as one piece; progress reaches the total', async () => {
    const stream = run.scalarStreams()[0]!;
    const progress: Array<[number, number]> = [];
    const small = await exportRunApi(run, { format: 'arrow', out: path.join(t.dir, 'pieces-small'), records: false, scalarPieceRows: 200, onProgress: (p) => progress.push([p.rows, p.total]) });
    const whole = await exportRunApi(run, { format: 'arrow', out: path.join(t.dir, 'pieces-whole'), records: false });
    const a = readArrowFile(small.parts[0]!.files[0]!);
    const b = readArrowFile(whole.parts[0]!.files[0]!);
    expect(a.numRows).toBeGreaterThan(2000);
    expect(a.batches.length).toBeGreaterThan(a.numRows / 400); // really cut into pieces
    for (const c of ['timestamp_ns', 'tag', 'name', 'value', 'quality']) expect(a.getChild(c)!.toArray(), c).toEqual(b.getChild(c)!.toArray());
    const total = run.scalars(stream).storedRows();
    expect(progress.length).toBeGreaterThan(5);
    expect(progress.every(([, tot]) => tot === total)).toBe(true);
    expect(progress.at(-1)).toEqual([total, total]);
    for (let i = 1; i < progress.length; i++) expect(progress[i]![0]).toBeGreaterThanOrEqual(progress[i - 1]![0]);
  }, 60_000);

  it('npy: time window edges ([from, to), given in ps, exactly at records and points) and the tags filter; --quiet', async () => {
    const r = run.records;
    const ts = r.columns.timestamp;
    // Window from record 40 (inclusive) to the first record after 200 with a different timestamp (exclusive).
    const a = r.timeRange(ts[40]!, ts[40]! + 1n)[0];
    let bIdx = 200;
    while (ts[bIdx] === ts[bIdx - 1]) bIdx++;
    const fromPs = ts[a]!;
    const toPs = ts[bIdx]!;
    const stream = run.scalarStreams()[0]!;
    const names = run.tags(stream).name;
    const want = [names[3]!, names[7]!, names[12]!];
    const out = path.join(t.dir, 'win-npy');
    const res = await exportRun(['--format', 'npy', '--out', out, '--from', `${fromPs}ps`, '--to', `${toPs}ps`, '--tags', `${want[0]},${want[1]}`, want[2]!, '--quiet']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toBe('');
    const [ea, eb] = r.timeRange(fromPs, toPs);
    expect([ea, eb]).toEqual([a, bIdx]);
    const got = readNpy(path.join(out, 'records.timestamp.npy'));
    expect(got.length).toBe(bIdx - a);
    expect(got[0]).toBe(fromPs);
    expect(got[got.length - 1]! < toPs).toBe(true);
    for (const f of RECORD_FIELDS) {
      if (f.name === 'wave_offset') continue;
      expectSame(readNpy(path.join(out, `records.${f.name}.npy`)) as Int32Array, r.columns[f.name].subarray(a, bIdx), f.name);
    }
    const off = readNpy(path.join(out, 'records.wave_offset.npy')) as BigInt64Array;
    const len = readNpy(path.join(out, 'records.event_length.npy')) as Int32Array;
    const flat = readNpy(path.join(out, 'records.samples.npy')) as Uint16Array;
    let at = 0n;
    for (let k = 0; k < len.length; k++) {
      expect(off[k]).toBe(at);
      at += BigInt(len[k]!);
    }
    expectSame(flat, storedSamples(a, bIdx), 'samples');
    expectSame(flat.subarray(Number(off[1]), Number(off[1]) + len[1]!), r.rawWave(a + 1), 'wave a+1');

    // Scalars: the same instants in Unix ns; the reference is openRun's readWindow.
    const expected = run.readWindow(t0 + fromPs / 1000n + (fromPs % 1000n ? 1n : 0n), t0 + toPs / 1000n + (toPs % 1000n ? 1n : 0n), { stream, tags: want });
    expect(expected.numRows).toBeGreaterThan(0);
    const pts = readNpy(path.join(out, `scalars.${stream}.timestamp_ns.npy`));
    expect(list(pts)).toEqual(list(expected.getChild('timestamp_ns')!.toArray()));
    expect(list(readNpy(path.join(out, `scalars.${stream}.value.npy`)))).toEqual(list(expected.getChild('value')!.toArray()));
    const tagIds = new Set(list(readNpy(path.join(out, `scalars.${stream}.tag.npy`))));
    expect(tagIds.size).toBe(3);
    const tagCsv = fs.readFileSync(path.join(out, `scalars.${stream}.tags.csv`), 'utf8').split('\n');
    expect(tagCsv[0]).toBe('id,name,unit,type');
  }, 60_000);

  it('csv: a window given in seconds keeps exactly the points a scalar timestamp bounds; values round-trip', async () => {
    const stream = run.scalarStreams()[0]!;
    const all = run.readScalars(stream);
    // A scalar point exactly at the start (included) and another exactly at the end (excluded).
    const sorted = [...new Set(all.timestampNs)].sort((x, y) => (x < y ? -1 : 1));
    const fromNs = sorted[2]!;
    const toNs = sorted[5]!;
    const sec = (ns: bigint) => { const d = ns - t0; return `${d / 1_000_000_000n}.${String(d % 1_000_000_000n).padStart(9, '0')}`; };
    const out = path.join(t.dir, 'win-csv');
    const res = await exportRun(['--format', 'csv', '--out', out, '--from', sec(fromNs), '--to', sec(toNs), '--no-records']);
    expect(res.code, res.stderr).toBe(0);
    expect(fs.existsSync(path.join(out, 'records.csv'))).toBe(false);
    const rows = fs.readFileSync(path.join(out, `scalars.${stream}.csv`), 'utf8').trim().split('\n');
    expect(rows[0]).toBe('timestamp_ns,tag,name,value,quality');
    const expected = run.readWindow(fromNs, toNs, { stream });
    expect(rows.length - 1).toBe(expected.numRows);
    const ets = expected.getChild('timestamp_ns')!.toArray() as BigInt64Array;
    const ev = expected.getChild('value')!.toArray() as Float64Array;
    let sawFrom = false;
    for (let i = 1; i < rows.length; i++) {
      const [tsText, , , vText] = rows[i]!.split(',');
      expect(BigInt(tsText!)).toBe(ets[i - 1]);
      expect(Number(vText)).toBe(ev[i - 1]);
      expect(BigInt(tsText!) >= fromNs && BigInt(tsText!) < toNs).toBe(true);
      if (BigInt(tsText!) === fromNs) sawFrom = true;
    }
    expect(sawFrom).toBe(true);
  }, 60_000);

  it('csv records: samples as a JSON list equal to the stored waveform', async () => {
    const r = run.records;
    const out = path.join(t.dir, 'rec-csv');
    const res = await exportRun(['--format', 'csv', '--out', out, '--to', `${r.columns.timestamp[30]!}ps`, '--no-scalars', '-q']);
    expect(res.code, res.stderr).toBe(0);
    const lines = fs.readFileSync(path.join(out, 'records.csv'), 'utf8').trim().split('\n');
    expect(lines[0]).toBe(`${RECORD_FIELDS.map((f) => f.name).join(',')},samples`);
    const n = r.timeRange(-(2n ** 63n), r.columns.timestamp[30]!)[1];
    expect(lines.length - 1).toBe(n);
    for (let i = 0; i < n; i++) {
      const m = /^([^,]+),.*,"(\[[^"]*\])"$/.exec(lines[i + 1]!)!;
      expect(BigInt(m[1]!)).toBe(r.columns.timestamp[i]);
      expect(JSON.parse(m[2]!)).toEqual(Array.from(r.rawWave(i)));
    }
  }, 60_000);

  it('bad arguments (more in test/unit/cli/export-command.test.ts): DAQ_ERR_USAGE with exit code 2 and nothing written; a missing run: DAQ_ERR_RUN_NOT_FOUND, exit 1', async () => {
    const out = path.join(t.dir, 'bad');
    const cases: Array<[string[], RegExp]> = [
      [['--out', out], /DAQ_ERR_USAGE: --format is required: one of arrow, csv, npy/],
      [['--format', 'csv', '--from', 'soon', '--out', out], /DAQ_ERR_USAGE: --from: expected a time from the run start like 1.5, 250ms/],
      [['--format', 'arrow', '--tags', 'no-such-tag', '--out', out], /DAQ_ERR_USAGE: --tags: no scalar stream has "no-such-tag" \(the run has \d+ tags, e\.g\. "/],
    ];
    const results = await Promise.all(cases.map(([args]) => exportRun(args)));
    results.forEach((res, k) => {
      expect(res.code, res.stderr).toBe(2);
      expect(res.stderr).toMatch(cases[k]![1]);
      expect(res.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    });
    expect(fs.existsSync(out)).toBe(false);
    const p = daq(['export', path.join(t.dir, 'no-such-run'), '--format', 'arrow', '--out', out]);
    expect((await p.exit).code).toBe(1);
    expect(p.stderr()).toMatch(/DAQ_ERR_RUN_NOT_FOUND: no run folder/);
  }, 90_000);
});
