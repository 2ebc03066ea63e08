/**
 * `daq merge` (mergeParts) throughput: k sorted part files (k = 2, 8, 64; BENCH_RECORDS records in
 * all, default 4 M; mean event BENCH_MEAN_LEN samples, default 32; Poisson timestamps, so the parts
 * interleave event by event) merged into one file, fsynced and renamed, in records/s and MB/s of
 * the parts' record columns and samples. Beside it, in the same run: the same datasets copied with
 * h5wasm and no merge (each part's columns and wave pool read whole and appended to one file with
 * the output's dtypes and chunking, then fsynced), and the part files copied with
 * fs.copyFileSync (then fsynced).
 * `node bin/run-ts.js test/bench/daq-merge.bench.ts`; BENCH_REPS runs per figure (median, the
 * three measures alternating), BENCH_KS picks the part counts (e.g. `BENCH_KS=8`).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import h5wasm from 'h5wasm/node';
import type { Dataset, Group } from 'h5wasm/node';
import { mergeParts } from '../../src/merge/offline-merge.ts';
import { h5ready, writeSegmentSync } from '../../src/storage/hdf5/segment-writer.ts';
import { allocRecordColumns, RECORD_FIELDS, RECORD_ROW_BYTES } from '../../src/schema/waveform.ts';
import { Xorshift } from '../../src/instruments/rng.ts';
import { fsyncPathSync } from '../../src/util/fsync-dir.ts';
import { envInt, median, printTable, repeat, settle } from './harness.ts';

const REPS = envInt('BENCH_REPS', 3);
const N = envInt('BENCH_RECORDS', 4_000_000);
const MEAN_LEN = envInt('BENCH_MEAN_LEN', 32);
const KS = (process.env['BENCH_KS'] ?? '2,8,64').split(',').map(Number);
const DTYPES: Record<string, string> = {
  timestamp: '<q', pid: '<i', channel: '<h', baseline: '<d', event_id: '<q', dt: '<i',
  trigger_type: '<h', flags: '<I', wave_offset: '<q', event_length: '<i', time: '<q',
};

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'daq-merge-bench-'));

/** k part files of N / k records each (part s: channel s), sorted; returns their paths and the samples in all. */
function writeParts(k: number): { parts: string[]; samples: number } {
  const rng = new Xorshift(k);
  const per = Math.floor(N / k);
  const parts: string[] = [];
  let samples = 0;
  for (let s = 0; s < k; s++) {
    const r = allocRecordColumns(per);
    let t = 0;
    let off = 0;
    for (let i = 0; i < per; i++) {
      t += 1 + Math.floor(rng.exp(1000));
      const len = 1 + Math.floor(rng.next() * (2 * MEAN_LEN - 1));
      r.timestamp[i] = BigInt(t);
      r.channel[i] = s;
      r.dt[i] = 4;
      r.wave_offset[i] = BigInt(off);
      r.event_length[i] = len;
      off += len;
    }
    const wave = new Uint16Array(off);
    for (let i = 0; i < off; i++) wave[i] = (i * 2654435761) >>> 18;
    samples += off;
    const dir = path.join(base, `k${k}`, `part${s}`);
    fs.mkdirSync(dir, { recursive: true });
    writeSegmentSync(dir, { runId: `p${s}`, index: 0, software: 'bench', configJson: '{}', lineageJson: '{}', t0UnixNs: 0n, walSeqLast: 0n, scalars: [], waves: [{ stream: 'records', primary: true, dtNs: 4, records: r, samples: wave, globalSampleOffset: 0n }], tables: [] });
    parts.push(path.join(dir, 'seg-000000.h5'));
  }
  return { parts, samples };
}

