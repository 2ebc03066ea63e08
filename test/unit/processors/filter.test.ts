import { describe, expect, it } from 'vitest';
import { filterOptions, filterProcessor } from '../../../src/processors/filter.processor.ts';
import { biquadGain, rbjBiquad } from '../../../src/processors/filter-bank.ts';
import type { StreamBatch } from '../../../src/schema/batch.ts';
import { validateBatch } from '../../../src/schema/validate.ts';
import { cat, col, scalarBatches, scalarInfo, scalarSeries } from './helpers.ts';

const FS = 1000;

function run(filter: Record<string, unknown>, batches: StreamBatch[], tags?: string[]) {
  const p = filterProcessor.create(filterOptions.parse({ stream: 'in', filter, ...(tags ? { tags } : {}) }), 'flt');
  const [out] = p.outputs([scalarInfo('in', 2)]);
  const res = batches.flatMap((b) => p.process(b, () => {}) as StreamBatch[]);
  for (const r of res) validateBatch(out!, r);
  return { res, out: out!, stats: p.stats!() };
}

/** Amplitude of the `fHz` component in the last `m` samples (m covering whole periods). */
function amplitudeAt(y: number[], fHz: number, m: number): number {
  let s = 0;
  let c = 0;
  const start = y.length - m;
  for (let k = start; k < y.length; k++) {
    s += y[k]! * Math.sin((2 * Math.PI * fHz * k) / FS);
    c += y[k]! * Math.cos((2 * Math.PI * fHz * k) / FS);
  }
  return (2 / m) * Math.hypot(s, c);
}

/** Steady-state gain of a filter on tag0 for a unit sine at fHz (2000 samples, last 1000 measured). */
function measuredGain(filter: Record<string, unknown>, fHz: number): number {
  const s = scalarSeries(1, 2000, 1_000_000n, (_t, k) => Math.sin((2 * Math.PI * fHz * k) / FS));
  const { res } = run(filter, scalarBatches('in', s, [333, 1000]), ['tag0']);
  return amplitudeAt(cat(res, 'value'), fHz, 1000);
}

describe('filter processor', () => {
  it('biquad low-pass is -3 dB at its cutoff and follows the RBJ response', () => {
    const spec = { type: 'biquad', mode: 'lowpass', cutoff_hz: 50, sample_rate_hz: FS };
    expect(20 * Math.log10(measuredGain(spec, 50))).toBeCloseTo(-3.01, 1);
    const c = rbjBiquad('lowpass', 50, Math.SQRT1_2, FS);
    for (const f of [5, 20, 100, 200]) expect(measuredGain(spec, f)).toBeCloseTo(biquadGain(c, f, FS), 3);
    expect(measuredGain(spec, 200)).toBeLessThan(0.07); // -24 dB two octaves up (2nd order)
  });

  it('biquad high-pass and band-pass match their theoretical gains', () => {
    const hp = { type: 'biquad', mode: 'highpass', cutoff_hz: 100, sample_rate_hz: FS };
    expect(20 * Math.log10(measuredGain(hp, 100))).toBeCloseTo(-3.01, 1);
    const bp = { type: 'biquad', mode: 'bandpass', cutoff_hz: 100, q: 2, sample_rate_hz: FS };
    expect(measuredGain(bp, 100)).toBeCloseTo(1, 3);
    const c = rbjBiquad('bandpass', 100, 2, FS);
    for (const f of [20, 50, 250]) expect(measuredGain(bp, f)).toBeCloseTo(biquadGain(c, f, FS), 3);
  });

  it('moving average nulls multiples of fs/length and passes DC', () => {
    const ma = { type: 'moving-average', length: 10 };
    expect(measuredGain(ma, 100)).toBeLessThan(1e-9);
    expect(measuredGain(ma, 200)).toBeLessThan(1e-9);
    // |H(f)| = |sin(pi f L / fs) / (L sin(pi f / fs))|
    const f = 25;
    expect(measuredGain(ma, f)).toBeCloseTo(Math.abs(Math.sin((Math.PI * f * 10) / FS) / (10 * Math.sin((Math.PI * f) / FS))), 6);
    const dc = scalarSeries(1, 50, 1_000_000n, () => 80);
    expect(cat(run(ma, scalarBatches('in', dc, []), ['tag0']).res, 'value').every((v) => Math.abs(v - 80) < 1e-9)).toBe(true);
  });

  it('FIR with given taps matches |H| = |0.5 + 0.5 cos w| for [0.25, 0.5, 0.25]', () => {
    const fir = { type: 'fir', taps: [0.25, 0.5, 0.25] };
    for (const f of [50, 125, 250]) expect(measuredGain(fir, f)).toBeCloseTo(Math.abs(0.5 + 0.5 * Math.cos((2 * Math.PI * f) / FS)), 6);
  });

  for (const filter of [
    { type: 'moving-average', length: 7 },
    { type: 'fir', taps: [0.1, -0.2, 0.7, 0.4] },
    { type: 'biquad', mode: 'lowpass', cutoff_hz: 30, sample_rate_hz: FS },
  ]) {
    it(`carries ${filter.type} state across batch boundaries (same result as one batch)`, () => {
      const s = scalarSeries(2, 600, 1_000_000n, (t, k) => Math.sin(k * (0.05 + t * 0.1)) + (k % 13) * 0.01);
      const one = run(filter, scalarBatches('in', s, [])).res;
      const many = run(filter, scalarBatches('in', s, [1, 2, 99, 100, 601, 1000])).res;
      expect(cat(many, 'value')).toEqual(cat(one, 'value'));
      expect(many.flatMap((b) => col(b, 'timestamp_ns'))).toEqual(one.flatMap((b) => col(b, 'timestamp_ns')));
    });
  }

  it('outputs only the configured tags, keeps the tag table, passes bad-quality points through unfiltered', () => {
    const s = scalarSeries(2, 20, 1_000_000n, (t, k) => t * 100 + k);
    s.quality[6] = 2; // tag0, k = 3
    const { res, out, stats } = run({ type: 'moving-average', length: 4 }, scalarBatches('in', s, [7]), ['tag0']);
    expect(out.tags).toEqual(scalarInfo('in', 2).tags);
    expect(out.lineage.inputs).toEqual(['in']);
    expect(cat(res, 'tag').every((t) => t === 0)).toBe(true);
    const v = cat(res, 'value');
    expect(v.length).toBe(20);
    expect(v[3]).toBe(3); // raw, quality kept
    expect(cat(res, 'quality')[3]).toBe(2);
    expect(v[5]).toBeCloseTo((5 + 4 + 2 + 1) / 4, 12); // k=3 never entered the state
    expect(stats.passedUnfiltered).toBe(1);
  });

  it('rejects a cutoff above Nyquist and bad taps', () => {
    expect(() => filterOptions.parse({ stream: 'in', filter: { type: 'biquad', mode: 'lowpass', cutoff_hz: 600, sample_rate_hz: FS } })).toThrow(/sample_rate_hz \/ 2/);
    expect(() => filterOptions.parse({ stream: 'in', filter: { type: 'fir', taps: [] } })).toThrow();
  });
});
