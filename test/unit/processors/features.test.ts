import { describe, expect, it } from 'vitest';
import { featuresOptions, featuresProcessor } from '../../../src/processors/features.processor.ts';
import type { StreamBatch } from '../../../src/schema/batch.ts';
import { validateBatch } from '../../../src/schema/validate.ts';
import { cat, col, waveBatch, waveInfo } from './helpers.ts';

/** Baseline b for 20 samples, linear rise of h over 10 samples, linear fall over 20, then b (sign = direction). */
function pulse(b: number, h: number, sign: 1 | -1): number[] {
  const w: number[] = [];
  for (let i = 0; i < 20; i++) w.push(b);
  for (let k = 1; k <= 10; k++) w.push(b + sign * (h * k) / 10);
  for (let j = 1; j <= 20; j++) w.push(b + sign * (h - (h * j) / 20));
  for (let i = 0; i < 14; i++) w.push(b);
  return w;
}

function run(options: Record<string, unknown>, batches: StreamBatch[]) {
  const p = featuresProcessor.create(featuresOptions.parse({ stream: 'w', ...options }), 'feat');
  const [out] = p.outputs([waveInfo('w', [0, 1])]);
  const res = batches.flatMap((b) => p.process(b, () => {}) as StreamBatch[]);
  for (const r of res) validateBatch(out!, r);
  return res;
}

describe('waveform features processor', () => {
  it('computes exact baseline, amplitude, area, peak time and rise time of synthetic pulses', () => {
    const sb = waveBatch(
      'w',
      [
        { ts: 5_000n, ch: 0, wave: pulse(100, 1000, 1) },
        { ts: 9_000n, ch: 1, wave: pulse(3000, 2000, -1) },
      ],
      4,
    );
    const res = run({ baseline_samples: 16 }, [sb]);
    expect(res).toHaveLength(1);
    expect(col(res[0]!, 'timestamp')).toEqual([5_000n, 9_000n]);
    expect(cat(res, 'channel')).toEqual([0, 1]);
    expect(cat(res, 'baseline')).toEqual([100, 3000]);
    expect(cat(res, 'amplitude')).toEqual([1000, 2000]);
    expect(cat(res, 'polarity')).toEqual([1, -1]);
    // rise: 100·(1+..+10) = 5500, fall: Σ_{j=1..20} (1000 − 50 j) = 9500; × dt 4 ns
    expect(cat(res, 'area')).toEqual([15000 * 4, -30000 * 4]);
    expect(cat(res, 'peak_time_ns')).toEqual([29 * 4, 29 * 4]); // top of the ramp is sample 29
    // 10 % at sample 20, 90 % at sample 28 -> 8 samples
    const rise = cat(res, 'rise_time_ns');
    expect(rise[0]).toBeCloseTo(32, 9);
    expect(rise[1]).toBeCloseTo(32, 9);
  });

  it('interpolates the rise time between samples and honours a forced polarity and channel filter', () => {
    // Rise 0 -> 1000 over 4 samples (250 per sample): 10 % at 0.4, 90 % at 3.6 -> 3.2 samples
    const wave = [50, 50, 50, 50, 300, 550, 800, 1050, 1050, 50];
    const res = run({ baseline_samples: 4, polarity: 'positive', channels: [1] }, [
      waveBatch('w', [
        { ts: 1n, ch: 0, wave },
        { ts: 2n, ch: 1, wave },
      ], 10),
    ]);
    expect(cat(res, 'channel')).toEqual([1]);
    expect(cat(res, 'rise_time_ns')[0]).toBeCloseTo(32, 9);
    expect(cat(res, 'peak_time_ns')).toEqual([70]);
    const neg = run({ baseline_samples: 4, polarity: 'negative' }, [waveBatch('w', [{ ts: 1n, ch: 0, wave }], 10)]);
    expect(cat(neg, 'amplitude')).toEqual([0]);
    expect(Number.isNaN(cat(neg, 'rise_time_ns')[0])).toBe(true);
  });
});
