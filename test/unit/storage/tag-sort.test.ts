import { describe, expect, it } from 'vitest';
import { sortByTagThenTime } from '../../../src/storage/hdf5/tag-sort.ts';

/** Points of 4 tags, arrival order, tag 2 out of time order once. */
function points() {
  const tag = new Uint32Array([3, 0, 2, 1, 0, 2, 3, 2, 0]);
  const timestampNs = new BigInt64Array([10n, 11n, 30n, 13n, 14n, 15n, 16n, 5n, -(2n ** 40n)]);
  const value = Float64Array.from(tag, (t, i) => t * 100 + i);
  const quality = Uint8Array.from(tag, (_, i) => i);
  return { tag, timestampNs, value, quality };
}

/** (tag, time) order, stable, computed the obvious way. */
function reference(p: ReturnType<typeof points>): number[] {
  return [...p.tag.keys()].sort((a, b) => p.tag[a]! - p.tag[b]! || (p.timestampNs[a]! < p.timestampNs[b]! ? -1 : p.timestampNs[a]! > p.timestampNs[b]! ? 1 : a - b));
}

describe('sortByTagThenTime', () => {
  it('sorts into arrays it is given, at any offset in a shared buffer (the segment writer passes views on the WebAssembly heap)', () => {
    const p = points();
    const n = p.tag.length;
    const heap = new ArrayBuffer(24 + 17 * n + 8);
    new Uint8Array(heap).fill(0xee);
    const into = { timestampNs: new BigInt64Array(heap, 24, n), value: new Float64Array(heap, 24 + 8 * n, n), quality: new Uint8Array(heap, 24 + 16 * n, n) };
    const s = sortByTagThenTime(p, into);
    const order = reference(p);
    expect(s.timestampNs).toBe(into.timestampNs);
    expect([...into.timestampNs]).toEqual(order.map((i) => p.timestampNs[i]));
    expect([...into.value]).toEqual(order.map((i) => p.value[i]));
    expect([...into.quality]).toEqual(order.map((i) => p.quality[i]));
    // Nothing outside the views is written.
    expect([...new Uint8Array(heap, 0, 24)].every((b) => b === 0xee)).toBe(true);
    expect([...new Uint8Array(heap, 24 + 17 * n)].every((b) => b === 0xee)).toBe(true);
    expect([...s.index.tag]).toEqual([0, 1, 2, 3]);
    expect([...s.index.start]).toEqual([0n, 3n, 4n, 7n]);
    expect([...s.index.count]).toEqual([3n, 1n, 3n, 2n]);
    // Same result as into fresh arrays.
    const fresh = sortByTagThenTime(points());
    expect([...fresh.value]).toEqual([...into.value]);
  });

  it('refuses output arrays of the wrong length', () => {
    const p = points();
    expect(() => sortByTagThenTime(p, { timestampNs: new BigInt64Array(2), value: new Float64Array(p.tag.length), quality: new Uint8Array(p.tag.length) })).toThrow(RangeError);
  });
});
