import { describe, expect, it } from 'vitest';
import { encodedTagTable, encodeTagTable, takeEncodedTagTable } from '../../../src/storage/hdf5/tag-table.ts';
import type { TagInfo } from '../../../src/schema/scalar.ts';
import { simScalarOptions, simScalarTags } from '../../../src/instruments/sim-scalar.ts';

const tags: TagInfo[] = [
  { id: 0, name: 'plant/a', unit: 'degC', type: 'float64' },
  { id: 7, name: 'plant/température', unit: 'bar', type: 'int32' },
];

describe('tag table encoding', () => {
  it('pads names to one UTF-8 width and keeps ids', () => {
    const t = encodeTagTable(tags);
    expect([...t.id]).toEqual([0, 7]);
    const width = Buffer.byteLength('plant/température');
    expect(t.name.width).toBe(width);
    const dec = (i: number) => Buffer.from(t.name.bytes.subarray(i * width, (i + 1) * width)).toString('utf8').replace(/\0+$/, '');
    expect([dec(0), dec(1)]).toEqual(['plant/a', 'plant/température']);
  });

  it('is cached until taken for the segment that stores it, then no longer held', () => {
    const pre = encodedTagTable(tags);
    expect(encodedTagTable(tags)).toBe(pre); // cached per table
    expect(takeEncodedTagTable(tags)).toBe(pre); // the pre-encoded bytes go to the segment
    const again = takeEncodedTagTable(tags); // not cached any more: encoded anew
    expect(again).not.toBe(pre);
    expect(again).toEqual(pre);
  });

  it('encodes a table made on demand, across its 64k-tag chunks, as the same table as an array', () => {
    const sim = simScalarTags(simScalarOptions.parse({ tags: 70_000 }));
    const t = encodeTagTable(sim);
    const u = encodeTagTable(sim.slice());
    for (const k of ['name', 'unit', 'type'] as const) {
      expect(t[k].width, k).toBe(u[k].width);
      expect(Buffer.from(t[k].bytes).equals(Buffer.from(u[k].bytes)), k).toBe(true);
    }
    expect(Buffer.from(t.id.buffer).equals(Buffer.from(u.id.buffer))).toBe(true);
    const name = (i: number) => Buffer.from(t.name.bytes.subarray(i * t.name.width, (i + 1) * t.name.width)).toString('utf8').replace(/\0+$/, '');
    for (const i of [0, 65535, 65536, 69999]) {
      expect(name(i)).toBe(sim.at(i).name);
      expect(t.id[i]).toBe(i);
    }
  });
});
