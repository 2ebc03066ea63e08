import { describe, expect, it } from 'vitest';
import { fftOptions, fftProcessor } from '../../../src/processors/fft.processor.ts';
import type { StreamBatch } from '../../../src/schema/batch.ts';
import { validateBatch } from '../../../src/schema/validate.ts';
import { optionsHash } from '../../../src/util/hash.ts';
import { cat, col, scalarBatches, scalarInfo, scalarSeries, waveBatch, waveInfo } from './helpers.ts';

const FS = 1000; // Hz: one point per ms per tag
const N = 256;
const BIN = 20; // 20 * 1000 / 256 = 78.125 Hz

function run(options: Record<string, unknown>, batches: StreamBatch[], info = scalarInfo('in', 2)) {
  const opts = fftOptions.parse(options);
  const p = fftProcessor.create(opts, 'spec');
  const [out] = p.outputs([info]);
  const res = batches.flatMap((b) => p.process(b, () => {}) as StreamBatch[]);
  for (const r of res) validateBatch(out!, r);
  return { out: out!, res, stats: p.stats!() };
}

describe('fft processor', () => {
  const f0 = (BIN * FS) / N;
  const series = scalarSeries(2, 1024, 1_000_000n, (tag, k) => (tag === 0 ? 5 + 3 * Math.sin(2 * Math.PI * f0 * (k / FS) + 0.3) : Math.cos(2 * Math.PI * 100 * (k / FS))));

  for (const window of ['hann', 'hamming', 'rect'] as const) {
    it(`puts a sine of amplitude 3 at its bin with amplitude 3 (${window})`, () => {
      const { res } = run({ stream: 'in', tags: ['tag0'], frame_size: N, overlap: 0.5, window }, scalarBatches('in', series, []));
      const freq = cat(res, 'freq_hz');
      const amp = cat(res, 'amplitude');
      const pow = cat(res, 'power');
      const bins = N / 2 + 1;
      expect(amp.length % bins).toBe(0);
      // (1024 - 256) / 128 + 1 frames of the one selected tag
      expect(amp.length / bins).toBe(7);
      for (let fr = 0; fr < amp.length / bins; fr++) {
        const a = amp.slice(fr * bins, (fr + 1) * bins);
        // From bin 3: the window's main lobe spreads the DC of 5 over bins 0..1 (Hann, Hamming).
        let peak = 3;
        for (let k = 3; k < bins; k++) if (a[k]! > a[peak]!) peak = k;
        expect(peak).toBe(BIN);
        expect(freq[fr * bins + peak]).toBeCloseTo(f0, 9);
        expect(a[BIN]).toBeCloseTo(3, 6);
        expect(pow[fr * bins + BIN]).toBeCloseTo(4.5, 5);
        expect(a[0]).toBeCloseTo(5, 6); // DC reads the mean
      }
    });
  }

  it('gives identical output whatever the batch boundaries, frame times from the first sample', () => {
    const opts = { stream: 'in', frame_size: 64, overlap: 0.25 };
    const one = run(opts, scalarBatches('in', series, [])).res;
    const many = run(opts, scalarBatches('in', series, [1, 77, 500, 501, 1333, 2000])).res;
    for (const c of ['amplitude', 'freq_hz', 'source', 'power']) expect(cat(many, c)).toEqual(cat(one, c));
    expect(many.flatMap((b) => col(b, 't_ns'))).toEqual(one.flatMap((b) => col(b, 't_ns')));
    const t = one.flatMap((b) => col(b, 't_ns')) as bigint[];
    const src = cat(one, 'source');
    const tag0 = t.filter((_, i) => src[i] === 0 && i % 33 === 0);
    expect(tag0[1]! - tag0[0]!).toBe(48n * 1_000_000n); // hop = 48 samples of 1 ms
    expect(tag0[0]).toBe(series.ts[0]);
  });

  it('analyses waveforms per event with fs = 1/dt', () => {
    const dt = 4; // 250 MHz
    const wave = Array.from({ length: 128 }, (_, i) => 1000 + Math.round(200 * Math.sin((2 * Math.PI * 8 * i) / 64)));
    const sb = waveBatch('w', [{ ts: 1_000_000n, ch: 2, wave }, { ts: 2_000_000n, ch: 3, wave }], dt);
    const { res, out } = run({ stream: 'w', frame_size: 64, overlap: 0, window: 'rect', channels: [2] }, [sb], waveInfo('w', [2, 3]));
    expect(out.lineage).toEqual({ plugin: 'fft', version: '1.0.0', optionsHash: optionsHash(fftOptions.parse({ stream: 'w', frame_size: 64, overlap: 0, window: 'rect', channels: [2] })), inputs: ['w'] });
    const amp = cat(res, 'amplitude');
    const freq = cat(res, 'freq_hz');
    expect(amp.length).toBe(2 * 33); // two frames of channel 2 only
    expect(freq[8]).toBeCloseTo((8 * 250e6) / 64, 3);
    expect(amp[8]).toBeGreaterThan(199);
    expect(amp[8]).toBeLessThan(201);
    expect(amp[0]).toBeCloseTo(1000, 0);
    expect(col(res[0]!, 't_ns')[33]).toBe(1000n + 64n * 4n); // 1_000_000 ps = 1000 ns, second frame 64 samples later
  });

  it('channel mode frames across events of a channel', () => {
    const mk = (phase: number) => Array.from({ length: 48 }, (_, i) => 500 + Math.round(100 * Math.cos((2 * Math.PI * 4 * (i + phase)) / 32)));
    const sb1 = waveBatch('w', [{ ts: 0n, ch: 0, wave: mk(0) }]);
    const sb2 = waveBatch('w', [{ ts: 192_000n, ch: 0, wave: mk(48) }]);
    const { res } = run({ stream: 'w', frame_size: 32, overlap: 0, window: 'rect', mode: 'channel' }, [sb1, sb2], waveInfo('w', [0]));
    const amp = cat(res, 'amplitude');
    expect(amp.length).toBe(3 * 17); // 96 samples -> 3 frames of 32
    for (let f = 0; f < 3; f++) expect(amp[f * 17 + 4]).toBeCloseTo(100, 0);
    expect(res.flatMap((b) => col(b, 't_ns'))[2 * 17]).toBe(64n * 4n);
  });

  it('rejects a frame size that is not a power of two and an unknown tag', () => {
    expect(() => fftOptions.parse({ stream: 'in', frame_size: 100 })).toThrow(/power of two/);
    const p = fftProcessor.create(fftOptions.parse({ stream: 'in', tags: ['nope'] }), 'spec');
    expect(() => p.outputs([scalarInfo('in', 2)])).toThrow(/tag "nope" is not in the tag table of stream "in"/);
  });
});
