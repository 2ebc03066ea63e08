/**
 * A small, strict, read-only HDF5 metadata reader: where the raw bytes of a contiguous,
 * unfiltered dataset sit in the file, so that they can be read with plain positional reads
 * (`fs.readSync` at an offset) instead of a library call per slice.
 *
 * It reads only what it needs, by positional reads: the superblock, then the object headers along
 * the dataset's path (with their continuation blocks). Never the whole file. It supports exactly
 * what h5wasm 0.10 / libhdf5 1.14 writes for our segments:
 * - superblock version 2 or 3 (no user block), 8-byte offsets and lengths;
 * - version 2 object headers (`OHDR`, continuation blocks `OCHK`), Jenkins lookup3 checksums
 *   verified on the superblock and on every header block read;
 * - groups with compact link storage (link messages in the group's object header: h5wasm's
 *   default up to 8 links, which covers the root group and `/streams/<s>`), and dense link
 *   storage as libhdf5 writes it for more links (`/streams` with many streams): the name index is
 *   a version 2 B-tree of one leaf (up to ~45 links), the links live in a fractal heap whose root
 *   is a direct block or an indirect block of direct blocks;
 * - datasets with a version 3 or 4 data layout message of class contiguous, no filter pipeline,
 *   no external storage, a simple dataspace and a fixed-point or IEEE float datatype;
 * - external links (a segment's `/wave_pool` pointing into its pool file `wave-NNNNNN.h5`) on
 *   the dataset's path, followed as libhdf5 does by default for a relative target: the target file
 *   is resolved against the folder of the file holding the link (an absolute target as is), opened,
 *   and the walk goes on there with the link's object path (at most {@link MAX_EXTERNAL_HOPS}
 *   links; more is reported as a loop). {@link Located.file} names the file holding the bytes.
 *
 * Anything else (superblock 0/1 as h5py writes by default, v1 object headers, symbol-table
 * groups, deeper B-trees or heaps, soft links, chunked/compact/virtual layouts, filters,
 * shared datatypes) answers `{ kind: 'unsupported', reason }`, and the caller falls back to
 * h5wasm. Malformed metadata (bad signature or checksum, an address past the end of the file, a
 * message running out of its block, a truncated file) throws DAQ_ERR_HDF5 naming the file and
 * what is wrong: a caller must never read bytes from a location it could not verify.
 *
 * Format reference: "HDF5 File Format Specification Version 3.0" (superblock §II.A, object header
 * §IV.A, link §IV.A.2.g, link info §IV.A.2.c, dataspace §IV.A.2.b, datatype §IV.A.2.d, layout
 * §IV.A.2.i, continuation §IV.A.2.q).
 */
import fs from 'node:fs';
import path from 'node:path';
import { DaqError } from '../errors.ts';

export interface Located {
  kind: 'contiguous';
  /** The file holding the raw bytes: the file asked for, unless an external link was followed. */
  file: string;
  /** Absolute byte offset of the first element in the file. */
  offset: number;
  /** Bytes of raw data (elements × element size). */
  bytes: number;
  /** Current dimensions. */
  shape: number[];
  /** numpy-style type string, e.g. `<u2`, `>i8`, `<f4`. */
  dtype: string;
  /** File address of the dataset's object header (for diagnostics and tests). */
  header: number;
}

export interface Unsupported {
  kind: 'unsupported';
  reason: string;
}

const SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
const UNDEF = 0xffffffffffffffffn;
/** Sanity bounds: no real header of ours comes near them, a corrupt one is stopped by them. */
const MAX_HEADER_BLOCK = 1 << 24;
const MAX_BLOCKS = 4096;
const MAX_DEPTH = 64;
/** External links followed while resolving one path, at most. */
export const MAX_EXTERNAL_HOPS = 8;

const MSG = { nil: 0x00, dataspace: 0x01, linkInfo: 0x02, datatype: 0x03, link: 0x06, external: 0x07, layout: 0x08, filters: 0x0b, continuation: 0x10, symbolTable: 0x11 } as const;

