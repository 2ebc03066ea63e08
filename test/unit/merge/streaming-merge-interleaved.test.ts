import { beforeEach, describe, expect, it } from 'vitest';
import { StreamingMerge } from '../../../src/merge/streaming-merge.ts';
import { Xorshift } from '../../../src/instruments/rng.ts';
import { allocRecordColumns, makeRecordsBatch, recordColumns } from '../../../src/schema/waveform.ts';
import type { RecordColumns } from '../../../src/schema/waveform.ts';
import type { WaveBatch } from '../../../src/schema/batch.ts';
import { waveBatch } from '../../helpers/waves.ts';
import type { Ev } from '../../helpers/waves.ts';
import { expectMergedExactly, runMerge, KERNELS, testKernel, useKernel } from '../../helpers/merge.ts';

/**
 * The row-by-row output path (inputs interleaved event by event, so runs of one row): every
 * column copied, waveforms copied two samples a word whatever the alignment of source and
 * destination, ties broken exactly.
 */

/** n events of input src (of k) that interleave one by one with the other inputs: t = j·k + src. */
function interleaved(rng: Xorshift, src: number, k: number, n: number, maxLen: number): Ev[] {
  const evs: Ev[] = [];
  for (let j = 0; j < n; j++) {
    const len = 1 + Math.floor(rng.next() * maxLen);
    const wave = new Uint16Array(len);
    // Every sample distinct (and using all 16 bits): a swapped or shifted half-word shows.
    for (let s = 0; s < len; s++) wave[s] = (src * 40503 + j * 977 + s * 131 + 0x8000) & 0xffff;
    evs.push({ t: BigInt(j * k + src), pid: 0, ch: src, wave, src, seq: j });
  }
  return evs;
}

/** The same batch with its samples moved to `pad` samples into a buffer that ends where they end. */
function movedSamples(wb: WaveBatch, pad: number): WaveBatch {
  const buf = new ArrayBuffer((pad + wb.samples.length) * 2);
  const samples = new Uint16Array(buf, pad * 2, wb.samples.length);
  samples.set(wb.samples);
  return { ...wb, samples };
}

