/**
 * The `.npy` file format (numpy NEP 1): a 6-byte magic, a version, a header length, and a
 * Python-dict header (`descr`, `fortran_order`, `shape`) padded so the data starts aligned.
 * https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 */
import { DaqError } from '../../errors.ts';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** Bytes to read to know the header length (magic + version + up to 4-byte length). */
export const NPY_PREAMBLE_BYTES = 12;

export interface NpyHeader {
  readonly version: 1 | 2 | 3;
  /** numpy dtype descr, e.g. `'<f8'`; a structured dtype is rejected. */
  readonly descr: string;
  readonly fortranOrder: boolean;
  readonly shape: readonly number[];
  /** Byte offset of the first sample. */
  readonly dataOffset: number;
}

function formatError(where: string, what: string): DaqError {
  return new DaqError('DAQ_ERR_TRACE_FORMAT', `${where}: ${what}`, { details: { file: where } });
}

/** Header length field of a preamble; throws on bad magic or version. */
export function npyHeaderLength(preamble: Uint8Array, where: string): { version: 1 | 2 | 3; headerStart: number; headerLength: number } {
  if (preamble.length >= 2 && preamble[0] === 0x50 && preamble[1] === 0x4b) {
    throw formatError(where, 'this is a zip archive (.npz), which cannot be read lazily: ' +
      'unzip it (`unzip file.npz`) or re-save one array with numpy.save, then load the .npy');
  }
  if (preamble.length < 10 || MAGIC.some((b, i) => preamble[i] !== b)) {
    const found = Buffer.from(preamble.subarray(0, 6)).toString('latin1');
    throw formatError(where, `not a .npy file: expected magic "\\x93NUMPY", found ${JSON.stringify(found)}`);
  }
  const major = preamble[6];
  const dv = new DataView(preamble.buffer, preamble.byteOffset, preamble.byteLength);
  if (major === 1) return { version: 1, headerStart: 10, headerLength: dv.getUint16(8, true) };
  if (major === 2 || major === 3) {
    if (preamble.length < 12) throw formatError(where, 'file ends inside the .npy preamble');
    return { version: major, headerStart: 12, headerLength: dv.getUint32(8, true) };
  }
  throw formatError(where, `unsupported .npy format version ${major}.${preamble[7]}: expected 1.x, 2.x or 3.x`);
}

/** Parses the dict text of a `.npy` header. */
export function parseNpyDict(text: string, version: 1 | 2 | 3, dataOffset: number, where: string): NpyHeader {
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]+)['"]/.exec(text);
  if (!descr) {
    const structured = /['"]descr['"]\s*:\s*\[/.test(text);
    throw formatError(where, structured
      ? 'structured (record) dtypes are not supported: expected one numeric dtype'
      : `header has no 'descr': ${JSON.stringify(text.trim())}`);
  }
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text);
  const shape = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text);
  if (!fortran || !shape) throw formatError(where, `header lacks 'fortran_order' or 'shape': ${JSON.stringify(text.trim())}`);
  const dims = shape[1]!.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map((s) => Number(s.replace(/L$/, '')));
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) throw formatError(where, `bad shape in header: (${shape[1]})`);
  return { version, descr: descr[1]!, fortranOrder: fortran[1] === 'True', shape: dims, dataOffset };
}

/**
 * Builds a version-1 `.npy` header for a C-order array, padded to exactly `totalBytes`
 * (a multiple of 64). Writers that learn the row count only at the end write it twice with the
 * same `totalBytes`: once with a placeholder shape, once with the final one.
 */
export function npyHeaderBytes(descr: string, shape: readonly number[], totalBytes = 128): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const headerLength = totalBytes - 10;
  if (totalBytes % 64 !== 0 || dict.length + 1 > headerLength || headerLength > 0xffff) {
    throw new RangeError(`npy header of ${dict.length} chars does not fit ${totalBytes} bytes`);
  }
  const out = new Uint8Array(totalBytes);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, headerLength, true);
  out.set(Buffer.from(dict.padEnd(headerLength - 1, ' ') + '\n', 'latin1'), 10);
  return out;
}