/** Bob Jenkins' lookup3 `hashlittle` as HDF5's `H5_checksum_lookup3` (initval 0). */
export function lookup3(k: Uint8Array, initval = 0): number {
  let length = k.length;
  let a = (0xdeadbeef + length + initval) | 0;
  let b = a;
  let c = a;
  let o = 0;
  const rot = (x: number, r: number): number => (x << r) | (x >>> (32 - r));
  while (length > 12) {
    a = (a + (k[o]! | (k[o + 1]! << 8) | (k[o + 2]! << 16) | (k[o + 3]! << 24))) | 0;
    b = (b + (k[o + 4]! | (k[o + 5]! << 8) | (k[o + 6]! << 16) | (k[o + 7]! << 24))) | 0;
    c = (c + (k[o + 8]! | (k[o + 9]! << 8) | (k[o + 10]! << 16) | (k[o + 11]! << 24))) | 0;
    a = (a - c) | 0; a ^= rot(c, 4); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rot(a, 6); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rot(b, 8); b = (b + a) | 0;
    a = (a - c) | 0; a ^= rot(c, 16); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rot(a, 19); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rot(b, 4); b = (b + a) | 0;
    length -= 12;
    o += 12;
  }
  if (length === 0) return c >>> 0;
  // The tail: bytes added in order into a, b, c (the switch fall-through of the C original).
  for (let i = length - 1; i >= 0; i--) {
    const v = k[o + i]! << (8 * (i % 4));
    if (i >= 8) c = (c + v) | 0;
    else if (i >= 4) b = (b + v) | 0;
    else a = (a + v) | 0;
  }
  c ^= b; c = (c - rot(b, 14)) | 0;
  a ^= c; a = (a - rot(c, 11)) | 0;
  b ^= a; b = (b - rot(a, 25)) | 0;
  c ^= b; c = (c - rot(b, 16)) | 0;
  a ^= c; a = (a - rot(c, 4)) | 0;
  b ^= a; b = (b - rot(a, 14)) | 0;
  c ^= b; c = (c - rot(b, 24)) | 0;
  return c >>> 0;
}

/** Thrown out of the parser for a feature it does not read: the caller falls back. */
class NotSupported {
  constructor(readonly reason: string) {}
}

interface Message {
  type: number;
  flags: number;
  /** The message body (a view of its header block). */
  body: DataView;
  /** File address of the body, for error messages. */
  at: number;
}

/** Positional reads of one open file, every one checked against the file's size. */
class Reader {
  readonly size: number;
  constructor(
    readonly file: string,
    readonly fd: number,
  ) {
    this.size = fs.fstatSync(fd).size;
  }

  corrupt(what: string, at?: number): DaqError {
    const where = at === undefined ? '' : ` at byte ${at}`;
    return new DaqError('DAQ_ERR_HDF5', `${this.file}: malformed HDF5 metadata${where}: ${what}`, { details: { file: this.file, offset: at } });
  }

  read(at: number, n: number, what: string): Uint8Array {
    if (!(Number.isSafeInteger(at) && at >= 0 && n >= 0) || at + n > this.size) {
      throw this.corrupt(`${what} (${n} bytes) lies past the end of the file (${this.size} bytes): truncated or corrupt`, at);
    }
    const buf = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const r = fs.readSync(this.fd, buf, got, n - got, at + got);
      if (r <= 0) throw this.corrupt(`short read of ${what}: ${got} of ${n} bytes`, at);
      got += r;
    }
    return buf;
  }
}

/** A cursor over a DataView that throws `corrupt` instead of reading past its end. */
class Cursor {
  pos = 0;
  constructor(
    readonly v: DataView,
    readonly fail: (what: string) => DaqError,
  ) {}
  need(n: number, what: string): void {
    if (this.pos + n > this.v.byteLength) throw this.fail(`${what} runs past the end of its block`);
  }
  u8(what = 'field'): number {
    this.need(1, what);
    return this.v.getUint8(this.pos++);
  }
  u16(what = 'field'): number {
    this.need(2, what);
    const x = this.v.getUint16(this.pos, true);
    this.pos += 2;
    return x;
  }
  u32(what = 'field'): number {
    this.need(4, what);
    const x = this.v.getUint32(this.pos, true);
    this.pos += 4;
    return x;
  }
  u64(what = 'field'): bigint {
    this.need(8, what);
    const x = this.v.getBigUint64(this.pos, true);
    this.pos += 8;
    return x;
  }
  /** An unsigned little-endian integer of 1, 2, 4 or 8 bytes, as a safe number. */
  uint(bytes: number, what = 'field'): number {
    const x = bytes === 1 ? this.u8(what) : bytes === 2 ? this.u16(what) : bytes === 4 ? this.u32(what) : Number(this.u64(what));
    if (!Number.isSafeInteger(x)) throw this.fail(`${what} ${x} is too large`);
    return x;
  }
  skip(n: number, what = 'field'): void {
    this.need(n, what);
    this.pos += n;
  }
  bytes(n: number, what = 'field'): Uint8Array {
    this.need(n, what);
    const b = new Uint8Array(this.v.buffer, this.v.byteOffset + this.pos, n);
    this.pos += n;
    return b;
  }
}

