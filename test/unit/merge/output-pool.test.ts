import { describe, expect, it } from 'vitest';
import { AREA, OutputPool, SAMPLES } from '../../../src/merge/output-pool.ts';
import { outputViews } from '../../../src/merge/wasm-kernel.ts';

describe('OutputPool (buffers of recycled merge output)', () => {
  it('reuses a given-back buffer that fits; exact sizes until something comes back, then full capacity', () => {
    const pool = new OutputPool(1 << 20);
    const a = pool.get(0, 800, 8000);
    expect(a.byteLength).toBe(800); // nothing given back yet: no spare room
    pool.put(0, a);
    expect(pool.held).toBe(1);
    expect(pool.get(0, 500, 8000)).toBe(a); // fits
    pool.put(0, a);
    const b = pool.get(0, 900, 8000); // a is too small: dropped, a new one with room
    expect(b).not.toBe(a);
    expect(b.byteLength).toBe(8000);
    expect(pool.held).toBe(0);
    expect(pool.get(0, 100, 100).byteLength).toBe(900); // at least the largest asked for so far
    expect(pool.get(1, 10).byteLength).toBe(10); // kinds are separate
  });

  it('ignores buffers it did not hand out, or gets back twice; keeps at most maxBytes', () => {
    const pool = new OutputPool(3000);
    pool.put(0, new ArrayBuffer(100));
    expect(pool.held).toBe(0);
    const bufs = [pool.get(0, 1000), pool.get(0, 1000), pool.get(0, 1000), pool.get(0, 1000)];
    pool.put(0, bufs[0]!);
    pool.put(0, bufs[0]!);
    expect(pool.held).toBe(1);
    for (const b of bufs.slice(1)) pool.put(0, b);
    expect(pool.held).toBe(3); // 3000 bytes: the fourth is left to the garbage collector
  });

  it('columns: one object shape, every column n rows long', () => {
    const pool = new OutputPool();
    const c = pool.columns(5, 100);
    expect(Object.keys(c)).toEqual(['timestamp', 'pid', 'channel', 'baseline', 'event_id', 'dt', 'trigger_type', 'flags', 'wave_offset', 'event_length', 'time']);
    expect(Object.values(c).every((v) => v.length === 5)).toBe(true);
    expect(pool.samples(7).length).toBe(7);
  });

  it('a batch whose columns lie in one area gives the area back once, as an area', () => {
    const pool = new OutputPool();
    const area = pool.get(AREA, 10 * 60);
    const smp = pool.get(SAMPLES, 100);
    pool.putBatch(outputViews(area, 10, 10), new Uint16Array(smp, 0, 30));
    expect(pool.held).toBe(2); // the area once (not once per column), the samples
    expect(pool.get(AREA, 600)).toBe(area);
    expect(pool.get(SAMPLES, 60)).toBe(smp);
    expect(pool.get(0, 8)).not.toBe(area); // not a column buffer
  });
});