for (const kernel of KERNELS) {
 describe(`merge path ${kernel}`, () => {
  beforeEach(() => useKernel(kernel));

  describe('StreamingMerge: inputs interleaved event by event', () => {
    it('copies waveforms of every length (1 to 140 samples) at every alignment of source and destination', () => {
      const rng = new Xorshift(21);
      for (const k of [2, 3, 8]) {
        for (const pad of [0, 1, 2, 3]) {
          const inputs = Array.from({ length: k }, (_, s) => interleaved(rng, s, k, 120, 140));
          // Samples 0 to 3 into their buffer, varying from batch to batch; the buffer ends with them.
          const out = runMerge(rng, inputs, 1 + Math.floor(rng.next() * 300), (wb) => movedSamples(wb, (pad + wb.batch.numRows) & 3));
          expectMergedExactly(out, inputs);
        }
      }
    });

    it('equal timestamps, one event per input in turn: ties by pid, then channel, then input order', () => {
      const rng = new Xorshift(22);
      for (const base of [0n, 2n ** 60n, -(2n ** 60n)]) {
        const k = 5;
        const inputs = Array.from({ length: k }, (_, s) =>
          Array.from({ length: 60 }, (_, j): Ev => {
            const wave = new Uint16Array(1 + ((j * 7 + s) % 40)).map((_, i) => (s * 1000 + j * 10 + i) & 0xffff);
            // Same t for all inputs; pid and channel rotate, so the winner changes at every event.
            return { t: base + BigInt(j >> 1), pid: (s + j) % 3, ch: (s * 2 + j) % 4, wave, src: s, seq: j };
          }).sort((a, b) => (a.t !== b.t ? (a.t < b.t ? -1 : 1) : a.pid - b.pid || a.ch - b.ch)),
        );
        expectMergedExactly(runMerge(rng, inputs), inputs);
      }
    });

    // Runs of one row (the row-by-row copy) and of 40 rows (a column at a time).
    for (const burst of [1, 40]) {
      it(`copies every column of every row exactly, float bit patterns included (runs of ${burst})`, () => {
        const rng = new Xorshift(23 + burst);
        const k = 3;
        const n = 200;
        const specials = [NaN, -0, Infinity, -Infinity, 5e-324, -1.5];
        const inputs: WaveBatch[] = [];
        const where = new Map<bigint, [number, number]>(); // timestamp -> (input, row)
        for (let s = 0; s < k; s++) {
          const c = allocRecordColumns(n);
          const samples = new Uint16Array(n * 3);
          for (let i = 0; i < n; i++) {
            c.timestamp[i] = BigInt((Math.floor(i / burst) * k + s) * burst + (i % burst));
            where.set(c.timestamp[i]!, [s, i]);
            c.pid[i] = s;
            c.channel[i] = -s - 1;
            c.baseline[i] = i < specials.length ? specials[i]! : rng.next() * 1e6 - 5e5;
            c.dt[i] = 1 + s;
            c.trigger_type[i] = (i * 7 - 300) | 0;
            c.flags[i] = (0xfffffff0 + s) >>> 0; // high bits set: unsigned 32-bit
            c.wave_offset[i] = BigInt(3 * i);
            c.event_length[i] = 3;
            c.time[i] = -(2n ** 62n) + BigInt(i * 1_000_003 + s);
            samples.set([i, s, 0xffff - i], 3 * i);
          }
          // NaNs with payloads, quiet and signalling (their bits are the value: they must arrive unchanged).
          new Uint32Array(c.baseline.buffer).set([0x12345678, 0x7ff80abc, 1, 0x7ff00000, 0xdeadbeef, 0xfff7ffff], 2 * (specials.length + 1));
          inputs.push({ kind: 'waveform', stream: `in${s}`, batch: makeRecordsBatch(c), samples });
        }
        const m = new StreamingMerge({ kernel: testKernel, output: 'r', maxOutputRows: 128 });
        inputs.forEach((_, s) => m.addInput(`in${s}`));
        inputs.forEach((wb, s) => m.push(`in${s}`, wb));
        const out = m.finish();
        const src = inputs.map((wb) => recordColumns(wb.batch));
        const words = (c: RecordColumns, name: 'timestamp' | 'baseline' | 'time', r: number) => [...new Uint32Array(c[name].buffer, c[name].byteOffset + 8 * r, 2)];
        let row = 0;
        let last = -1n;
        for (const b of out) {
          const c = recordColumns(b.batch);
          for (let r = 0; r < b.batch.numRows; r++, row++) {
            expect(c.timestamp[r]! > last).toBe(true);
            last = c.timestamp[r]!;
            const [s, i] = where.get(c.timestamp[r]!)!;
            const e = src[s]!;
            for (const name of ['timestamp', 'baseline', 'time'] as const) expect(words(c, name, r)).toEqual(words(e, name, i));
            expect([c.pid[r], c.channel[r], c.dt[r], c.trigger_type[r], c.flags[r], c.event_length[r]]).toEqual([e.pid[i], e.channel[i], e.dt[i], e.trigger_type[i], e.flags[i], e.event_length[i]]);
            expect(c.event_id[r]).toBe(BigInt(row));
            const off = Number(c.wave_offset[r]);
            expect([...b.samples.subarray(off, off + 3)]).toEqual([i, s, 0xffff - i]);
          }
        }
        expect(row).toBe(k * n);
      });
    }

    it('counts buffered events per input as they are emitted', () => {
      const rng = new Xorshift(24);
      const [a, b] = [interleaved(rng, 0, 2, 10, 4), interleaved(rng, 1, 2, 4, 4)];
      const m = new StreamingMerge({ kernel: testKernel, output: 'r', silenceTimeoutMs: 1e12 });
      m.addInput('a');
      m.addInput('b');
      m.push('a', waveBatch('a', a!));
      m.push('b', waveBatch('b', b!));
      // b's last key (t = 7) bounds the output: a's events at t 0, 2, 4, 6 and b's at 1, 3, 5 go out.
      expect(m.drain().reduce((x, o) => x + o.batch.numRows, 0)).toBe(7);
      expect(m.stats().inputs['a']!.buffered_events).toBe(6);
      expect(m.stats().inputs['b']!.buffered_events).toBe(1);
      m.finish();
      expect(m.stats().inputs['a']!.buffered_events).toBe(0);
      expect(m.stats().emitted_events).toBe(14);
    });
  });
 });
}
