import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { mergeParts, readRowsFor } from '../../../src/merge/offline-merge.ts';
import { MergeKernel } from '../../../src/merge/wasm-kernel.ts';
import { NativeMergeKernel } from '../../../src/merge/native-kernel.ts';
import { h5ready, writeSegmentSync } from '../../../src/storage/hdf5/segment-writer.ts';
import { openRun } from '../../../src/query/open-run.ts';
import { recordColumns } from '../../../src/schema/waveform.ts';
import { Xorshift } from '../../../src/instruments/rng.ts';
import { randomInput, waveBatch } from '../../helpers/waves.ts';
import type { Ev } from '../../helpers/waves.ts';
import { tmpDir } from '../../helpers/tmp.ts';
import h5wasm from 'h5wasm/node';
import type { Dataset } from 'h5wasm/node';

let cleanup: (() => void) | null = null;
afterEach(() => cleanup?.());

async function writePart(dir: string, name: string, evs: Ev[]): Promise<string> {
  await h5ready();
  const wb = waveBatch('p', evs);
  const partDir = path.join(dir, name);
  fs.mkdirSync(partDir);
  writeSegmentSync(partDir, { runId: name, index: 0, software: 't', configJson: '{}', lineageJson: '{}', t0UnixNs: 0n, walSeqLast: 0n, scalars: [], waves: [{ stream: 'p', primary: true, dtNs: 4, records: recordColumns(wb.batch), samples: wb.samples, globalSampleOffset: 0n }], tables: [] });
  return path.join(partDir, 'seg-000000.h5');
}

/** An event of two samples at time tt (pid 0, channel 0). */
const ev = (tt: number): Ev => ({ t: BigInt(tt), pid: 0, ch: 0, wave: Uint16Array.of(1, 2), src: 0, seq: 0 });