/** Reference: the parts' datasets read whole and appended to one file (no merge), then fsynced. */
function h5Copy(parts: string[], out: string): void {
  const f = new h5wasm.File(out, 'w');
  const r = f.create_group('records');
  for (const fld of RECORD_FIELDS) r.create_dataset({ name: fld.name, data: new (allocRecordColumns(0)[fld.name].constructor as new (n: number) => never)(0), shape: [0], maxshape: [null], chunks: [65536], dtype: DTYPES[fld.name]! });
  (f as Group).create_dataset({ name: 'wave_pool', data: new Uint16Array(0), shape: [0], maxshape: [null], chunks: [1 << 20], dtype: '<H' });
  let rows = 0;
  let samples = 0;
  for (const p of parts) {
    const src = new h5wasm.File(p, 'r');
    let n = 0;
    for (const fld of RECORD_FIELDS) {
      const v = (src.get(`records/${fld.name}`) as Dataset).value as unknown as ArrayLike<unknown>;
      n = v.length;
      const ds = f.get(`records/${fld.name}`) as Dataset;
      ds.resize([rows + n]);
      ds.write_slice([[rows, rows + n]], v as never);
    }
    const w = (src.get('wave_pool') as Dataset).value as Uint16Array;
    const pool = f.get('wave_pool') as Dataset;
    pool.resize([samples + w.length]);
    pool.write_slice([[samples, samples + w.length]], w);
    src.close();
    rows += n;
    samples += w.length;
  }
  f.close();
  fsyncPathSync(out);
}

/** Reference: the part files copied as they are, then fsynced. */
function fileCopy(parts: string[], outDir: string): void {
  parts.forEach((p, i) => {
    const to = path.join(outDir, `copy${i}.h5`);
    fs.copyFileSync(p, to);
    fsyncPathSync(to);
  });
}

await h5ready();
const rows: { measure: string; value: string; reference: string; ratio: string; goal: string }[] = [];
try {
  for (const k of KS) {
    const { parts, samples } = writeParts(k);
    const records = Math.floor(N / k) * k;
    const bytes = records * RECORD_ROW_BYTES + samples * 2;
    const fileBytes = parts.reduce((a, p) => a + fs.statSync(p).size, 0);
    const outDir = path.join(base, `k${k}`, 'out');
    fs.mkdirSync(outDir);
    const times = { merge: [] as number[], h5: [] as number[], fs: [] as number[] };
    await repeat(REPS, async (rep) => {
      for (const f of fs.readdirSync(outDir)) fs.rmSync(path.join(outDir, f));
      const t0 = times.merge.length;
      await settle();
      let t = performance.now();
      const res = await mergeParts(parts, path.join(outDir, 'merged.h5'));
      times.merge.push((performance.now() - t) / 1000);
      if (res.records !== records) throw new Error(`merged ${res.records} records, expected ${records}`);
      await settle();
      t = performance.now();
      h5Copy(parts, path.join(outDir, 'copy.h5'));
      times.h5.push((performance.now() - t) / 1000);
      await settle();
      t = performance.now();
      fileCopy(parts, outDir);
      times.fs.push((performance.now() - t) / 1000);
      if (rep < 0) for (const x of Object.values(times)) x.length = t0; // the warm-up run
    });
    const m = median(times.merge);
    const h = median(times.h5);
    const c = median(times.fs);
    const mbs = (x: number) => `${(bytes / x / 1e6).toFixed(0)} MB/s`;
    rows.push({
      measure: `daq merge, k=${k} parts, ${(records / 1e6).toFixed(1)} M records, ${(samples / 1e6).toFixed(0)} M samples (parts: ${(fileBytes / 1e6).toFixed(0)} MB on disk)`,
      value: `${(records / m / 1e6).toFixed(2)} M records/s, ${mbs(m)} (${m.toFixed(2)} s; runs ${times.merge.map((x) => x.toFixed(2)).join(' / ')})`,
      reference: `h5wasm copy of the same datasets, no merge: ${mbs(h)} (${h.toFixed(2)} s); fs.copyFileSync of the parts: ${(fileBytes / c / 1e6).toFixed(0)} MB/s of file (${c.toFixed(2)} s)`,
      ratio: (h / m).toFixed(2),
      goal: '',
    });
    fs.rmSync(path.join(base, `k${k}`), { recursive: true, force: true });
  }
} finally {
  fs.rmSync(base, { recursive: true, force: true });
}
printTable(`daq merge of part files, mean event length ${MEAN_LEN} samples, ${REPS} runs`, rows);