function checkChecksum(r: Reader, block: Uint8Array, at: number, what: string): void {
  const n = block.length - 4;
  const stored = new DataView(block.buffer, block.byteOffset + n, 4).getUint32(0, true);
  const computed = lookup3(block.subarray(0, n));
  if (stored !== computed) throw r.corrupt(`${what} checksum mismatch (stored 0x${stored.toString(16)}, computed 0x${computed.toString(16)})`, at);
}

interface Superblock {
  base: number;
  root: number;
}

function readSuperblock(r: Reader): Superblock {
  const head = r.read(0, Math.min(r.size, 9), 'superblock signature');
  if (head.length < 9 || SIGNATURE.some((b, i) => head[i] !== b)) {
    // A user block would put the signature at 512, 1024, ...: h5wasm never writes one.
    if (head.length >= 8 && SIGNATURE.every((b, i) => head[i] === b)) throw r.corrupt('file ends inside the superblock', 0);
    throw new NotSupported('no HDF5 signature at byte 0 (not HDF5, or a user block)');
  }
  const version = head[8]!;
  if (version !== 2 && version !== 3) throw new NotSupported(`superblock version ${version} (only 2 and 3 are read directly)`);
  const sb = r.read(0, 48, 'superblock');
  const c = new Cursor(new DataView(sb.buffer), (w) => r.corrupt(`superblock: ${w}`, 0));
  c.skip(9);
  const offs = c.u8();
  const lens = c.u8();
  if (offs !== 8 || lens !== 8) throw new NotSupported(`superblock with ${offs}-byte offsets and ${lens}-byte lengths (only 8 and 8)`);
  checkChecksum(r, sb, 0, 'superblock');
  c.skip(1); // consistency flags
  const base = c.u64();
  c.u64(); // superblock extension (holds file-space info, not needed to find objects)
  const eof = c.u64();
  const root = c.u64();
  if (base !== 0n) throw new NotSupported(`base address ${base} (only 0)`);
  if (eof > BigInt(r.size)) throw r.corrupt(`the superblock says the file ends at byte ${eof}, but it has ${r.size} bytes: truncated`, 0);
  if (root === UNDEF || root >= eof) throw r.corrupt(`root group header address ${root} outside the file`, 0);
  return { base: Number(base), root: Number(root) };
}

/** All messages of the version 2 object header at `addr`, following continuation blocks. */
function readObjectHeader(r: Reader, addr: number): Message[] {
  const first = r.read(addr, Math.min(r.size - addr, 64), 'object header');
  if (first.length < 4) throw r.corrupt('object header cut by the end of the file', addr);
  const sig = String.fromCharCode(first[0]!, first[1]!, first[2]!, first[3]!);
  if (sig !== 'OHDR') {
    if (first[0] === 1) throw new NotSupported('version 1 object header');
    throw r.corrupt(`expected an object header signature "OHDR", found ${JSON.stringify(sig)}`, addr);
  }
  const c0 = new Cursor(new DataView(first.buffer), (w) => r.corrupt(`object header: ${w}`, addr));
  c0.skip(4);
  const version = c0.u8();
  if (version !== 2) throw r.corrupt(`object header version ${version} after "OHDR" (expected 2)`, addr);
  const flags = c0.u8();
  if (flags & 0xc0) throw r.corrupt(`object header flags 0x${flags.toString(16)} set reserved bits`, addr);
  if (flags & 0x20) c0.skip(16); // access, modification, change, birth times
  if (flags & 0x10) c0.skip(4); // attribute phase change values
  const sizeBytes = 1 << (flags & 0x03);
  const chunk0 = c0.uint(sizeBytes, 'chunk size');
  const prefix = c0.pos;
  const total = prefix + chunk0 + 4;
  if (chunk0 > MAX_HEADER_BLOCK) throw r.corrupt(`object header claims a ${chunk0}-byte block`, addr);
  const block = total <= first.length ? first.subarray(0, total) : r.read(addr, total, 'object header');
  checkChecksum(r, block, addr, 'object header');
  const withOrder = (flags & 0x04) !== 0;
  const messages: Message[] = [];
  const pending: Array<{ at: number; len: number }> = [];
  parseMessages(r, block, prefix, block.length - 4, addr, withOrder, messages, pending);
  let blocks = 1;
  while (pending.length > 0) {
    const { at, len } = pending.shift()!;
    if (++blocks > MAX_BLOCKS) throw r.corrupt(`more than ${MAX_BLOCKS} object header continuation blocks (a loop?)`, addr);
    if (len < 8 || len > MAX_HEADER_BLOCK) throw r.corrupt(`continuation block of ${len} bytes`, at);
    const b = r.read(at, len, 'object header continuation block');
    if (String.fromCharCode(b[0]!, b[1]!, b[2]!, b[3]!) !== 'OCHK') throw r.corrupt('expected a continuation block signature "OCHK"', at);
    checkChecksum(r, b, at, 'object header continuation block');
    parseMessages(r, b, 4, b.length - 4, at, withOrder, messages, pending);
  }
  return messages;
}