describe('offline merge (daq merge)', () => {
  it('merges sorted part files into one, a stable sort by (timestamp, pid, channel), in bounded chunks; every waveform in place', async () => {
    // 1200 events stay on the merge's JS path; 3 × 4000 finely interleaved ones take the kernel,
    // whose output the writer borrows (views of its output area, copied by the HDF5 append).
    // (auto's kernel is the native one where it is built, else WebAssembly's: both are watched)
    const borrowed: boolean[] = []; // per kernel output batch: whether it was a view (at the time of the call)
    const spies = [MergeKernel.prototype, NativeMergeKernel.prototype].map((proto) => {
      const take0 = proto.take;
      return vi.spyOn(proto, 'take').mockImplementation(function (this: MergeKernel | NativeMergeKernel, stream: string) {
        borrowed.push(this.borrow);
        return take0.call(this, stream);
      });
    });
    const take = { mockClear: () => spies.forEach((x) => x.mockClear()), mockRestore: () => spies.forEach((x) => x.mockRestore()), calls: () => spies.reduce((a, x) => a + x.mock.calls.length, 0) };
    try {
      for (const [n, chunk, maxT] of [[300, 37, 5000], [4000, 1000, 1e9]] as const) {
        const t = tmpDir();
        cleanup = t.cleanup;
        take.mockClear();
        borrowed.length = 0;
        const rng = new Xorshift(77);
        const inputs = [0, 1, 2].map((s) => randomInput(rng, s, n + s * 100 * Number(n < 1000), { maxT, pids: 2, chans: 3, maxLen: 40 }));
        const total = inputs.reduce((a, e) => a + e.length, 0);
        const parts = await Promise.all(inputs.map((evs, s) => writePart(t.dir, `part${s}`, evs)));
        const outDir = path.join(t.dir, 'out');
        fs.mkdirSync(outDir);
        const progress: number[] = [];
        const summary = await mergeParts(parts, path.join(outDir, 'seg-000000.h5'), { chunkRecords: chunk, onProgress: (p) => progress.push(p.records) });
        expect(summary.records).toBe(total);
        expect(progress.at(-1)).toBe(total);
        expect(fs.existsSync(path.join(outDir, 'seg-000000.h5.tmp'))).toBe(false);
        const all = inputs.flat();
        const order = all.map((_, i) => i).sort((a, b) => {
          const x = all[a]!;
          const y = all[b]!;
          return x.t !== y.t ? (x.t < y.t ? -1 : 1) : x.pid - y.pid || x.ch - y.ch || a - b;
        });
        const run = await openRun(outDir);
        expect(run.records.length).toBe(total);
        const c = run.records.columns;
        expect([...c.timestamp.subarray(0, total)]).toEqual(order.map((i) => all[i]!.t));
        expect([...c.baseline.subarray(0, total)]).toEqual(order.map((i) => all[i]!.src));
        expect([...c.event_id.subarray(0, total)]).toEqual(order.map((_, k) => BigInt(k)));
        // Contiguous in the file's wave pool, every waveform byte-identical to its source.
        let off = 0n;
        const badOffset = order.findIndex((i, k) => c.wave_offset[k] !== off || ((off += BigInt(all[i]!.wave.length)), false));
        expect(badOffset).toBe(-1);
        const badWave = order.findIndex((i, k) => {
          const w = run.records.rawWave(k);
          return !Buffer.from(w.buffer, w.byteOffset, w.byteLength).equals(Buffer.from(all[i]!.wave.buffer));
        });
        expect(badWave).toBe(-1);
        run.close();
        if (n > 1000) {
          expect(borrowed.length).toBeGreaterThan(0);
          expect(borrowed.every((b) => b)).toBe(true);
        } else {
          expect(take.calls()).toBe(0);
        }
      }
    } finally {
      take.mockRestore();
    }
  });

  it('reports a part that breaks its sort order, with file and row, and leaves no output', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const good = await writePart(t.dir, 'good', [ev(1), ev(5), ev(9)]);
    const bad = await writePart(t.dir, 'bad', [ev(2), ev(3), ev(8), ev(4), ev(10)]);
    const out = path.join(t.dir, 'merged.h5');
    await expect(mergeParts([good, bad], out, { chunkRecords: 2 })).rejects.toMatchObject({ code: 'DAQ_ERR_MERGE_ORDER', details: { file: bad, row: 3 } });
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.existsSync(`${out}.tmp`)).toBe(false);
  });

  it('reports a part whose records point outside its wave pool, with file and record, and leaves no output', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const good = await writePart(t.dir, 'good', [ev(1), ev(5), ev(9)]);
    const out = path.join(t.dir, 'merged.h5');
    // Record 3 (of 5; read two at a time): past the pool's 10 samples, negative, far past, or too long.
    for (const [i, off, len] of [[0, 9n, 2], [1, -4n, 2], [2, 1n << 40n, 2], [3, 0n, 11]] as const) {
      const bad = await writePart(t.dir, `bad${i}`, [ev(2), ev(3), ev(4), ev(6), ev(10)]);
      const f = new h5wasm.File(bad, 'a');
      (f.get('records/wave_offset') as Dataset).write_slice([[3, 4]], BigInt64Array.of(off));
      (f.get('records/event_length') as Dataset).write_slice([[3, 4]], Int32Array.of(len));
      f.close();
      const err = await mergeParts([good, bad], out, { chunkRecords: 2 }).catch((e: unknown) => e);
      expect(err, `case ${i}`).toMatchObject({ code: 'DAQ_ERR_HDF5', details: { file: bad, row: 3 } });
      expect((err as Error).message).toMatch(/bad\d\/seg-000000\.h5: record 3 .*outside its wave_pool \(10 samples\)/);
      expect(fs.existsSync(out)).toBe(false);
      expect(fs.existsSync(`${out}.tmp`)).toBe(false);
    }
  });

  it('reads each part in whole HDF5 chunks by default (no compressed chunk inflated twice), within its share of the read memory; a bad read size is a usage error', async () => {
    expect(readRowsFor(62500)).toBe(125000);
    expect(readRowsFor(65536)).toBe(65536);
    expect(readRowsFor(1000)).toBe(66000);
    expect(readRowsFor(null)).toBe(65536);
    expect(readRowsFor(1 << 20)).toBe(65536); // huge chunks: memory first
    // Within a part's memory share (records): fewer chunks, or a part of one.
    expect(readRowsFor(62500, 130000)).toBe(125000);
    expect(readRowsFor(62500, 100000)).toBe(62500);
    expect(readRowsFor(62500, 4006.5)).toBe(4006);
    expect(readRowsFor(null, 0.3)).toBe(1);
    const t = tmpDir();
    cleanup = t.cleanup;
    const rng = new Xorshift(5);
    // 150000 records: the segment writer stores them in three chunks of 50000 rows.
    const big = await writePart(t.dir, 'big', randomInput(rng, 0, 150_000, { maxT: 1e9, pids: 1, chans: 2, maxLen: 3 }));
    const small = await writePart(t.dir, 'small', randomInput(rng, 1, 1000, { maxT: 1e9, pids: 1, chans: 2, maxLen: 3 }));
    const f = new h5wasm.File(big, 'r');
    expect((f.get('records/timestamp') as Dataset).metadata.chunks).toEqual([50000]);
    f.close();
    const reads: string[] = [];
    const slice0 = h5wasm.Dataset.prototype.slice;
    const slice = vi.spyOn(h5wasm.Dataset.prototype, 'slice').mockImplementation(function (this: Dataset, ranges) {
      if (this.path === '/records/timestamp') reads.push(`${ranges[0]![0]}-${ranges[0]![1]}`);
      return slice0.call(this, ranges);
    });
    try {
      const out = path.join(t.dir, 'merged.h5');
      expect((await mergeParts([big, small], out)).records).toBe(151_000);
    } finally {
      slice.mockRestore();
    }
    expect(reads.sort()).toEqual(['0-1000', '0-100000', '100000-150000']);
    // Held to its share of a small read budget (here 20000 records of the big part), the big part
    // is read 20000 records at a time: many parts do not take many times the memory.
    const bigSamples = ((): number => {
      const g = new h5wasm.File(big, 'r');
      const s = (g.get('wave_pool') as Dataset).shape![0]!;
      g.close();
      return s;
    })();
    const perRecord = 60 + (2 * bigSamples) / 150_000; // record columns: 60 bytes
    reads.length = 0;
    const slice2 = vi.spyOn(h5wasm.Dataset.prototype, 'slice').mockImplementation(function (this: Dataset, ranges) {
      if (this.path === '/records/timestamp') reads.push(`${ranges[0]![0]}-${ranges[0]![1]}`);
      return slice0.call(this, ranges);
    });
    try {
      expect((await mergeParts([big, small], path.join(t.dir, 'merged2.h5'), { maxReadBytes: 2 * 20000.5 * perRecord })).records).toBe(151_000);
    } finally {
      slice2.mockRestore();
    }
    const bigReads = Array.from({ length: 8 }, (_, i) => `${i * 20000}-${Math.min(150000, (i + 1) * 20000)}`);
    expect(reads.sort()).toEqual([...bigReads, '0-1000'].sort());
    await expect(mergeParts([small], path.join(t.dir, 'y.h5'), { maxReadBytes: 0 })).rejects.toMatchObject({ code: 'DAQ_ERR_USAGE' });
    for (const bad of [0, -1, 2.5, Number.NaN]) {
      await expect(mergeParts([small], path.join(t.dir, 'x.h5'), { chunkRecords: bad })).rejects.toMatchObject({ code: 'DAQ_ERR_USAGE' });
    }
  });

  it('a part that is missing, not HDF5 or truncated, or an output folder that does not exist, is a clear error naming it; parts already opened are closed, no output left', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const good = await writePart(t.dir, 'good', [ev(1), ev(5), ev(9)]);
    const text = path.join(t.dir, 'notes.h5');
    fs.writeFileSync(text, 'not hdf5 at all\n');
    const cut = path.join(t.dir, 'cut.h5');
    fs.writeFileSync(cut, fs.readFileSync(good).subarray(0, 3000));
    const out = path.join(t.dir, 'merged.h5');
    const cases: [string, string, RegExp][] = [
      [path.join(t.dir, 'missing.h5'), 'DAQ_ERR_RUN_NOT_FOUND', /missing\.h5: cannot open part file \(ENOENT\)/],
      [text, 'DAQ_ERR_HDF5', /notes\.h5: not an HDF5 file/],
      [cut, 'DAQ_ERR_HDF5', /cut\.h5: cannot open as HDF5/],
    ];
    const close = vi.spyOn(h5wasm.File.prototype, 'close');
    try {
      for (const [bad, code, message] of cases) {
        close.mockClear();
        const err = await mergeParts([good, bad], out).catch((e: unknown) => e);
        expect(err, bad).toMatchObject({ code, details: { file: bad } });
        expect((err as Error).message).toMatch(message);
        expect(close.mock.calls.length, `${bad}: the good part closed`).toBeGreaterThanOrEqual(1);
        expect(fs.existsSync(out)).toBe(false);
        expect(fs.existsSync(`${out}.tmp`)).toBe(false);
      }
    } finally {
      close.mockRestore();
    }
    // An output folder that does not exist: named, and the part is closed.
    const nowhere = path.join(t.dir, 'no', 'such', 'merged.h5');
    const close2 = vi.spyOn(h5wasm.File.prototype, 'close');
    try {
      await expect(mergeParts([good], nowhere)).rejects.toMatchObject({ code: 'DAQ_ERR_STORAGE_IO', message: expect.stringMatching(/its folder .*no\/such does not exist/) });
      expect(close2).toHaveBeenCalled();
    } finally {
      close2.mockRestore();
    }
  });
});
