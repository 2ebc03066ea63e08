import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pl from 'nodejs-polars';
import { daq } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { openRun, type RunReader } from '../../src/query/open-run.ts';
import { RECORD_FIELDS } from '../../src/schema/waveform.ts';

/**
 * Interop: Arrow IPC files written by `daq export --format arrow` (child process, daemon-written
 * run) read by an independent reader, nodejs-polars (Rust arrow2/polars IPC reader, via its
 * native linux-x64-gnu package), every value compared exactly with openRun.
 */
const t = tmpDir('daq-export-polars-');
let run: RunReader;
let out = '';

type Typed = ArrayLike<unknown> & ArrayBufferView;
function expectSame(got: Typed, want: Typed, what: string): void {
  expect(got.constructor.name, what).toBe(want.constructor.name);
  expect(got.length, what).toBe(want.length);
  if (!Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(Buffer.from(want.buffer, want.byteOffset, want.byteLength))) {
    let i = 0;
    while (got[i] === want[i]) i++;
    expect(got[i], `${what}[${i}]`).toBe(want[i]);
  }
}

beforeAll(async () => {
  const p = daq(['run', '--out', path.join(t.dir, 'data'), '--duration', '2', '--quiet', '--port', '0', '--log-level', 'warn']);
  expect((await p.exit).code, p.stderr()).toBe(0);
  const runDir = p.stdout().trim();
  run = await openRun(runDir);
  out = path.join(t.dir, 'arrow');
  const e = daq(['export', runDir, '--format', 'arrow', '--out', out, '--quiet']);
  expect((await e.exit).code, e.stderr()).toBe(0);
}, 60_000);

afterAll(() => {
  run?.close();
  t.cleanup();
});

describe('daq export --format arrow read by nodejs-polars', () => {
  it('records: int64/int32/int16/uint32/float64 columns and uint16 waveforms (list<uint16>) exact', () => {
    // readIPC takes a path only when it ends in .ipc (otherwise the string is parsed as the body):
    // read once from a Buffer and once through a .ipc link to the file.
    const file = path.join(out, 'records.arrow');
    fs.symlinkSync(file, path.join(out, 'records.ipc'));
    const viaPath = pl.readIPC(path.join(out, 'records.ipc'));
    const df = pl.readIPC(fs.readFileSync(file));
    expect(viaPath.frameEqual(df)).toBe(true);
    const r = run.records;
    expect(df.height).toBe(r.length);
    expect(r.length).toBeGreaterThan(100);
    expect(df.dtypes.map(String)).toEqual([
      'Int64', 'Int32', 'Int16', 'Float64', 'Int64', 'Int32', 'Int16', 'UInt32', 'Int64', 'Int32', 'Int64', 'List(UInt16)',
    ].map((d) => `DataType(${d.replace('List(UInt16)', 'List(DataType(UInt16))')})`));
    for (const f of RECORD_FIELDS) expectSame(df.getColumn(f.name).toTypedArray() as Typed, r.columns[f.name], f.name);
    // `time` is Unix ns (> 2^53): exact only if nothing went through a double.
    expect(r.columns.time[0]! > 2n ** 53n).toBe(true);

    const samples = df.getColumn('samples');
    const flat = samples.explode().toTypedArray() as Uint16Array;
    const stored = [...r.iterBatches(4096)].map((b) => b.samples);
    const want = new Uint16Array(stored.reduce((n, s) => n + s.length, 0));
    let o = 0;
    for (const s of stored) { want.set(s, o); o += s.length; }
    expectSame(flat, want, 'samples (exploded)');
    const rows = samples.toArray() as unknown as number[][];
    for (let i = 0; i < r.length; i++) expect(rows[i]!.length).toBe(r.columns.event_length[i]);
    for (const i of [0, r.length >> 1, r.length - 1]) expect(Uint16Array.from(rows[i]!)).toEqual(r.rawWave(i));
  });

  it('scalars: int64 timestamp_ns, uint32 tag, string name, float64 value, uint8 quality exact', () => {
    const stream = run.scalarStreams()[0]!;
    const df = pl.readIPC(fs.readFileSync(path.join(out, `scalars.${stream}.arrow`)));
    const all = run.readWindow(-(2n ** 63n), 2n ** 63n - 1n, { stream });
    expect(df.height).toBe(all.numRows);
    expect(df.columns).toEqual(['timestamp_ns', 'tag', 'name', 'value', 'quality']);
    expect(df.dtypes.map(String)).toEqual(['Int64', 'UInt32', 'String', 'Float64', 'UInt8'].map((d) => `DataType(${d})`));
    for (const c of ['timestamp_ns', 'tag', 'value', 'quality']) expectSame(df.getColumn(c).toTypedArray() as Typed, all.getChild(c)!.toArray() as Typed, c);
    const tags = run.tags(stream);
    const nameOf = new Map(Array.from(tags.id, (id, k) => [id, tags.name[k]!]));
    const ids = all.getChild('tag')!.toArray() as Uint32Array;
    const names = df.getColumn('name').toArray() as string[];
    expect(names).toEqual(Array.from(ids, (id) => nameOf.get(id)));
    expect(new Set(names).size).toBe(tags.id.length);
  });
});
