/**
 * Sample data types a trace can hold, and their numpy spellings.
 *
 * Samples are always handed out in native byte order (little-endian on every platform Node
 * supports in practice); big-endian files are byte-swapped as they are read.
 */
import { endianness } from 'node:os';
import { DaqError } from '../../errors.ts';

/** Names of the supported sample types (numpy names). */
export type DTypeName =
  | 'int8' | 'int16' | 'int32' | 'int64'
  | 'uint8' | 'uint16' | 'uint32' | 'uint64'
  | 'float32' | 'float64';

/** The typed array a slice or chunk of a trace of a given dtype comes back as. */
export type TraceArray =
  | Int8Array | Int16Array | Int32Array | BigInt64Array
  | Uint8Array | Uint16Array | Uint32Array | BigUint64Array
  | Float32Array | Float64Array;

export interface TypedArrayCtor {
  readonly BYTES_PER_ELEMENT: number;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TraceArray;
  new (length: number): TraceArray;
}

interface DTypeInfo {
  readonly bytes: number;
  readonly kind: 'i' | 'u' | 'f';
  readonly ctor: TypedArrayCtor;
}

const DTYPES: Record<DTypeName, DTypeInfo> = {
  int8: { bytes: 1, kind: 'i', ctor: Int8Array as unknown as TypedArrayCtor },
  int16: { bytes: 2, kind: 'i', ctor: Int16Array as unknown as TypedArrayCtor },
  int32: { bytes: 4, kind: 'i', ctor: Int32Array as unknown as TypedArrayCtor },
  int64: { bytes: 8, kind: 'i', ctor: BigInt64Array as unknown as TypedArrayCtor },
  uint8: { bytes: 1, kind: 'u', ctor: Uint8Array as unknown as TypedArrayCtor },
  uint16: { bytes: 2, kind: 'u', ctor: Uint16Array as unknown as TypedArrayCtor },
  uint32: { bytes: 4, kind: 'u', ctor: Uint32Array as unknown as TypedArrayCtor },
  uint64: { bytes: 8, kind: 'u', ctor: BigUint64Array as unknown as TypedArrayCtor },
  float32: { bytes: 4, kind: 'f', ctor: Float32Array as unknown as TypedArrayCtor },
  float64: { bytes: 8, kind: 'f', ctor: Float64Array as unknown as TypedArrayCtor },
};

/** True on little-endian hosts (the only byte order samples are handed out in). */
export const NATIVE_LITTLE_ENDIAN = endianness() === 'LE';

/** A sample type plus the byte order it is stored in. */
export interface StoredDType {
  readonly name: DTypeName;
  readonly bytes: number;
  readonly littleEndian: boolean;
}

export function dtypeBytes(name: DTypeName): number {
  return DTYPES[name].bytes;
}

export function dtypeCtor(name: DTypeName): TypedArrayCtor {
  return DTYPES[name].ctor;
}

/** Numpy `descr` for a dtype stored in the given byte order, e.g. `'<f8'`, `'|u1'`. */
export function numpyDescr(name: DTypeName, littleEndian = true): string {
  const { bytes, kind } = DTYPES[name];
  const order = bytes === 1 ? '|' : littleEndian ? '<' : '>';
  return `${order}${kind}${bytes}`;
}

function fromKindBytes(kind: string, bytes: number): DTypeName | undefined {
  for (const [name, info] of Object.entries(DTYPES) as [DTypeName, DTypeInfo][]) {
    if (info.kind === kind && info.bytes === bytes) return name;
  }
  return undefined;
}

/**
 * Parses a dtype given by a user or a file: a name (`'float32'`, native order), a name with a
 * byte-order suffix (`'float32be'`, `'int16le'`), or a numpy descr (`'<f4'`, `'>i2'`, `'|u1'`,
 * `'=f8'`, `'f8'`). `where` names the file for the error message.
 */
export function parseDType(spec: string, where: string): StoredDType {
  const named = /^(u?int(?:8|16|32|64)|float(?:32|64))(le|be)?$/.exec(spec);
  if (named) {
    const name = named[1] as DTypeName;
    const littleEndian = named[2] === undefined ? NATIVE_LITTLE_ENDIAN : named[2] === 'le';
    return { name, bytes: DTYPES[name].bytes, littleEndian };
  }
  const descr = /^([<>|=]?)([iuf])(\d+)$/.exec(spec);
  const name = descr ? fromKindBytes(descr[2]!, Number(descr[3])) : undefined;
  if (!descr || name === undefined) {
    throw new DaqError(
      'DAQ_ERR_TRACE_FORMAT',
      `unsupported dtype in ${where}: expected one of int8/16/32/64, uint8/16/32/64, float32/64 ` +
        `(or a numpy descr like '<f4', '>i2'), found '${spec}'`,
      { details: { file: where, dtype: spec } },
    );
  }
  const order = descr[1];
  const littleEndian = order === '>' ? false : order === '<' ? true : NATIVE_LITTLE_ENDIAN;
  return { name, bytes: DTYPES[name].bytes, littleEndian };
}

/** Reverses the byte order of every `bytes`-wide element of `buf` in place (native Buffer swaps). */
export function byteSwapInPlace(buf: Uint8Array, bytes: number): void {
  if (bytes === 1) return;
  const view = Buffer.from(buf.buffer, buf.byteOffset, buf.length - (buf.length % bytes));
  if (bytes === 2) view.swap16();
  else if (bytes === 4) view.swap32();
  else view.swap64();
}
