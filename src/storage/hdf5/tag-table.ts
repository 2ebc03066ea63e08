import type { TagInfo, TagTable } from '../../schema/scalar.ts';

/** One fixed-length string column, already encoded: `n × width` bytes, UTF-8, zero-padded. */
export interface FixedStrings {
  bytes: Uint8Array;
  width: number;
}

/**
 * A stream's tag table encoded for the segment that stores it: ids plus fixed-length UTF-8
 * strings. Encoding 1M tag names costs 0.2 s from an array, ~1 s from a table made on demand, so
 * the sink encodes a table when its stream is added (cached by the table's identity) and hands the
 * bytes to the first segment, which stores them; later segments refer to that one. The segment
 * writer copies the bytes into the file without decoding them again.
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

/** Writes v (UTF-8, at most `width` bytes) at bytes[o...] (ASCII without an encoder). */
function put(bytes: Uint8Array, buf: Buffer, o: number, width: number, v: string): void {
  for (let c = 0; c < v.length; c++) {
    const code = v.charCodeAt(c);
    if (code > 0x7f) {
      buf.write(v, o, width, 'utf8');
      return;
    }
    bytes[o + c] = code;
  }
}

function column(n: number, width: number): FixedStrings & { buf: Buffer } {
  const bytes = new Uint8Array(n * width); // zero-filled: shorter strings are NUL-padded
  return { bytes, width, buf: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length) };
}

/**
 * Encodes a table in two passes over its tags (widths and ids, then bytes), 64k tags at a time
 * through `slice`: a table that makes its tags on demand never has them all at once.
 */
export function encodeTagTable(tags: TagTable): EncodedTagTable {
  const n = tags.length;
  const CHUNK = 65536;
  const chunks = function* (): Generator<[number, readonly TagInfo[]]> {
    for (let a = 0; a < n; a += CHUNK) yield [a, Array.isArray(tags) ? (tags as readonly TagInfo[]).slice(a, a + CHUNK) : tags.slice(a, a + CHUNK)];
  };
  const id = new Uint32Array(n);
  let wName = 1;
  let wUnit = 1;
  let wType = 1;
  for (const [a, part] of chunks()) {
    for (let k = 0; k < part.length; k++) {
      const t = part[k]!;
      id[a + k] = t.id;
      wName = Math.max(wName, utf8Length(t.name));
      wUnit = Math.max(wUnit, utf8Length(t.unit));
      wType = Math.max(wType, utf8Length(t.type));
    }
  }
  const name = column(n, wName);
  const unit = column(n, wUnit);
  const type = column(n, wType);
  for (const [a, part] of chunks()) {
    for (let k = 0; k < part.length; k++) {
      const t = part[k]!;
      const i = a + k;
      put(name.bytes, name.buf, i * wName, wName, t.name);
      put(unit.bytes, unit.buf, i * wUnit, wUnit, t.unit);
      put(type.bytes, type.buf, i * wType, wType, t.type);
    }
  }
  const strip = (c: FixedStrings & { buf: Buffer }): FixedStrings => ({ bytes: c.bytes, width: c.width });
  return { encoded: true, id, name: strip(name), unit: strip(unit), type: strip(type) };
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
