/**
 * The HDF5 header of a wave pool file (`wave-NNNNNN.h5`): raw little-endian uint16 samples are
 * appended at {@link POOL_DATA_OFFSET} while acquiring; when the segment ends,
 * {@link encodePoolHeader} is written over the reserved region at the start, and the file is then
 * a valid HDF5 file holding one contiguous dataset `/wave_pool` (the segment links to it with an
 * HDF5 external link). The samples are written once, never copied.
 *
 * The bytes are what libhdf5 1.14 writes for the same objects with `libver='latest'`, no
 * timestamps (so they are deterministic), in the format subset `src/query/h5-locate.ts` reads:
 * - 0: superblock version 2 (8-byte offsets and lengths, base address 0, no extension), checksummed;
 * - 48: the root group's version 2 object header: link info and group info messages (a new-style
 *   compact group) and one hard link message `wave_pool`;
 * - then the dataset's version 2 object header: dataspace (1-D, dims = max dims = samples),
 *   datatype (fixed-point, 2 bytes, little-endian, unsigned), fill value (version 3, allocation
 *   late, fill never, default fill value), data layout (version 3, contiguous at
 *   POOL_DATA_OFFSET, 2·samples bytes; address undefined when there are no samples), attribute info, and three attribute messages (version 3):
 *   `units` (variable-length UTF-8 string, as h5wasm writes strings, so that h5py reads a `str`),
 *   `global_offset` (int64), `dt_ns` (float64), all scalars;
 * - 4096: a global heap collection of 4096 bytes (libhdf5's minimum, and the size it reads first)
 *   holding the `units` string;
 * - zeros up to POOL_DATA_OFFSET.
 *
 * Format reference: "HDF5 File Format Specification Version 3.0" (superblock §II.A, global heap
 * §III.E, object header §IV.A.1.b, dataspace §IV.A.2.b, link info §IV.A.2.c, datatype
 * §IV.A.2.d, fill value §IV.A.2.f, link §IV.A.2.g, layout §IV.A.2.i, group info §IV.A.2.k,
 * attribute §IV.A.2.m, attribute info §IV.A.2.v).
 */
import { DaqError } from '../../errors.ts';
import { lookup3 } from '../../query/h5-locate.ts';

/** Bytes reserved at the start of a pool file for its HDF5 metadata; sample 0 starts here. */
export const POOL_DATA_OFFSET = 8192;

/** Longest `units` string, in UTF-8 bytes (it lives in the global heap collection). */
export const POOL_MAX_UNITS_BYTES = 1024;

export interface PoolHeaderInfo {
  /** Number of uint16 samples in the file (may be 0). */
  samples: bigint;
  /** Attribute `global_offset` (int64, `<i8`). */
  globalOffset: bigint;
  /** Attribute `dt_ns` (float64). */
  dtNs: number;
  /** Attribute `units`, e.g. 'ADC counts'. */
  units: string;
}

const UNDEF = 0xffffffffffffffffn;
const SUPERBLOCK_SIZE = 48;
const ROOT_ADDR = SUPERBLOCK_SIZE;
const GCOL_ADDR = 4096;
const GCOL_SIZE = 4096;
/** Samples are bounded so that the end-of-file address stays well inside 64 bits (2^62 bytes). */
const MAX_SAMPLES = 1n << 61n;

