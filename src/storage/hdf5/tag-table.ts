import type { TagTable } from '../../schema/scalar.ts';

/** One fixed-length string column, already encoded: `n × width` bytes, UTF-8, zero-padded. */
export interface FixedStrings {
  bytes: Uint8Array;
  width: number;
}

/**
 * A stream's tag table encoded once for every segment that stores it: ids plus fixed-length
 * UTF-8 strings. Encoding 1M tag names costs ~0.3 s, so it is done once per tag table (cached by
 * the table's identity), not once per segment; the segment writer copies the bytes into the file
 * without decoding them again.
 */
export interface EncodedTagTable {
  encoded: true;
  id: Uint32Array;
  name: FixedStrings;
  unit: FixedStrings;
  type: FixedStrings;
}

/** Byte length in UTF-8, counting ASCII strings (tag names nearly always) without encoding. */
function utf8Length(v: string): number {
  for (let i = 0; i < v.length; i++) if (v.charCodeAt(i) > 0x7f) return Buffer.byteLength(v, 'utf8');
  return v.length;
}

function fixedStrings(values: readonly string[]): FixedStrings {
  let width = 1;
  for (const v of values) width = Math.max(width, utf8Length(v));
  const bytes = new Uint8Array(values.length * width); // zero-filled: shorter strings are NUL-padded
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let i = 0, o = 0; i < values.length; i++, o += width) {
    const v = values[i]!;
    let ascii = true;
    for (let c = 0; c < v.length; c++) {
      const code = v.charCodeAt(c);
      if (code > 0x7f) {
        ascii = false;
        break;
      }
      bytes[o + c] = code;
    }
    if (!ascii) buf.write(v, o, width, 'utf8');
  }
  return { bytes, width };
}

export function encodeTagTable(tags: TagTable): EncodedTagTable {
  return {
    encoded: true,
    id: Uint32Array.from(tags, (t) => t.id),
    name: fixedStrings(tags.map((t) => t.name)),
    unit: fixedStrings(tags.map((t) => t.unit)),
    type: fixedStrings(tags.map((t) => t.type)),
  };
}

const cache = new WeakMap<TagTable, EncodedTagTable>();

/** {@link encodeTagTable}, cached per tag-table array (a stream's table is replaced, never edited). */
export function encodedTagTable(tags: TagTable): EncodedTagTable {
  let t = cache.get(tags);
  if (!t) cache.set(tags, (t = encodeTagTable(tags)));
  return t;
}

/**
 * The table's encoding for the one segment that stores it, no longer cached: a session stores a
 * table once and later segments refer to it, so keeping the bytes (~30 MB at 1M tags) for the
 * rest of the run would only cost memory. Encodes it if it was not pre-encoded.
 */
export function takeEncodedTagTable(tags: TagTable): EncodedTagTable {
  const t = cache.get(tags) ?? encodeTagTable(tags);
  cache.delete(tags);
  return t;
}

export function isEncodedTagTable(x: unknown): x is EncodedTagTable {
  return typeof x === 'object' && x !== null && (x as { encoded?: unknown }).encoded === true;
}