function parseMessages(r: Reader, block: Uint8Array, from: number, to: number, at: number, withOrder: boolean, out: Message[], pending: Array<{ at: number; len: number }>): void {
  const v = new DataView(block.buffer, block.byteOffset, block.byteLength);
  const headerLen = withOrder ? 6 : 4;
  let p = from;
  // What is left after the last message, when smaller than a message header, is a gap.
  while (to - p >= headerLen) {
    const type = v.getUint8(p);
    const size = v.getUint16(p + 1, true);
    const flags = v.getUint8(p + 3);
    const body = p + headerLen;
    if (body + size > to) throw r.corrupt(`message type 0x${type.toString(16)} (${size} bytes) runs past the end of its header block`, at + p);
    const msg: Message = { type, flags, body: new DataView(block.buffer, block.byteOffset + body, size), at: at + body };
    if (type === MSG.continuation) {
      const c = new Cursor(msg.body, (w) => r.corrupt(`continuation message: ${w}`, msg.at));
      pending.push({ at: c.uint(8, 'address'), len: c.uint(8, 'length') });
    } else if (type !== MSG.nil) out.push(msg);
    p = body + size;
  }
}

/** A link's target: an object header address in this file, or an object in another file. */
type LinkTarget = { kind: 'hard'; addr: number } | { kind: 'external'; file: string; path: string };

/**
 * A link message's target when its name is `want`, `undefined` when the name differs. Soft links
 * and user-defined link types are unsupported.
 */
function matchLink(r: Reader, body: DataView, at: number, want: Uint8Array, where: string): LinkTarget | undefined {
  const c = new Cursor(body, (w) => r.corrupt(`link message in ${where}: ${w}`, at));
  if (c.u8('version') !== 1) throw r.corrupt(`link message version (expected 1) in ${where}`, at);
  const flags = c.u8();
  const linkType = flags & 0x08 ? c.u8() : 0;
  if (flags & 0x04) c.skip(8);
  if (flags & 0x10) c.skip(1);
  const nameLen = c.uint(1 << (flags & 0x03), 'name length');
  const got = c.bytes(nameLen, 'link name');
  if (got.length !== want.length || got.some((b, i) => b !== want[i])) return undefined;
  const name = new TextDecoder().decode(want);
  if (linkType === 64) {
    // External link: info length, then a version/flags byte and two null-terminated strings.
    const len = c.u16('external link info length');
    const info = c.bytes(len, 'external link info');
    if (len < 1 || info[0]! >> 4 !== 0) throw new NotSupported(`${where}/${name}: external link info version ${info[0]! >> 4}`);
    const z1 = info.indexOf(0, 1);
    const z2 = z1 < 0 ? -1 : info.indexOf(0, z1 + 1);
    if (z1 < 0 || z2 < 0) throw r.corrupt(`external link ${where}/${name}: target file and object path are not two null-terminated strings`, at);
    const dec = new TextDecoder();
    const file = dec.decode(info.subarray(1, z1));
    const objPath = dec.decode(info.subarray(z1 + 1, z2));
    if (file.length === 0) throw r.corrupt(`external link ${where}/${name}: empty target file name`, at);
    return { kind: 'external', file, path: objPath };
  }
  if (linkType !== 0) throw new NotSupported(`${where}/${name} is a ${linkType === 1 ? 'soft' : `type ${linkType}`} link`);
  return { kind: 'hard', addr: c.uint(8, 'object address') };
}

/** The target of the link `name` in the group whose header holds `messages`. */
function findLink(r: Reader, messages: Message[], name: string, group: string): LinkTarget | null {
  const want = new TextEncoder().encode(name);
  for (const m of messages) {
    if (m.type === MSG.symbolTable) throw new NotSupported(`group ${group} is an old-style symbol-table group`);
    if (m.type === MSG.linkInfo) {
      const c = new Cursor(m.body, (w) => r.corrupt(`link info message of ${group}: ${w}`, m.at));
      if (c.u8() !== 0) throw new NotSupported(`link info message version of ${group}`);
      if (c.u8() & 0x01) c.skip(8);
      const heap = c.u64('fractal heap address');
      const nameIndex = c.u64('name index address');
      if (heap !== UNDEF) return findDenseLink(r, Number(heap), Number(nameIndex), want, group);
    }
  }
  for (const m of messages) {
    if (m.type !== MSG.link) continue;
    const target = matchLink(r, m.body, m.at, want, group);
    if (target !== undefined) return target;
  }
  return null;
}

