import { beforeEach, describe, expect, it } from 'vitest';
import { StreamingMerge } from '../../../src/merge/streaming-merge.ts';
import { Xorshift } from '../../../src/instruments/rng.ts';
import { RecordFlags } from '../../../src/schema/waveform.ts';
import { isDaqError } from '../../../src/errors.ts';
import type { WaveBatch } from '../../../src/schema/batch.ts';
import { eventsOf, randomInput, waveBatch } from '../../helpers/waves.ts';
import type { Ev } from '../../helpers/waves.ts';
import { expectMergedExactly, runMerge, KERNELS, testKernel, useKernel } from '../../helpers/merge.ts';

for (const kernel of KERNELS) {
 describe(`merge path ${kernel}`, () => {
  beforeEach(() => useKernel(kernel));

  describe('StreamingMerge: output is a stable sort of the concatenation', () => {
    for (const [k, seed] of [[1, 1], [2, 2], [3, 3], [8, 4], [17, 5], [64, 6]] as const) {
      it(`k = ${k}, random batches and interleavings`, () => {
        const rng = new Xorshift(seed);
        for (let round = 0; round < 5; round++) {
          const inputs = Array.from({ length: k }, (_, s) =>
            randomInput(rng, s, s % 5 === 4 ? 0 : Math.floor(rng.next() * 60), { maxT: 500, pids: 2, chans: 3, maxLen: 50 }),
          );
          expectMergedExactly(runMerge(rng, inputs, 1 + Math.floor(rng.next() * 80)), inputs);
        }
      });
    }

    it('equal timestamps everywhere (ties by pid, channel, then input order)', () => {
      const rng = new Xorshift(11);
      const inputs = Array.from({ length: 6 }, (_, s) => randomInput(rng, s, 40, { maxT: 2, pids: 2, chans: 2, maxLen: 5 }));
      expectMergedExactly(runMerge(rng, inputs), inputs);
    });

    it('timestamps beyond 2^53 ps, equal as float64, are still ordered exactly', () => {
      const rng = new Xorshift(14);
      for (const base of [2n ** 60n, -(2n ** 60n)]) {
        const inputs = Array.from({ length: 5 }, (_, s) => randomInput(rng, s, 80, { maxT: 40, pids: 2, chans: 2, maxLen: 5 }).map((e) => ({ ...e, t: base + e.t })));
        expectMergedExactly(runMerge(rng, inputs), inputs);
      }
    });

    it('one input far faster than the rest', () => {
      const rng = new Xorshift(12);
      const inputs = [randomInput(rng, 0, 3000, { maxT: 1e6, pids: 1, chans: 1, maxLen: 20 }), ...Array.from({ length: 4 }, (_, s) => randomInput(rng, s + 1, 5, { maxT: 1e6, pids: 1, chans: 4, maxLen: 20 }))];
      expectMergedExactly(runMerge(rng, inputs), inputs);
    });

    it('lengths from 1 to 10^6 samples', () => {
      const rng = new Xorshift(13);
      const inputs = Array.from({ length: 4 }, (_, s) => randomInput(rng, s, 30, { maxT: 1e4, pids: 1, chans: 4, maxLen: 2000, longEvery: 25 }));
      // Make sure both extremes are present.
      inputs[0]![3]!.wave = new Uint16Array(1_000_000).fill(7);
      inputs[1]![5]!.wave = Uint16Array.of(9);
      expect(inputs.flat().some((e) => e.wave.length === 1_000_000)).toBe(true);
      expect(inputs.flat().some((e) => e.wave.length === 1)).toBe(true);
      expectMergedExactly(runMerge(rng, inputs), inputs);
    });

    it('copies waveforms whose batch slices are not contiguous', () => {
      const m = new StreamingMerge({ kernel: testKernel, output: 'r' });
      m.addInput('a');
      const wb = waveBatch('a', [
        { t: 1n, pid: 0, ch: 0, wave: Uint16Array.of(1, 2, 3), src: 0, seq: 0 },
        { t: 2n, pid: 0, ch: 0, wave: Uint16Array.of(4, 5), src: 0, seq: 1 },
      ]);
      // Reverse the sample layout: event 1 first, then event 0.
      const samples = Uint16Array.of(4, 5, 1, 2, 3);
      const offsets = wb.batch.getChild('wave_offset')!.data[0]!.values as BigInt64Array;
      offsets[0] = 2n;
      offsets[1] = 0n;
      m.push('a', { ...wb, samples });
      const ev = eventsOf(m.finish());
      expect([...ev[0]!.wave]).toEqual([1, 2, 3]);
      expect([...ev[1]!.wave]).toEqual([4, 5]);
    });
  });

  describe('StreamingMerge: watermark, silence, late events, backpressure', () => {
    const ev = (t: number, src = 0, len = 4): Ev => ({ t: BigInt(t), pid: 0, ch: src, wave: new Uint16Array(len).fill(t & 0xffff), src, seq: 0 });

    it('emits only below the smallest latest key over live inputs', () => {
      const m = new StreamingMerge({ kernel: testKernel, output: 'r', silenceTimeoutMs: 1e9 });
      m.addInput('a');
      m.addInput('b');
      m.push('a', waveBatch('a', [ev(10), ev(20), ev(30)]));
      expect(m.drain()).toEqual([]); // b has said nothing yet
      m.push('b', waveBatch('b', [ev(15, 1)]));
      expect(eventsOf(m.drain()).map((e) => Number(e.t))).toEqual([10]); // below b's 15
      m.push('b', waveBatch('b', [ev(25, 1)]));
      expect(eventsOf(m.drain()).map((e) => Number(e.t))).toEqual([15, 20]);
      m.end('b');
      expect(eventsOf(m.drain()).map((e) => Number(e.t))).toEqual([25]); // a's own last (30) still bounds
      expect(eventsOf(m.finish()).map((e) => Number(e.t))).toEqual([30]);
    });

    it('a producer watermark lets a quiet input stop holding output back', () => {
      const m = new StreamingMerge({ kernel: testKernel, output: 'r', silenceTimeoutMs: 1e9 });
      m.addInput('a');
      m.addInput('b');
      m.push('a', waveBatch('a', [ev(10), ev(20)]));
      m.push('b', waveBatch('b', [], 100n)); // no events, but none before t=100 will come
      expect(eventsOf(m.drain()).map((e) => Number(e.t))).toEqual([10]);
    });

    it('a silent input holds output back until its timeout, then does not; it is counted', () => {
      let now = 0;
      const m = new StreamingMerge({ kernel: testKernel, output: 'r', silenceTimeoutMs: 1000, now: () => now });
      m.addInput('fast');
      m.addInput('silent');
      m.push('silent', waveBatch('silent', [ev(5, 1)]));
      now = 100;
      m.push('fast', waveBatch('fast', [ev(10), ev(20), ev(30)]));
      expect(m.drain()).toEqual([]); // the silent input's last key (5) bounds: strictly below it, nothing
      now = 900;
      m.tick();
      expect(m.drain()).toEqual([]); // still within the timeout
      now = 1100;
      m.push('fast', waveBatch('fast', [ev(40)]));
      expect(m.drain()).toEqual([]);
      now = 1200;
      m.tick(); // silent for 1200 ms > 1000: stops bounding; fast (last push 100 ms ago) still does
      expect(eventsOf(m.drain()).map((e) => Number(e.t))).toEqual([5, 10, 20, 30]);
      expect(m.stats().inputs['silent']).toMatchObject({ timed_out: true, timeouts: 1 });
    });

    it('a whole-process stall (every input silent for 3x the timeout) times nothing out', () => {
      let now = 0;
      const m = new StreamingMerge({ kernel: testKernel, output: 'r', silenceTimeoutMs: 1000, now: () => now, latePolicy: 'flag' });
      const ids = ['a', 'b', 'c'];
      ids.forEach((id) => m.addInput(id));
      const out: WaveBatch[] = [];
      // Instruments acquire all the time (one event per 5 ms each, stamped with the acquisition
      // time); each push brings what its input acquired since its previous push, so after the stall
      // every input brings a 3 s backlog, one after the other. A tick after every push, as the
      // processor does.
      const sentUpToMs = ids.map(() => 0);
      let pushed = 0;
      const step = () => {
        ids.forEach((id, s) => {
          now += 10;
          const evs: Ev[] = [];
          let ms = sentUpToMs[s]!;
          for (; ms < now; ms += 5) evs.push(ev(ms * 10 + s, s));
          sentUpToMs[s] = ms;
          pushed += evs.length;
          m.push(id, waveBatch(id, evs));
          m.tick();
          out.push(...m.drain());
        });
      };
      for (let i = 0; i < 50; i++) step();
      now += 3000; // the process stalls: nobody pushes, timers fire late
      m.tick();
      out.push(...m.drain());
      for (let i = 0; i < 50; i++) step();
      now += 1500; // and once more, a timer firing first
      m.tick();
      m.tick();
      out.push(...m.drain());
      for (let i = 0; i < 10; i++) step();
      out.push(...m.finish());
      const got = eventsOf(out);
      expect(got.length).toBe(pushed);
      for (let i = 1; i < got.length; i++) expect(got[i]!.t >= got[i - 1]!.t, `event ${i} out of order`).toBe(true);
      expect(got.every((e) => (e.flags & RecordFlags.LATE) === 0)).toBe(true);
      for (const id of ids) expect(m.stats().inputs[id]).toMatchObject({ timeouts: 0, late_events: 0 });
    });

    it('a dead input among live ones is still timed out after the timeout, and flagged late when it speaks', () => {
      let now = 0;
      const m = new StreamingMerge({ kernel: testKernel, output: 'r', silenceTimeoutMs: 1000, now: () => now, latePolicy: 'flag' });
      m.addInput('live');
      m.addInput('dead');
      m.push('dead', waveBatch('dead', [ev(1, 1)]));
      const out: WaveBatch[] = [];
      for (let i = 1; i <= 100; i++) {
        now = 20 * i; // live pushes every 20 ms; dead says nothing
        m.push('live', waveBatch('live', [ev(10 * i)]));
        m.tick();
        out.push(...m.drain());
        const timedOut = m.stats().inputs['dead']!.timed_out;
        expect(timedOut, `at ${now} ms`).toBe(now > 1000);
      }
      expect(eventsOf(out).length).toBe(100); // 1 and every live event but the newest
      expect(m.stats().inputs['dead']).toMatchObject({ timed_out: true, timeouts: 1 });
      m.push('dead', waveBatch('dead', [ev(500, 1), ev(5000, 1)])); // speaks again, 500 already passed
      expect(m.stats().inputs['dead']!.timed_out).toBe(false);
      const late = eventsOf([...m.drain(), ...m.finish()]);
      expect(late.map((e) => [Number(e.t), e.flags & RecordFlags.LATE])).toEqual([
        [500, RecordFlags.LATE],
        [1000, 0],
        [5000, 0],
      ]);
    });

    it('the only input of a merge is never timed out', () => {
      let now = 0;
      const m = new StreamingMerge({ kernel: testKernel, output: 'r', silenceTimeoutMs: 10, now: () => now });
      m.addInput('a');
      m.push('a', waveBatch('a', [ev(1), ev(2)]));
      now = 1e6;
      m.tick();
      expect(m.stats().inputs['a']!.timed_out).toBe(false);
      expect(eventsOf(m.drain()).map((e) => Number(e.t))).toEqual([1]); // its newest key waits
      expect(eventsOf(m.finish()).map((e) => Number(e.t))).toEqual([2]);
    });

    /** Inputs a and b; a pushed 10, 20, 30, then 40 at 16 ms: b, silent since 0, has timed out (timeout 10 ms). */
    const bTimedOut = (latePolicy: 'flag' | 'reject'): StreamingMerge => {
      let now = 0;
      const m = new StreamingMerge({ kernel: testKernel, output: 'r', silenceTimeoutMs: 10, now: () => now, latePolicy });
      m.addInput('a');
      m.addInput('b');
      m.push('a', waveBatch('a', [ev(10), ev(20), ev(30)]));
      now = 8;
      m.push('a', waveBatch('a', []));
      now = 16;
      m.push('a', waveBatch('a', [ev(40)]));
      m.tick(); // a was heard 16 ms after b's silence began: b times out
      expect(m.stats().inputs['b']!.timed_out).toBe(true);
      return m;
    };

    it('late events are flagged at their arrival position (policy "flag")', () => {
      const m = bTimedOut('flag');
      const first = eventsOf(m.drain()).map((e) => Number(e.t));
      expect(first).toEqual([10, 20, 30]);
      m.push('b', waveBatch('b', [ev(25, 1), ev(35, 1), ev(50, 1)]));
      const out = eventsOf(m.finish());
      expect(out.map((e) => Number(e.t))).toEqual([25, 35, 40, 50]);
      expect(out[0]!.flags & RecordFlags.LATE).toBe(RecordFlags.LATE);
      expect(out.slice(1).every((e) => (e.flags & RecordFlags.LATE) === 0)).toBe(true);
      expect(m.stats().inputs['b']!.late_events).toBe(1);
      expect(m.losses).toEqual([]);
    });

    it('late events are dropped and recorded as a loss (policy "reject")', () => {
      const m = bTimedOut('reject');
      m.drain();
      m.push('b', waveBatch('b', [ev(12, 1), ev(25, 1), ev(35, 1)]));
      expect(eventsOf(m.finish()).map((e) => Number(e.t))).toEqual([35, 40]);
      expect(m.losses).toEqual([{ stream: 'b', reason: 'late', tMinPs: 12n, tMaxPs: 25n, rows: 2 }]);
    });

    it('reports backpressure when the buffer is full and releases batches as they are emitted', () => {
      const m = new StreamingMerge({ kernel: testKernel, output: 'r', maxBufferedBytes: 3000, silenceTimeoutMs: 1e9 });
      m.addInput('a');
      m.addInput('b');
      const released: number[] = [];
      let ok = true;
      let i = 0;
      while (ok) {
        const k = i++;
        ok = m.push('a', waveBatch('a', [ev(100 + k, 0, 100)]), () => released.push(k));
        expect(m.drain()).toEqual([]); // b holds everything back
      }
      expect(m.bufferedBytes).toBeGreaterThanOrEqual(3000);
      expect(released).toEqual([]);
      m.push('b', waveBatch('b', [ev(1000, 1)]));
      // All of a's events but its last (a's own last key still bounds) are emitted and released.
      expect(eventsOf(m.drain()).length).toBe(i - 1);
      expect(released).toEqual(Array.from({ length: i - 1 }, (_, k) => k));
      expect(m.bufferedBytes).toBeLessThan(3000);
    });

    it('rejects an unsorted input naming the input and row', () => {
      const m = new StreamingMerge({ kernel: testKernel, output: 'r' });
      m.addInput('a');
      m.push('a', waveBatch('a', [ev(10)]));
      try {
        m.push('a', waveBatch('a', [ev(11), ev(9)]));
        throw new Error('expected');
      } catch (err) {
        expect(isDaqError(err, 'DAQ_ERR_MERGE_ORDER')).toBe(true);
        expect((err as Error).message).toContain('"a": row 1');
      }
      try {
        m.push('a', waveBatch('a', [ev(5)]));
        throw new Error('expected');
      } catch (err) {
        expect((err as Error).message).toContain('row 0');
      }
    });

    it('order checks compare pid and channel as signed numbers, within a batch and across batches', () => {
      const e = (t: number, pid: number, ch: number): Ev => ({ t: BigInt(t), pid, ch, wave: Uint16Array.of(1), src: 0, seq: 0 });
      const rowOfError = (m: StreamingMerge, evs: Ev[]): string => {
        try {
          m.push('a', waveBatch('a', evs));
          return 'accepted';
        } catch (err) {
          expect(isDaqError(err, 'DAQ_ERR_MERGE_ORDER')).toBe(true);
          return /row (\d+)/.exec((err as Error).message)![1]!;
        }
      };
      const m = new StreamingMerge({ kernel: testKernel, output: 'r' });
      m.addInput('a');
      expect(rowOfError(m, [e(10, -2, 5), e(10, -1, -7), e(10, -1, -3), e(10, 3, -32768), e(10, 3, 32767)])).toBe('accepted');
      expect(rowOfError(m, [e(10, 3, 32767), e(10, 3, -1)])).toBe('1'); // channel -1 below 32767
      expect(rowOfError(m, [e(10, 2, 0)])).toBe('0'); // pid 2 below the previous batch's 3
      expect(rowOfError(m, [e(10, 3, 32767), e(11, -5, 0), e(11, -6, 0)])).toBe('2');
      expect(rowOfError(m, [e(10, 3, 32767), e(11, -2147483648, -32768)])).toBe('accepted');
      expect(rowOfError(m, [e(9, 2147483647, 32767)])).toBe('0');
    });
  });
 });
}
