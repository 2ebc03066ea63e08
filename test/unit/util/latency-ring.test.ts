import { describe, expect, it } from 'vitest';
import { LatencyRing } from '../../../src/util/latency-ring.ts';

describe('LatencyRing', () => {
  it('quantiles of the last N values; clear() forgets the earlier ones', () => {
    const r = new LatencyRing(100);
    for (let i = 0; i < 50; i++) r.add(1000); // a slow start
    for (let i = 1; i <= 100; i++) r.add(i); // pushes the start out of the ring
    expect(r.count).toBe(100);
    expect(r.quantile(0.5)).toBe(51);
    expect(r.quantile(0.99)).toBe(100);
    r.add(5000);
    expect(r.quantile(1)).toBe(5000);
    r.clear();
    expect([r.count, r.quantile(0.99)]).toEqual([0, 0]);
    r.add(7);
    r.add(3);
    expect([r.quantile(0), r.quantile(0.99)]).toEqual([3, 7]);
  });
});