/** A checksummed block: its signature checked, then its lookup3 checksum over `[0, sumAt)`. */
function readBlock(r: Reader, at: number, n: number, sig: string, what: string): Uint8Array {
  const b = r.read(at, n, what);
  if (String.fromCharCode(b[0]!, b[1]!, b[2]!, b[3]!) !== sig) throw r.corrupt(`expected ${what} signature "${sig}"`, at);
  return b;
}

function checkSumAt(r: Reader, b: Uint8Array, sumAt: number, at: number, what: string): void {
  if (sumAt + 4 > b.length) throw r.corrupt(`${what} is too short for its checksum`, at);
  checkChecksum(r, b.subarray(0, sumAt + 4), at, what);
}

/**
 * Dense link storage (a group of more than 8 links as h5wasm writes it): the name index (a
 * version 2 B-tree of name hashes, only a single leaf is read) gives heap IDs; the link message
 * is read from the fractal heap (a direct root block, or a root indirect block of direct blocks).
 */
function findDenseLink(r: Reader, heapAddr: number, indexAddr: number, want: Uint8Array, group: string): LinkTarget | null {
  const fail = (at: number) => (w: string) => r.corrupt(`${group}: ${w}`, at);
  // Fractal heap header.
  const hh = readBlock(r, heapAddr, Math.min(r.size - heapAddr, 256), 'FRHP', 'fractal heap header');
  const h = new Cursor(new DataView(hh.buffer, hh.byteOffset, hh.byteLength), fail(heapAddr));
  h.skip(4);
  if (h.u8() !== 0) throw new NotSupported(`${group}: fractal heap version`);
  const idLen = h.u16();
  const filterLen = h.u16();
  const heapFlags = h.u8();
  const maxManaged = h.u32();
  h.skip(8 + 8 + 8 + 8 + 8 + 8 + 8 + 8 + 8 + 8 + 8 + 8); // huge id, huge btree, free space, fs manager, managed space ×3, counts ×5
  const width = h.u16();
  const startSize = h.uint(8, 'starting block size');
  const maxDirect = h.uint(8, 'maximum direct block size');
  const maxHeapBits = h.u16();
  h.skip(2); // starting rows of the root indirect block
  const root = h.u64('root block address');
  const rootRows = h.u16();
  if (filterLen !== 0) throw new NotSupported(`${group}: filtered fractal heap`);
  checkSumAt(r, hh, h.pos, heapAddr, 'fractal heap header');
  if (root === UNDEF) return null; // empty heap
  if (width < 1 || width > 65536 || startSize < 1 || maxDirect < startSize || maxHeapBits < 1 || maxHeapBits > 64) throw r.corrupt(`${group}: fractal heap geometry (width ${width}, blocks ${startSize}-${maxDirect}, ${maxHeapBits} bits)`, heapAddr);
  const offSize = Math.ceil(maxHeapBits / 8);
  const lenSize = Math.min(Math.ceil(Math.log2(maxDirect) / 8), Math.floor(Math.log2(Math.max(1, maxManaged)) / 8) + 1);
  if (1 + offSize + lenSize > idLen) throw r.corrupt(`${group}: heap ID of ${idLen} bytes cannot hold a ${offSize}+${lenSize}-byte managed ID`, heapAddr);
  const checksummed = (heapFlags & 0x02) !== 0;

  // Name index: a version 2 B-tree of link-name records (type 5: hash, heap ID).
  const bh = readBlock(r, indexAddr, 38, 'BTHD', 'link name index header');
  const b = new Cursor(new DataView(bh.buffer, bh.byteOffset, bh.byteLength), fail(indexAddr));
  b.skip(4);
  if (b.u8() !== 0) throw new NotSupported(`${group}: v2 B-tree version`);
  if (b.u8() !== 5) throw r.corrupt(`${group}: the link name index is not a type-5 B-tree`, indexAddr);
  const nodeSize = b.u32();
  const recSize = b.u16();
  const depth = b.u16();
  b.skip(2);
  const rootNode = b.uint(8, 'root node address');
  const nRoot = b.u16();
  b.skip(8);
  checkSumAt(r, bh, b.pos, indexAddr, 'link name index header');
  if (depth !== 0) throw new NotSupported(`${group}: link name index deeper than one leaf (${depth})`);
  if (recSize !== 4 + idLen || 6 + nRoot * recSize + 4 > nodeSize || nodeSize > MAX_HEADER_BLOCK) throw r.corrupt(`${group}: link name index records (${nRoot} × ${recSize} bytes in a ${nodeSize}-byte node)`, indexAddr);
  if (nRoot === 0) return null;
  const leaf = readBlock(r, rootNode, 6 + nRoot * recSize + 4, 'BTLF', 'link name index leaf');
  checkSumAt(r, leaf, 6 + nRoot * recSize, rootNode, 'link name index leaf');
  const hash = lookup3(want);
  const lv = new DataView(leaf.buffer, leaf.byteOffset, leaf.byteLength);
  for (let k = 0; k < nRoot; k++) {
    const rec = 6 + k * recSize;
    if (lv.getUint32(rec, true) !== hash) continue;
    // Managed-object heap ID: type byte, offset, length (little-endian, variable widths).
    const id = leaf.subarray(rec + 4, rec + 4 + idLen);
    if ((id[0]! & 0xc0) !== 0 || ((id[0]! >> 4) & 0x03) !== 0) throw new NotSupported(`${group}: link stored as a huge or tiny heap object`);
    let off = 0;
    for (let i = offSize; i >= 1; i--) off = off * 256 + id[i]!;
    let len = 0;
    for (let i = offSize + lenSize; i > offSize; i--) len = len * 256 + id[i]!;
    const body = heapObject(r, { root: Number(root), rootRows, width, startSize, maxDirect, offSize, checksummed, heapAddr }, off, len, group);
    const target = matchLink(r, new DataView(body.buffer, body.byteOffset, body.byteLength), heapAddr, want, group);
    if (target !== undefined) return target;
  }
  return null;
}

