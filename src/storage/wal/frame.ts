import { crc32c } from '@node-rs/crc32';

/**
 * WAL record framing. Every record: a 32-byte header, the payload, zero padding to 8 bytes.
 *
 * | offset | size | field |
 * |---|---|---|
 * | 0 | 4 | magic `DWAL` (0x4C415744, little-endian) |
 * | 4 | 1 | record type ({@link RecordType}) |
 * | 5 | 3 | reserved (0) |
 * | 8 | 4 | payload length (bytes) |
 * | 12 | 4 | segment id: the file's own id, so bytes from another file never validate |
 * | 16 | 8 | sequence number, +1 per record across segments |
 * | 24 | 4 | CRC32C over bytes 0..24 and the payload |
 * | 28 | 4 | reserved (0) |
 */
export const MAGIC = 0x4c415744;
export const HEADER_BYTES = 32;

export const RecordType = {
  /** A stream's registration (StreamInfo). */
  STREAM: 1,
  /** A batch of a stream. */
  BATCH: 2,
  /** Segment N is durably written; it covers every record up to `seq`. */
  CHECKPOINT: 3,
} as const;
export type RecordTypeCode = (typeof RecordType)[keyof typeof RecordType];

export function align8(n: number): number {
  return (n + 7) & ~7;
}

/** Builds the header for a payload made of `parts`; returns [header, padding]. */
export function frameHeader(type: number, segId: number, seq: bigint, parts: Uint8Array[]): { header: Buffer; pad: Buffer; total: number } {
  let len = 0;
  for (const p of parts) len += p.byteLength;
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32LE(MAGIC, 0);
  header.writeUInt8(type, 4);
  header.writeUInt32LE(len, 8);
  header.writeUInt32LE(segId, 12);
  header.writeBigUInt64LE(seq, 16);
  let crc = crc32c(header.subarray(0, 24));
  for (const p of parts) crc = crc32c(Buffer.from(p.buffer, p.byteOffset, p.byteLength), crc);
  header.writeUInt32LE(crc >>> 0, 24);
  const total = align8(HEADER_BYTES + len);
  return { header, pad: Buffer.alloc(total - HEADER_BYTES - len), total };
}

export interface FrameCheck {
  ok: boolean;
  type: number;
  length: number;
  segId: number;
  seq: bigint;
  reason?: string;
}

/** Validates the record at `pos` of `buf` (a whole segment file). */
export function checkFrame(buf: Buffer, pos: number, expectSegId: number): FrameCheck {
  const bad = (reason: string): FrameCheck => ({ ok: false, type: 0, length: 0, segId: 0, seq: 0n, reason });
  if (pos + HEADER_BYTES > buf.length) return bad('header runs past the end of the file');
  if (buf.readUInt32LE(pos) !== MAGIC) return bad('bad magic');
  const type = buf.readUInt8(pos + 4);
  const length = buf.readUInt32LE(pos + 8);
  const segId = buf.readUInt32LE(pos + 12);
  const seq = buf.readBigUInt64LE(pos + 16);
  if (pos + HEADER_BYTES + length > buf.length) return bad(`payload of ${length} bytes runs past the end of the file`);
  if (segId !== expectSegId) return bad(`segment id ${segId} in file of segment ${expectSegId}`);
  let crc = crc32c(buf.subarray(pos, pos + 24));
  crc = crc32c(buf.subarray(pos + HEADER_BYTES, pos + HEADER_BYTES + length), crc);
  if ((crc >>> 0) !== buf.readUInt32LE(pos + 24)) return bad('CRC mismatch');
  return { ok: true, type, length, segId, seq };
}
