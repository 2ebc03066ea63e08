import { describe, expect, it } from 'vitest';
import { encodedTagTable, encodeTagTable, takeEncodedTagTable } from '../../../src/storage/hdf5/tag-table.ts';
import type { TagInfo } from '../../../src/schema/scalar.ts';

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
});