interface HeapGeometry {
  root: number;
  rootRows: number;
  width: number;
  startSize: number;
  maxDirect: number;
  offSize: number;
  checksummed: boolean;
  heapAddr: number;
}

/** Bytes [off, off + len) of a fractal heap's managed space. */
function heapObject(r: Reader, g: HeapGeometry, off: number, len: number, group: string): Uint8Array {
  let block = g.root;
  let blockOff = 0;
  let blockSize = g.startSize;
  if (g.rootRows > 0) {
    // Root indirect block: rows of `width` direct blocks, sizes start, start, 2·start, 4·start, ...
    const maxDirectRows = Math.log2(g.maxDirect) - Math.log2(g.startSize) + 2;
    if (!Number.isInteger(maxDirectRows) || g.rootRows > maxDirectRows) throw new NotSupported(`${group}: fractal heap with indirect child blocks`);
    const n = g.rootRows * g.width;
    const ib = readBlock(r, g.root, 5 + 8 + g.offSize + n * 8 + 4, 'FHIB', 'fractal heap indirect block');
    checkSumAt(r, ib, 5 + 8 + g.offSize + n * 8, g.root, 'fractal heap indirect block');
    const iv = new DataView(ib.buffer, ib.byteOffset, ib.byteLength);
    let found = false;
    let start = 0;
    for (let row = 0; row < g.rootRows && !found; row++) {
      const size = row < 2 ? g.startSize : g.startSize * 2 ** (row - 1);
      for (let col = 0; col < g.width; col++, start += size) {
        if (off >= start && off < start + size) {
          const a = iv.getBigUint64(5 + 8 + g.offSize + (row * g.width + col) * 8, true);
          if (a === UNDEF) throw r.corrupt(`${group}: heap object at offset ${off} lies in an unallocated block`, g.root);
          [block, blockOff, blockSize] = [Number(a), start, size];
          found = true;
          break;
        }
      }
    }
    if (!found) throw r.corrupt(`${group}: heap object offset ${off} beyond the heap's root block`, g.root);
  }
  if (len < 1 || off - blockOff + len > blockSize) throw r.corrupt(`${group}: heap object [${off}, ${off + len}) outside its ${blockSize}-byte block`, block);
  const db = readBlock(r, block, blockSize, 'FHDB', 'fractal heap direct block');
  const headerLen = 5 + 8 + g.offSize + (g.checksummed ? 4 : 0);
  if (g.checksummed) {
    const copy = Uint8Array.from(db);
    const sumAt = 5 + 8 + g.offSize;
    const stored = new DataView(copy.buffer).getUint32(sumAt, true);
    copy.fill(0, sumAt, sumAt + 4);
    const computed = lookup3(copy);
    if (stored !== computed) throw r.corrupt(`fractal heap direct block checksum mismatch (stored 0x${stored.toString(16)}, computed 0x${computed.toString(16)})`, block);
  }
  const at = off - blockOff;
  if (at < headerLen) throw r.corrupt(`${group}: heap object offset ${off} inside its block's header`, block);
  return db.subarray(at, at + len);
}

