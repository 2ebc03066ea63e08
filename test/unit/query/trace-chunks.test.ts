import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, openSync, writeSync } from 'node:fs';
import { isDaqError } from '../../../src/errors.ts';
import { loadTrace, type TraceArray } from '../../../src/query/trace.ts';
import { npyHeaderBytes } from '../../../src/query/loaders/npy-format.ts';
import { list, makeTempDir, py } from './trace-helpers.ts';

const tmp = makeTempDir('daq-trace-chunks-');
const BIG_SAMPLES = 50 * 1024 * 1024; // int32 → 200 MiB

beforeAll(() => {
  py(tmp.dir, `np.save('small.npy', (np.arange(1000) * 3).astype('>i4'))`);
  // 200 MiB .npy of int32 ramp, written in 4 MiB pieces (the writer itself stays small too).
  const fd = openSync(tmp.file('big.npy'), 'w');
  writeSync(fd, npyHeaderBytes('<i4', [BIG_SAMPLES]));
  const piece = new Int32Array(1 << 20);
  for (let base = 0; base < BIG_SAMPLES; base += piece.length) {
    for (let i = 0; i < piece.length; i++) piece[i] = base + i;
    writeSync(fd, piece);
  }
  closeSync(fd);
});
afterAll(() => tmp.cleanup());

/** Reference chunking: starts 0, step, 2·step… until a chunk reaches the end. */
function expectedStarts(length: number, chunk: number, overlap: number): number[] {
  const starts: number[] = [];
  if (length === 0) return starts;
  for (let s = 0; ; s += chunk - overlap) {
    starts.push(s);
    if (s + chunk >= length) return starts;
  }
}

describe('Trace.iterChunks', () => {
  it.each([
    [1000, 100, 0], [1000, 100, 50], [1000, 128, 127], [1000, 999, 10], [1000, 1000, 0], [1000, 5000, 3], [1000, 1, 0], [1000, 333, 100],
  ])('length %i, chunk %i, overlap %i: chunks match slices exactly (big-endian file)', async (len, chunk, overlap) => {
    const t = await loadTrace(tmp.file('small.npy'), { length: len });
    const starts: number[] = [];
    for await (const { start, data } of t.iterChunks(chunk, { overlap })) {
      starts.push(start);
      const ref = await t.slice(start, Math.min(start + chunk, len));
      expect(list(data)).toEqual(list(ref));
    }
    expect(starts).toEqual(expectedStarts(len, chunk, overlap));
    await t.close();
  });

  it('rejects bad chunk sizes and overlaps', async () => {
    const t = await loadTrace(tmp.file('small.npy'));
    for (const [c, o] of [[0, 0], [10, 10], [10, -1], [2.5, 0]] as const) {
      const err = await t.iterChunks(c, { overlap: o }).next().then(() => undefined, (e: unknown) => e);
      expect(isDaqError(err, 'DAQ_ERR_TRACE_RANGE'), `chunk ${c} overlap ${o}`).toBe(true);
    }
    const copies: TraceArray[] = [];
    for await (const { data } of t.iterChunks(400, { copy: true })) copies.push(data);
    expect(copies.map((c) => c.length)).toEqual([400, 400, 200]);
    expect(copies[0]!.buffer).not.toBe(copies[1]!.buffer);
    await t.close();
  });

  it('iterates a 200 MiB file with overlap: every sample seen, overlaps exact, one reused buffer, bounded memory', async () => {
    const chunk = 1 << 20; // 4 MiB of int32
    const overlap = 4096;
    const t = await loadTrace(tmp.file('big.npy'), { sampleRate: 1e6 });
    expect(t.length).toBe(BIG_SAMPLES);
    global.gc?.();
    const base = process.memoryUsage().arrayBuffers;
    let peak = 0;
    let buffer: ArrayBufferLike | undefined;
    let sameBuffer = true;
    let nextExpected = 0; // first sample not yet seen
    let badSamples = 0;
    let chunks = 0;
    for await (const { start, data } of t.iterChunks(chunk, { overlap })) {
      if (buffer === undefined) buffer = data.buffer;
      else if (data.buffer !== buffer) sameBuffer = false;
      if (chunks > 0 && start !== nextExpected - overlap) badSamples++;
      const d = data as Int32Array;
      for (let i = 0; i < d.length; i++) if (d[i] !== start + i) badSamples++;
      nextExpected = start + d.length;
      chunks++;
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
    }
    await t.close();
    expect({ badSamples, nextExpected, sameBuffer }).toEqual({ badSamples: 0, nextExpected: BIG_SAMPLES, sameBuffer: true });
    expect(chunks).toBe(Math.ceil((BIG_SAMPLES - overlap) / (chunk - overlap)));
    // One 4 MiB chunk buffer, plus slack for unrelated allocations: far below the 200 MiB file.
    expect(peak).toBeLessThan(16 * 1024 * 1024);
  });
});