/** A little-endian byte writer into a fixed buffer. */
class Out {
  pos = 0;
  readonly v: DataView;
  constructor(readonly buf: Uint8Array) {
    this.v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  u8(...xs: number[]): this {
    for (const x of xs) this.v.setUint8(this.pos++, x);
    return this;
  }
  u16(x: number): this {
    this.v.setUint16(this.pos, x, true);
    this.pos += 2;
    return this;
  }
  u32(x: number): this {
    this.v.setUint32(this.pos, x, true);
    this.pos += 4;
    return this;
  }
  u64(x: bigint | number): this {
    this.v.setBigUint64(this.pos, BigInt(x), true);
    this.pos += 8;
    return this;
  }
  i64(x: bigint): this {
    this.v.setBigInt64(this.pos, x, true);
    this.pos += 8;
    return this;
  }
  f64(x: number): this {
    this.v.setFloat64(this.pos, x, true);
    this.pos += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }
}

/** A message body built by `fill` into a buffer of exactly `size` bytes. */
function body(size: number, fill: (o: Out) => void): Uint8Array {
  const b = new Uint8Array(size);
  const o = new Out(b);
  fill(o);
  if (o.pos !== size) throw new Error(`pool header: message body of ${o.pos} bytes, expected ${size}`);
  return b;
}

interface Msg {
  type: number;
  flags: number;
  body: Uint8Array;
}

/** A version 2 object header (no times, no attribute phase change values, no creation order). */
function objectHeader(messages: Msg[]): Uint8Array {
  const chunk = messages.reduce((n, m) => n + 4 + m.body.length, 0);
  const sizeFlag = chunk < 0x100 ? 0 : chunk < 0x10000 ? 1 : 2;
  const sizeBytes = 1 << sizeFlag;
  const total = 4 + 1 + 1 + sizeBytes + chunk + 4;
  const b = new Uint8Array(total);
  const o = new Out(b);
  o.bytes(new TextEncoder().encode('OHDR')).u8(2, sizeFlag);
  if (sizeBytes === 1) o.u8(chunk);
  else if (sizeBytes === 2) o.u16(chunk);
  else o.u32(chunk);
  for (const m of messages) o.u8(m.type).u16(m.body.length).u8(m.flags).bytes(m.body);
  o.u32(lookup3(b.subarray(0, o.pos)));
  return b;
}

/** Datatype message bodies. */
const U16LE = body(12, (o) => o.u8(0x10, 0, 0, 0).u32(2).u16(0).u16(16));
const I64LE = body(12, (o) => o.u8(0x10, 0x08, 0, 0).u32(8).u16(0).u16(64));
const F64LE = body(20, (o) => o.u8(0x11, 0x20, 63, 0).u32(8).u16(0).u16(64).u8(52, 11, 0, 52).u32(1023));
/** Variable-length string (type 1), UTF-8 (cset 1), space padded (as h5wasm), of unsigned bytes. */
const VLEN_UTF8 = body(20, (o) => o.u8(0x19, 0x21, 0x01, 0).u32(16).u8(0x10, 0, 0, 0).u32(1).u16(0).u16(8));
/** Scalar dataspace, version 2. */
const SCALAR = body(4, (o) => o.u8(2, 0, 0, 0));

/** Attribute message version 3: ASCII name (null-terminated, unpadded), datatype, dataspace, value. */
function attribute(name: string, type: Uint8Array, value: Uint8Array): Msg {
  const n = new TextEncoder().encode(`${name}\0`);
  const size = 1 + 1 + 2 + 2 + 2 + 1 + n.length + type.length + SCALAR.length + value.length;
  return {
    type: 0x0c,
    flags: 0,
    body: body(size, (o) => o.u8(3, 0).u16(n.length).u16(type.length).u16(SCALAR.length).u8(0).bytes(n).bytes(type).bytes(SCALAR).bytes(value)),
  };
}

function fail(message: string, details: Record<string, unknown> = {}): DaqError {
  return new DaqError('DAQ_ERR_HDF5', `wave pool header: ${message}`, { details });
}

/**
 * The first {@link POOL_DATA_OFFSET} bytes of a pool file holding `samples` samples (the file is
 * these bytes followed by exactly 2·samples bytes of little-endian uint16). Deterministic.
 * Throws DAQ_ERR_HDF5 for a `units` string longer than {@link POOL_MAX_UNITS_BYTES} UTF-8 bytes or
 * holding a NUL, or a sample count or global offset out of range.
 */
export function encodePoolHeader(info: PoolHeaderInfo): Uint8Array {
  const { samples, globalOffset, dtNs, units } = info;
  if (typeof samples !== 'bigint' || samples < 0n || samples > MAX_SAMPLES) throw fail(`sample count ${String(samples)} out of range [0, 2^61]`);
  if (typeof globalOffset !== 'bigint' || globalOffset < -(1n << 63n) || globalOffset >= 1n << 63n) throw fail(`global_offset ${String(globalOffset)} does not fit an int64`);
  if (typeof dtNs !== 'number') throw fail(`dt_ns ${String(dtNs)} is not a number`);
  const unitBytes = new TextEncoder().encode(units);
  if (unitBytes.length > POOL_MAX_UNITS_BYTES) {
    throw fail(`units string of ${unitBytes.length} UTF-8 bytes does not fit the ${POOL_DATA_OFFSET}-byte header (at most ${POOL_MAX_UNITS_BYTES} bytes)`, { units: units.slice(0, 64) });
  }
  if (unitBytes.includes(0)) throw fail('units string holds a NUL character', { units });

  const out = new Uint8Array(POOL_DATA_OFFSET);
  const bytes = 2n * samples;
  const eof = BigInt(POOL_DATA_OFFSET) + bytes;

  // Dataset object header, after the root group's (whose size does not depend on anything here).
  const dataset = objectHeader([
    { type: 0x01, flags: 0, body: body(20, (o) => o.u8(2, 1, 0x01, 1).u64(samples).u64(samples)) },
    { type: 0x03, flags: 0x01, body: U16LE },
    // Fill value v3: allocation time late (2, libhdf5's default for contiguous), fill write time
    // never (1 << 2), fill value default (neither defined nor undefined).
    { type: 0x05, flags: 0x01, body: body(2, (o) => o.u8(3, 0x06)) },
    // Layout v3, contiguous. No samples: storage not allocated (undefined address), as libhdf5
    // writes it; libhdf5 2.0 rejects a defined address with 0 bytes ("invalid dataset size").
    { type: 0x08, flags: 0x01, body: body(18, (o) => o.u8(3, 1).u64(samples === 0n ? UNDEF : BigInt(POOL_DATA_OFFSET)).u64(bytes)) },
    // Attribute info: no creation order, no dense storage.
    { type: 0x15, flags: 0x04, body: body(18, (o) => o.u8(0, 0).u64(UNDEF).u64(UNDEF)) },
    attribute('units', VLEN_UTF8, body(16, (o) => (unitBytes.length > 0 ? o.u32(unitBytes.length).u64(GCOL_ADDR).u32(1) : o.u32(0).u64(0).u32(0)))),
    attribute('global_offset', I64LE, body(8, (o) => o.i64(globalOffset))),
    attribute('dt_ns', F64LE, body(8, (o) => o.f64(dtNs))),
  ]);
  const root = (datasetAddr: number) =>
    objectHeader([
      // Link info: no creation order, no dense storage (fractal heap and name index undefined).
      { type: 0x02, flags: 0, body: body(18, (o) => o.u8(0, 0).u64(UNDEF).u64(UNDEF)) },
      // Group info: default phase change values and estimates.
      { type: 0x0a, flags: 0x01, body: body(2, (o) => o.u8(0, 0)) },
      // Hard link `wave_pool`: version 1, flags 0 (1-byte name length, ASCII, hard).
      { type: 0x06, flags: 0, body: body(3 + 9 + 8, (o) => o.u8(1, 0, 9).bytes(new TextEncoder().encode('wave_pool')).u64(datasetAddr)) },
    ]);
  const rootLen = root(0).length;
  const datasetAddr = ROOT_ADDR + rootLen;
  if (datasetAddr + dataset.length > GCOL_ADDR) throw new Error('pool header: object headers overflow their region');

  // Superblock version 2.
  const sb = new Out(out);
  sb.bytes(Uint8Array.of(0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a)).u8(2, 8, 8, 0).u64(0).u64(UNDEF).u64(eof).u64(ROOT_ADDR);
  sb.u32(lookup3(out.subarray(0, sb.pos)));

  out.set(root(datasetAddr), ROOT_ADDR);
  out.set(dataset, datasetAddr);

  // Global heap collection: object 1 is the units string (padded to 8 bytes), then free space.
  const g = new Out(out.subarray(GCOL_ADDR, GCOL_ADDR + GCOL_SIZE));
  g.bytes(new TextEncoder().encode('GCOL')).u8(1, 0, 0, 0).u64(GCOL_SIZE);
  if (unitBytes.length > 0) {
    g.u16(1).u16(0).u32(0).u64(unitBytes.length).bytes(unitBytes);
    g.pos += (8 - (unitBytes.length % 8)) % 8;
  }
  const free = GCOL_SIZE - g.pos;
  if (free >= 16) g.u16(0).u16(0).u32(0).u64(free);
  return out;
}