/** numpy-style dtype of a datatype message, or unsupported. */
function parseDatatype(r: Reader, m: Message, where: string): { dtype: string; size: number } {
  if (m.flags & 0x02) throw new NotSupported(`${where} has a shared (committed) datatype`);
  const c = new Cursor(m.body, (w) => r.corrupt(`datatype message of ${where}: ${w}`, m.at));
  const cv = c.u8();
  const cls = cv & 0x0f;
  const bits = c.u8() | (c.u8() << 8) | (c.u8() << 16);
  const size = c.u32('size');
  const order = bits & 0x01 ? '>' : '<';
  if (cls === 0) {
    if (bits & 0x06) throw new NotSupported(`${where}: fixed-point type with padding bits`);
    const off = c.u16('bit offset');
    const prec = c.u16('bit precision');
    if (off !== 0 || prec !== size * 8 || ![1, 2, 4, 8].includes(size)) throw new NotSupported(`${where}: integer of ${size} bytes, precision ${prec}, offset ${off}`);
    return { dtype: `${order}${bits & 0x08 ? 'i' : 'u'}${size}`, size };
  }
  if (cls === 1) {
    if (bits & 0x40 || (size !== 4 && size !== 8)) throw new NotSupported(`${where}: float of ${size} bytes or VAX order`);
    return { dtype: `${order}f${size}`, size };
  }
  throw new NotSupported(`${where}: datatype class ${cls} (only integers and floats are read directly)`);
}

/**
 * Opens the target of an external link found in `from` (relative to `from`'s folder unless
 * absolute); its descriptor is pushed to `opened` for the caller to close.
 */
function openExternal(from: Reader, target: string, link: string, opened: number[]): Reader {
  const file = path.isAbsolute(target) ? target : path.join(path.dirname(from.file), target);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    throw new DaqError('DAQ_ERR_HDF5', `${from.file}: the external link ${link} points to ${JSON.stringify(target)}, but ${file} cannot be opened: ${(err as Error).message}`, {
      cause: err,
      details: { file: from.file, target: file },
    });
  }
  opened.push(fd);
  return new Reader(file, fd);
}

function splitPath(p: string): string[] {
  const parts = p.split('/').filter((s) => s.length > 0);
  if (parts.length > MAX_DEPTH) throw new NotSupported(`path ${JSON.stringify(p)} deeper than ${MAX_DEPTH}`);
  return parts;
}

