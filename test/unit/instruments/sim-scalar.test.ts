import { describe, expect, it } from 'vitest';
import { ScalarGenerator, simScalarOptions, simScalar, simScalarTags, batchRows } from '../../../src/instruments/sim-scalar.ts';
import { scalarColumns, tagArray } from '../../../src/schema/scalar.ts';
import { sameBytes } from '../../helpers/bytes.ts';
import { concatScalar } from '../../helpers/scalar.ts';

const T0 = 1_790_000_000_000_000_000n;


describe('sim-scalar', () => {
  const opts = simScalarOptions.parse({ tags: 1000, rate_hz: 5, bad_quality_fraction: 0.01 });

  it('is deterministic for a seed and independent of batch boundaries', () => {
    const a = new ScalarGenerator(opts, 42, T0);
    const one = concatScalar([a.generate(20_000, 's')]);
    const b = new ScalarGenerator(opts, 42, T0);
    const parts = concatScalar([b.generate(7, 's'), b.generate(9_993, 's'), b.generate(10_000, 's')]);
    expect(sameBytes(parts.ts, one.ts)).toBe(true);
    expect(sameBytes(parts.tag, one.tag)).toBe(true);
    expect(sameBytes(parts.value, one.value)).toBe(true);
    expect(sameBytes(parts.quality, one.quality)).toBe(true);
    const c = concatScalar([new ScalarGenerator(opts, 43, T0).generate(20_000, 's')]);
    expect(sameBytes(c.value, one.value)).toBe(false);
  });

  it('gives every tag rate_hz points per second, spread evenly and time-ordered', () => {
    const g = new ScalarGenerator(opts, 1, T0);
    const seconds = 4;
    const n = opts.tags * opts.rate_hz * seconds;
    const { ts, tag } = concatScalar([g.generate(n, 's')]);
    const perTag = new Uint32Array(opts.tags);
    for (let i = 0; i < n; i++) perTag[tag[i]!]!++;
    expect(Math.min(...perTag)).toBe(opts.rate_hz * seconds);
    expect(Math.max(...perTag)).toBe(opts.rate_hz * seconds);
    for (let i = 1; i < n; i++) expect(ts[i]! >= ts[i - 1]!).toBe(true);
    // The last point lies just under `seconds` after t0: the load is spread over the period.
    const spanS = Number(ts[n - 1]! - T0) / 1e9;
    expect(spanS).toBeGreaterThan(seconds - 2 / opts.rate_hz);
    expect(spanS).toBeLessThan(seconds);
    // Points in each 10 ms bin differ by at most one tag-period's share (no avalanche).
    const bins = new Uint32Array(seconds * 100);
    for (let i = 0; i < n; i++) bins[Math.floor(Number(ts[i]! - T0) / 1e7)]!++;
    const expected = (opts.tags * opts.rate_hz) / 100;
    for (const b of bins) expect(Math.abs(b - expected)).toBeLessThanOrEqual(1);
  });

  it('marks about bad_quality_fraction of points bad, with varied models', () => {
    const g = new ScalarGenerator(opts, 3, T0);
    const { quality, value, tag } = concatScalar([g.generate(200_000, 's')]);
    const bad = quality.reduce((a, q) => a + (q !== 0 ? 1 : 0), 0) / quality.length;
    expect(bad).toBeGreaterThan(0.007);
    expect(bad).toBeLessThan(0.013);
    // Different tags have different levels; values are finite.
    const t0vals = value.filter((_, i) => tag[i] === 0);
    const t1vals = value.filter((_, i) => tag[i] === 1);
    expect(t0vals.every(Number.isFinite)).toBe(true);
    expect(Math.abs(t0vals[0]! - t1vals[0]!)).toBeGreaterThan(0);
  });

  it('supports a million tags without per-tag objects on the hot path', () => {
    const big = simScalarOptions.parse({ tags: 1_000_000, rate_hz: 0.1 });
    const g = new ScalarGenerator(big, 5, T0);
    const { tag } = concatScalar([g.generate(1_500_000, 's')]);
    expect(tag[999_999]).toBe(999_999);
    expect(tag[1_000_000]).toBe(0);
  });

  it('cuts batches by time at low rates', () => {
    expect(batchRows(simScalarOptions.parse({ tags: 300, rate_hz: 10 }))).toBe(300);
    expect(batchRows(simScalarOptions.parse({ tags: 1_000_000, rate_hz: 10 }))).toBe(65536);
  });

  it('run() paces to the wall clock and stops on abort', async () => {
    const o = simScalarOptions.parse({ tags: 100, rate_hz: 100, batch_ms: 20 });
    const ac = new AbortController();
    const t0 = BigInt(Date.now()) * 1_000_000n;
    let rows = 0;
    setTimeout(() => ac.abort(), 500);
    for await (const sb of simScalar.run(o, { signal: ac.signal, t0UnixNs: t0, sessionStartUnixNs: t0, seed: 1, log: () => {} }, 'p')) rows += sb.batch.numRows;
    const elapsedS = (Date.now() - Number(t0 / 1_000_000n)) / 1000;
    // Paced: never ahead of the wall clock (10k points/s), and not far behind it.
    expect(rows).toBeLessThanOrEqual(Math.ceil(elapsedS * 10_000) + 100);
    expect(rows).toBeGreaterThan(3000);
  });

  it('writes timestamps exactly t0 + offset for any t0 (32-bit word carries included)', () => {
    for (const t0 of [0n, 4_294_967_295n, (1n << 40n) - 5n, 1_790_000_000_123_456_789n]) {
      const g = new ScalarGenerator(simScalarOptions.parse({ tags: 1000, rate_hz: 7.3 }), 1, t0);
      const c = scalarColumns(g.generate(50_000, 's').batch);
      let bad = 0;
      for (let r = 0; r < c.tag.length; r++) if (c.timestampNs[r] !== t0 + BigInt(Math.round(g.timeOffsetNs(r)))) bad++;
      expect(bad, `t0 ${t0}`).toBe(0);
    }
  });
});

describe('SimTagTable', () => {
  const table = simScalarTags(simScalarOptions.parse({ tags: 10, tag_prefix: 'p/t' }));
  const plain = Array.from({ length: 10 }, (_, i) => ({ id: i, name: `p/t${i}`, unit: ['degC', 'bar', 'm3/h', 'kW', 'V', 'A', '%'][i % 7]!, type: 'float64' }));

  it('reads as the array of objects it stands for, without holding one', () => {
    expect(table.length).toBe(10);
    expect([...table]).toEqual(plain);
    expect(table.map((t, i) => `${i}:${t.name}`)).toEqual(plain.map((t, i) => `${i}:${t.name}`));
    expect(JSON.parse(JSON.stringify(table))).toEqual(plain);
    expect(tagArray(table)).toEqual(plain);
  });

  it('slices as Array.prototype.slice does, negative and out-of-range bounds included', () => {
    for (const [a, b] of [[0, 4], [3, undefined], [-3, undefined], [-12, 2], [8, 20], [5, 2], [undefined, undefined], [2, -2]] as const) {
      expect(table.slice(a, b), `slice(${a}, ${b})`).toEqual(plain.slice(a, b));
    }
  });
});
