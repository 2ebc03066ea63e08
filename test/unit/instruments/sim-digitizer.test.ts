import { describe, expect, it } from 'vitest';
import { ChannelGenerator, simDigitizerOptions } from '../../../src/instruments/sim-digitizer.ts';
import { recordColumns, RecordFlags } from '../../../src/schema/waveform.ts';
import { validateBatch, recordsSchema } from '../../../src/index.ts';
import { sameBytes } from '../../helpers/bytes.ts';
import type { WaveBatch } from '../../../src/schema/batch.ts';

const T0 = 1_790_000_000_000_000_000n;
const PS = 1_000_000_000_000n;

function collect(g: ChannelGenerator, stepsPs: bigint[]): WaveBatch[] {
  const out: WaveBatch[] = [];
  for (const until of stepsPs) {
    const wb = g.generate(until, 'd.ch0');
    if (wb) out.push(wb);
  }
  return out;
}

function flatten(batches: WaveBatch[]) {
  const ts: bigint[] = [];
  const lens: number[] = [];
  const waves: Uint16Array[] = [];
  for (const b of batches) {
    const c = recordColumns(b.batch);
    for (let i = 0; i < b.batch.numRows; i++) {
      ts.push(c.timestamp[i]!);
      lens.push(c.event_length[i]!);
      const off = Number(c.wave_offset[i]);
      waves.push(b.samples.subarray(off, off + c.event_length[i]!));
    }
  }
  return { ts, lens, waves };
}

