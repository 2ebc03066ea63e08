import { describe, expect, it } from 'vitest';
import { stepAlignedRate, windowRate } from '../../bench/harness.ts';

/** A counter sampled every `every` ms from 0 to `end` ms that jumps by `step` every `period` ms, first at `phase`. */
function staircase(step: number, period: number, phase: number, end: number, every = 5): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let t = 0; t <= end; t += every) out.push([t, t < phase ? 0 : step * (1 + Math.floor((t - phase) / period))]);
  return out;
}

describe('stepAlignedRate (storage bench: acks released a segment at a time)', () => {
  it('gives the true rate whatever the phase of the steps in the window, where the whole-window count moves by a step', () => {
    // 1.6 M points every 560 ms: 2.857 M/s (10 or 11 releases in a 6 s window).
    const rates = [];
    const windows = [];
    for (const phase of [5, 120, 260, 400, 555]) {
      const s = staircase(1_600_000, 560, phase, 6000);
      const r = stepAlignedRate(s)!;
      rates.push(r.perS);
      windows.push(windowRate(s));
      expect(r.perS).toBeCloseTo(1.6e6 / 0.56, -3);
    }
    // The coarse figure depends on where the window falls: 10 or 11 steps in 6 s.
    expect(Math.max(...windows) - Math.min(...windows)).toBeGreaterThan(0.2e6);
  });

  it('counts only whole cycles: the points released at the first step are not in the rate', () => {
    const s: Array<[number, number]> = [
      [0, 0],
      [10, 0],
      [20, 1000], // first release: 1000 points that accumulated before the window
      [30, 1000],
      [1020, 2000],
      [2020, 3000],
      [2500, 3000],
    ];
    const r = stepAlignedRate(s)!;
    expect(r.perS).toBeCloseTo(1000, 6);
    expect(r.steps).toBe(2);
    expect(r.spanMs).toBe(2000);
  });

  it('is null with fewer than two steps (no cycle to measure)', () => {
    expect(stepAlignedRate([[0, 0], [10, 5], [20, 5]])).toBeNull();
    expect(stepAlignedRate([[0, 3], [10, 3]])).toBeNull();
  });
});