function locateIn(start: Reader, dsPath: string, opened: number[]): Located {
  let r = start;
  let sb = readSuperblock(r);
  let parts = splitPath(dsPath);
  if (parts.length === 0) throw new NotSupported(`path ${JSON.stringify(dsPath)}`);
  let addr = sb.root;
  let here = '';
  let hops = 0;
  for (let i = 0; i < parts.length; ) {
    const name = parts[i]!;
    const msgs = readObjectHeader(r, addr);
    const next = findLink(r, msgs, name, here || '/');
    if (next === null) throw new NotSupported(`no link ${here}/${name} in the group's header`);
    if (next.kind === 'external') {
      const link = `${here}/${name}`;
      if (++hops > MAX_EXTERNAL_HOPS) {
        throw new DaqError('DAQ_ERR_HDF5', `${start.file}: resolving ${dsPath} followed more than ${MAX_EXTERNAL_HOPS} external links (a loop?), the last ${r.file}:${link} -> ${next.file}:${next.path}`, {
          details: { file: start.file, target: next.file },
        });
      }
      const rest = parts.slice(i + 1);
      r = openExternal(r, next.file, link, opened);
      sb = readSuperblock(r);
      parts = [...splitPath(next.path), ...rest];
      if (parts.length === 0 || parts.length > MAX_DEPTH) throw new NotSupported(`external link ${link} to ${next.file}:${next.path}`);
      addr = sb.root;
      here = '';
      i = 0;
      continue;
    }
    if (next.addr === Number(UNDEF) || next.addr >= r.size) throw r.corrupt(`link ${here}/${name} points to address ${next.addr}, outside the file`);
    addr = sb.base + next.addr;
    here = `${here}/${name}`;
    i++;
  }
  const msgs = readObjectHeader(r, addr);
  let shape: number[] | null = null;
  let type: { dtype: string; size: number } | null = null;
  let layout: { offset: number; bytes: number } | null = null;
  for (const m of msgs) {
    const fail = (w: string) => r.corrupt(`${here}: ${w}`, m.at);
    if (m.type === MSG.filters) throw new NotSupported(`${here} has a filter pipeline`);
    if (m.type === MSG.external) throw new NotSupported(`${here} is stored in external files`);
    if (m.type === MSG.dataspace) {
      const c = new Cursor(m.body, fail);
      const version = c.u8('dataspace version');
      const rank = c.u8();
      const flags = c.u8();
      if (version === 1) c.skip(5);
      else if (version === 2) {
        if (c.u8() !== 1) throw new NotSupported(`${here} has a scalar or null dataspace`);
      } else throw r.corrupt(`${here}: dataspace message version ${version}`, m.at);
      if (flags & 0x02) throw new NotSupported(`${here}: dataspace with a permutation index`);
      shape = [];
      for (let i = 0; i < rank; i++) shape.push(c.uint(8, 'dimension'));
    } else if (m.type === MSG.datatype) {
      type = parseDatatype(r, m, here);
    } else if (m.type === MSG.layout) {
      const c = new Cursor(m.body, fail);
      const version = c.u8('layout version');
      if (version !== 3 && version !== 4) throw new NotSupported(`${here}: data layout message version ${version}`);
      const cls = c.u8();
      if (cls !== 1) throw new NotSupported(`${here} is ${['compact', 'contiguous', 'chunked', 'virtual'][cls] ?? `layout class ${cls}`}, not contiguous`);
      const a = c.u64('raw data address');
      const bytes = c.uint(8, 'raw data size');
      if (a === UNDEF) {
        if (bytes !== 0) throw new NotSupported(`${here}: storage not allocated (fill value only)`);
        layout = { offset: 0, bytes: 0 };
      } else {
        const offset = sb.base + Number(a);
        if (!Number.isSafeInteger(offset) || offset + bytes > r.size) {
          throw r.corrupt(`${here}: raw data [${offset}, ${offset + bytes}) lies past the end of the file (${r.size} bytes): truncated`, m.at);
        }
        layout = { offset, bytes };
      }
    }
  }
  if (!shape || !type || !layout) throw new NotSupported(`${here} is not a dataset (no ${!shape ? 'dataspace' : !type ? 'datatype' : 'layout'} message)`);
  const n = shape.reduce((x, y) => x * y, 1);
  if (n * type.size !== layout.bytes) {
    throw r.corrupt(`${here}: ${shape.join('×')} elements of ${type.size} bytes need ${n * type.size} bytes, the layout holds ${layout.bytes}`);
  }
  return { kind: 'contiguous', file: r.file, offset: layout.offset, bytes: layout.bytes, shape, dtype: type.dtype, header: addr };
}

/**
 * Where the raw data of the contiguous dataset `dsPath` lies: `{kind: 'contiguous', file,
 * offset, bytes, shape, dtype}` (`file` is `file` itself, or the target of the external links
 * followed), or `{kind: 'unsupported', reason}` when the file or dataset uses anything this
 * reader does not handle (the caller then reads through h5wasm). Throws DAQ_ERR_HDF5 naming the
 * file when its metadata is malformed or truncated, when an external link's target cannot be
 * opened (naming both files) or when external links loop. `fd` reuses an open descriptor of
 * `file`; the files opened on the way are closed before returning.
 */
export function locateDataset(file: string, dsPath: string, fd?: number): Located | Unsupported {
  let own: number | undefined;
  const opened: number[] = [];
  try {
    if (fd === undefined) {
      try {
        own = fs.openSync(file, 'r');
      } catch (err) {
        throw new DaqError('DAQ_ERR_HDF5', `${file}: cannot open for reading: ${(err as Error).message}`, { cause: err, details: { file } });
      }
    }
    return locateIn(new Reader(file, fd ?? own!), dsPath, opened);
  } catch (err) {
    if (err instanceof NotSupported) return { kind: 'unsupported', reason: err.reason };
    if (err instanceof DaqError) throw err;
    throw new DaqError('DAQ_ERR_HDF5', `${file}: reading HDF5 metadata for ${dsPath} failed: ${(err as Error).message}`, { cause: err, details: { file } });
  } finally {
    if (own !== undefined) fs.closeSync(own);
    for (const o of opened) fs.closeSync(o);
  }
}