describe('sim-digitizer', () => {
  const opts = simDigitizerOptions.parse({ trigger_rate_hz: 2000, max_length: 50_000, long_fraction: 0.01, long_length: 300_000 });

  it('is deterministic for a seed and independent of how time is split', () => {
    const a = flatten(collect(new ChannelGenerator(opts, 9, 0, T0), [PS]));
    const b = flatten(collect(new ChannelGenerator(opts, 9, 0, T0), [PS / 7n, PS / 3n, (PS * 2n) / 3n, PS]));
    expect(b.ts).toEqual(a.ts);
    expect(b.lens).toEqual(a.lens);
    expect(b.waves.length).toBe(a.waves.length);
    expect(b.waves.every((w, i) => sameBytes(w, a.waves[i]!))).toBe(true);
    const other = flatten(collect(new ChannelGenerator(opts, 10, 0, T0), [PS]));
    expect(other.ts).not.toEqual(a.ts);
  });

  it('emits valid, sorted, non-overlapping events with 14-bit samples', () => {
    const batches = collect(new ChannelGenerator(opts, 1, 2, T0), [PS / 2n, PS]);
    const info = { name: 'd.ch0', kind: 'waveform' as const, schema: recordsSchema, lineage: { plugin: 't', version: '1', optionsHash: '', inputs: [] } };
    for (const b of batches) {
      validateBatch(info, b);
      const c = recordColumns(b.batch);
      for (let i = 0; i < b.batch.numRows; i++) {
        expect(c.channel[i]).toBe(2);
        expect(c.dt[i]).toBe(opts.dt_ns);
        expect(c.time[i]).toBe(T0 + c.timestamp[i]! / 1000n);
        if (i > 0) {
          const prevEnd = c.timestamp[i - 1]! + BigInt(c.event_length[i - 1]! * opts.dt_ns * 1000);
          expect(c.timestamp[i]! >= prevEnd).toBe(true);
        }
      }
      expect(b.samples.every((s) => s <= 16383)).toBe(true);
    }
  });

  it('triggers at the configured Poisson rate (minus dead time)', () => {
    const o = simDigitizerOptions.parse({ trigger_rate_hz: 1000, max_length: 1000 });
    const { ts, lens } = flatten(collect(new ChannelGenerator(o, 4, 0, T0), [PS * 20n]));
    // Expected count: 20 s / (mean gap + mean dead time).
    const meanLen = lens.reduce((a, l) => a + l, 0) / lens.length;
    const expected = 20 / (1 / 1000 + (meanLen * o.dt_ns) / 1e9);
    expect(Math.abs(ts.length - expected) / expected).toBeLessThan(0.05);
    // Inter-arrival coefficient of variation near 1 (exponential).
    const gaps = ts.slice(1).map((t, i) => Number(t - ts[i]!) / 1e12 - (lens[i]! * o.dt_ns) / 1e9);
    const m = gaps.reduce((a, g) => a + g, 0) / gaps.length;
    const sd = Math.sqrt(gaps.reduce((a, g) => a + (g - m) ** 2, 0) / gaps.length);
    expect(sd / m).toBeGreaterThan(0.9);
    expect(sd / m).toBeLessThan(1.1);
  });

  it('spreads lengths log-uniformly from min to max with occasional very long events', () => {
    const { lens } = flatten(collect(new ChannelGenerator(opts, 6, 0, T0), [PS * 3n]));
    const normal = lens.filter((l) => l !== opts.long_length);
    const long = lens.length - normal.length;
    expect(Math.min(...normal)).toBeGreaterThanOrEqual(opts.min_length);
    expect(Math.max(...normal)).toBeLessThanOrEqual(opts.max_length);
    // log-uniform: each decade between 32 and 50k holds a share proportional to its log width.
    const logSpan = Math.log(opts.max_length / opts.min_length);
    const share = (lo: number, hi: number) => normal.filter((l) => l >= lo && l < hi).length / normal.length;
    expect(Math.abs(share(32, 320) - Math.log(10) / logSpan)).toBeLessThan(0.04);
    expect(Math.abs(share(5000, 50_000) - Math.log(10) / logSpan)).toBeLessThan(0.04);
    expect(long / lens.length).toBeGreaterThan(0.005);
    expect(long / lens.length).toBeLessThan(0.02);
  });

  it('draws pulses above the baseline and flags saturation', () => {
    const o = simDigitizerOptions.parse({ amplitude_min: 20000, amplitude_max: 30000, max_length: 200, trigger_rate_hz: 100 });
    const [b] = collect(new ChannelGenerator(o, 2, 0, T0), [PS]);
    const c = recordColumns(b!.batch);
    expect(c.flags[0]! & RecordFlags.SATURATED).toBe(RecordFlags.SATURATED);
    const w = b!.samples.subarray(0, c.event_length[0]!);
    expect(Math.max(...w)).toBe(16383);
    expect(Math.abs(w[0]! - o.baseline)).toBeLessThan(8 * o.noise_sigma);
  });

  // Event times are built from 32-bit words with doubles (no bigint per event): check them
  // against bigint arithmetic where words carry and where a gap passes 2^52 ps.
  it('gives exact timestamps and times far from 0: a clock started later shifts every timestamp by exactly that', () => {
    const o = simDigitizerOptions.parse({ trigger_rate_hz: 5000, max_length: 2000 });
    const start = (1n << 62n) - 3n * PS - 12_345n; // low word near wrapping, 2^62 ps: far past 2^53
    const t0 = (1n << 40n) * 1000n - 1n; // time words carry too
    const ga = new ChannelGenerator(o, 4, 1, t0);
    const a = flatten(collect(ga, [PS / 3n, PS]));
    const gb = new ChannelGenerator(o, 4, 1, t0, start);
    const bb = collect(gb, [start + PS / 3n, start + PS]);
    const b = flatten(bb);
    expect(a.ts.length).toBeGreaterThan(1000);
    expect(b.ts).toEqual(a.ts.map((t) => t + start));
    expect(b.lens).toEqual(a.lens);
    for (const wb of bb) {
      const c = recordColumns(wb.batch);
      for (let i = 0; i < wb.batch.numRows; i++) expect(c.time[i]).toBe(t0 + c.timestamp[i]! / 1000n);
    }
    expect(gb.nextTriggerPs).toBe(ga.nextTriggerPs + start);
  });

  it('stays exact across gaps longer than 2^52 ps (a trigger every few hours) however time is split', () => {
    const o = simDigitizerOptions.parse({ trigger_rate_hz: 1e-4, max_length: 100 });
    const hours = 3600n * PS;
    const end = 2000n * hours;
    const a = flatten(collect(new ChannelGenerator(o, 7, 0, T0), [end]));
    const steps = Array.from({ length: 37 }, (_, i) => (end * BigInt(i + 1)) / 37n);
    const bb = collect(new ChannelGenerator(o, 7, 0, T0), steps);
    const b = flatten(bb);
    expect(a.ts.length).toBeGreaterThan(20);
    expect(b.ts).toEqual(a.ts);
    // The gaps are hours: many of them pass 2^52 ps (about 75 minutes).
    const gaps = a.ts.slice(1).map((t, i) => t - a.ts[i]!);
    expect(gaps.filter((g) => g > 1n << 52n).length).toBeGreaterThan(5);
    for (const wb of bb) {
      const c = recordColumns(wb.batch);
      for (let i = 0; i < wb.batch.numRows; i++) expect(c.time[i]).toBe(T0 + c.timestamp[i]! / 1000n);
    }
  });

  it('flags saturation outside the pulse too (a baseline at the top of the range)', () => {
    // Every sample before the pulse (pretrigger 64, events up to 64 samples): baseline + noise only.
    const o = simDigitizerOptions.parse({ baseline: 16382, noise_sigma: 3, amplitude_min: 0, amplitude_max: 0, min_length: 32, max_length: 64, long_fraction: 0, pretrigger: 64, trigger_rate_hz: 1000 });
    const [b] = collect(new ChannelGenerator(o, 3, 0, T0), [PS]);
    const c = recordColumns(b!.batch);
    let flagged = 0;
    for (let i = 0; i < b!.batch.numRows; i++) {
      const off = Number(c.wave_offset[i]);
      const w = b!.samples.subarray(off, off + c.event_length[i]!);
      const sat = (c.flags[i]! & RecordFlags.SATURATED) !== 0;
      // Flagged exactly when a sample sits at the top (noise above +1/3 sigma).
      expect(sat).toBe(w.includes(16383));
      if (sat) flagged++;
      expect(Math.min(...w)).toBeGreaterThan(16382 - 8 * 3);
    }
    expect(flagged).toBeGreaterThan(b!.batch.numRows / 2);
  });

  it('takes a decay far longer than any event (the pulse shape is kept only as long as events get)', () => {
    const o = simDigitizerOptions.parse({ decay_samples: 1e12, max_length: 100, long_fraction: 0, trigger_rate_hz: 1000 });
    const [b] = collect(new ChannelGenerator(o, 5, 0, T0), [PS / 10n]);
    const c = recordColumns(b!.batch);
    expect(b!.batch.numRows).toBeGreaterThan(10);
    // Past the pretrigger the pulse rises (decay ~1, rise term falling): samples end above the baseline.
    const len = c.event_length[0]!;
    expect(b!.samples[len - 1]!).toBeGreaterThan(o.baseline + 8 * o.noise_sigma);
  });
});
