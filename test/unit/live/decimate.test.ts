import { describe, expect, it } from 'vitest';
import { minMaxDecimate } from '../../../src/live/decimate.ts';
import { TrendRing } from '../../../src/live/ring.ts';

describe('minMaxDecimate', () => {
  it('keeps each bucket min and max, and the first x', () => {
    const y = Float64Array.of(1, 5, 2, 0, 3, 3, 9, 4);
    const d = minMaxDecimate(y, 4);
    expect([...d.x]).toEqual([0, 2, 4, 6]);
    expect([...d.min]).toEqual([1, 0, 3, 4]);
    expect([...d.max]).toEqual([5, 2, 3, 9]);
  });

  it('keeps a one-sample spike among a million points', () => {
    const y = new Float64Array(1_000_000);
    y[777_777] = 42;
    y[123_456] = -7;
    const d = minMaxDecimate(y, 800);
    expect(d.x.length).toBe(800);
    expect(Math.max(...d.max)).toBe(42);
    expect(Math.min(...d.min)).toBe(-7);
    expect(d.max[Math.floor((777_777 * 800) / 1_000_000)]).toBe(42);
  });

  it('uses given x positions and sub-ranges, and passes short series through', () => {
    const x = Float64Array.of(10, 20, 30, 40, 50);
    const y = Float64Array.of(5, 1, 7, 2, 8);
    const d = minMaxDecimate(y, 10, x, 1, 4);
    expect([...d.x]).toEqual([20, 30, 40]);
    expect([...d.min]).toEqual([1, 7, 2]);
    expect([...d.max]).toEqual([1, 7, 2]);
    expect(minMaxDecimate(new Float64Array(0), 10).x.length).toBe(0);
  });

  it('buckets of unequal size still cover every point once', () => {
    const y = Float64Array.from({ length: 10 }, (_, i) => i);
    const d = minMaxDecimate(y, 3);
    expect([...d.min]).toEqual([0, 3, 6]);
    expect([...d.max]).toEqual([2, 5, 9]);
  });
});

describe('TrendRing', () => {
  it('keeps the newest capacity points in order', () => {
    const r = new TrendRing(3);
    for (let i = 0; i < 5; i++) r.push(i, i * 10);
    const { t, v } = r.ordered();
    expect([...t]).toEqual([2, 3, 4]);
    expect([...v]).toEqual([20, 30, 40]);
    expect(r.length).toBe(3);
  });

  it('decimates in place, wrapped or not, exactly as the ordered copy would be', () => {
    for (const [capacity, pushed, buckets] of [
      [10, 4, 3], // not full
      [10, 10, 4], // full, not wrapped
      [10, 17, 4], // wrapped
      [1000, 2345, 7], // wrapped, buckets straddle the wrap
      [7, 30, 20], // more buckets than points
      [5, 0, 4], // empty
      [10, 17, 1], // one bucket: the whole wrapped ring
      [10, 10, 1], // one bucket: the whole ring, not wrapped
    ] as const) {
      const r = new TrendRing(capacity);
      for (let i = 0; i < pushed; i++) r.push(100 + i, Math.sin(i * 1.7) * 50 + (i % 13));
      const { t, v } = r.ordered();
      const want = minMaxDecimate(v, buckets, t);
      const got = r.decimate(buckets);
      expect([...got.x]).toEqual([...want.x]);
      expect([...got.min]).toEqual([...want.min]);
      expect([...got.max]).toEqual([...want.max]);
      // Into shared frame columns, at an offset, leaving the rest alone.
      const m = want.x.length;
      const out = { x: new Float64Array(m + 5).fill(-1), min: new Float64Array(m + 5).fill(-1), max: new Float64Array(m + 5).fill(-1) };
      expect(r.decimateInto(buckets, out, 3)).toBe(m);
      expect([...out.min]).toEqual([-1, -1, -1, ...want.min, -1, -1]);
      expect([...out.x.subarray(3, 3 + m)]).toEqual([...want.x]);
      expect([...out.max.subarray(3, 3 + m)]).toEqual([...want.max]);
    }
  });
});
