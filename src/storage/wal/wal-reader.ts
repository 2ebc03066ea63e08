import fs from 'node:fs';
import path from 'node:path';
import { WalCorruptedError } from '../../errors.ts';
import { align8, checkFrame, HEADER_BYTES } from './frame.ts';

export interface WalRecord {
  type: number;
  seq: bigint;
  segId: number;
  /** View of the payload inside the segment file's buffer. */
  payload: Buffer;
}

export interface WalScan {
  records: WalRecord[];
  /** Next segment id and sequence number for a writer continuing this log. */
  nextSegmentId: number;
  nextSeq: bigint;
  /** A torn tail that was cut (file, byte offset, bytes dropped). */
  truncated: { file: string; offset: number; bytes: number } | null;
  /** Corruption before the tail: replay stopped here; the rest was moved aside. */
  corruption: WalCorruptedError | null;
  /** Files renamed to `*.corrupt`. */
  movedAside: string[];
  bytesScanned: number;
}

const SEGMENT_RE = /^wal-(\d{8})\.log$/;

/** Segment files of a WAL folder, in id order. */
export function walSegments(dir: string): Array<{ id: number; file: string }> {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .map((name) => ({ m: SEGMENT_RE.exec(name), name }))
    .filter((x) => x.m)
    .map((x) => ({ id: Number(x.m![1]), file: path.join(dir, x.name) }))
    .sort((a, b) => a.id - b.id);
}

const ZEROS = Buffer.alloc(1 << 16);

/** True when buf[from..] is all zero bytes (chunked memcmp: preallocated segments are mostly zeros). */
function allZero(buf: Buffer, from: number): boolean {
  for (let p = from; p < buf.length; p += ZEROS.length) {
    const end = Math.min(buf.length, p + ZEROS.length);
    if (buf.compare(ZEROS, 0, end - p, p, end) !== 0) return false;
  }
  return true;
}

/** Is there any valid record at an 8-byte boundary after `from`? */
function validAfter(buf: Buffer, from: number, segId: number): boolean {
  for (let p = align8(from + 8); p + HEADER_BYTES <= buf.length; p += 8) {
    if (checkFrame(buf, p, segId).ok) return true;
  }
  return false;
}

/**
 * Reads a WAL folder for recovery, and repairs it:
 * - a torn tail (an invalid record in the last segment with no valid record after it: a write cut
 *   by a crash, never acknowledged) is truncated away;
 * - the unused, zeroed end of a segment is normal;
 * - anything else invalid (a bad CRC or framing followed by valid records, or garbage in a closed
 *   segment) is corruption: replay stops there, that segment and every later one are renamed
 *   `*.corrupt` and the error names the file and byte offset. Nothing is skipped silently.
 */
export function scanWal(dir: string): WalScan {
  const segs = walSegments(dir);
  const out: WalScan = { records: [], nextSegmentId: 1, nextSeq: 1n, truncated: null, corruption: null, movedAside: [], bytesScanned: 0 };
  let expectSeq: bigint | null = null;
  for (let k = 0; k < segs.length; k++) {
    const { id, file } = segs[k]!;
    const buf = fs.readFileSync(file);
    out.bytesScanned += buf.length;
    const last = k === segs.length - 1;
    let pos = 0;
    let stop: { offset: number; reason: string } | null = null;
    while (pos + HEADER_BYTES <= buf.length) {
      const f = checkFrame(buf, pos, id);
      if (f.ok && expectSeq !== null && f.seq !== expectSeq) {
        stop = { offset: pos, reason: `sequence ${f.seq} where ${expectSeq} was expected` };
        break;
      }
      if (!f.ok) {
        if (allZero(buf, pos)) break; // unused end of the segment
        stop = { offset: pos, reason: f.reason ?? 'invalid record' };
        break;
      }
      out.records.push({ type: f.type, seq: f.seq, segId: id, payload: buf.subarray(pos + HEADER_BYTES, pos + HEADER_BYTES + f.length) });
      expectSeq = f.seq + 1n;
      pos += align8(HEADER_BYTES + f.length);
    }
    if (!stop && pos < buf.length && !allZero(buf, pos)) stop = { offset: pos, reason: 'partial record at the end of the file' };
    out.nextSegmentId = id + 1;
    if (stop) {
      if (last && !validAfter(buf, stop.offset, id)) {
        // A torn tail: cut it so the file ends with its last valid record.
        fs.truncateSync(file, stop.offset);
        out.truncated = { file, offset: stop.offset, bytes: buf.length - stop.offset };
      } else {
        out.corruption = new WalCorruptedError(
          `WAL corrupted in ${file} at byte ${stop.offset}: ${stop.reason}; replayed the ${out.records.length} records before it, moved this and later segments aside (*.corrupt)`,
          { details: { file, offset: stop.offset, reason: stop.reason } },
        );
        for (const s of segs.slice(k)) {
          fs.renameSync(s.file, `${s.file}.corrupt`);
          out.movedAside.push(`${s.file}.corrupt`);
        }
        out.nextSegmentId = segs[segs.length - 1]!.id + 1;
        break;
      }
    }
  }
  if (expectSeq !== null) out.nextSeq = expectSeq;
  return out;
}
