import fs from 'node:fs';
import path from 'node:path';
import { Table, tableFromIPC, tableToIPC } from 'apache-arrow';
import { DaqError } from '../../errors.ts';
import type { StreamBatch, StreamInfo } from '../../schema/batch.ts';
import { tagArray } from '../../schema/scalar.ts';
import { IpcStreamEncoder } from '../../util/ipc-encoder.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * Where a waveform batch's samples are: `samples` uint16 values at byte `position` of the pool
 * file `file` (a name in the run folder), with their CRC32C. The samples are written there, not
 * in the WAL (once on the acquisition path: the pool file becomes the segment's `/wave_pool`).
 */
export interface PoolRef {
  file: string;
  position: number;
  samples: number;
  crc: number;
}

/** A decoded BATCH record: a waveform with a pool reference carries no samples (`samples` empty). */
export type DecodedBatch = StreamBatch & { pool?: PoolRef; epoch?: number };

const KIND_POOLED = 3;

/**
 * BATCH payload: u16 stream-name length, name (UTF-8), u8 kind (0 scalar, 1 table, 2 waveform
 * with its samples inline, 3 waveform with a pool reference), pad to 8, u32 IPC length, u32
 * flush epoch (the segment index it goes to, + 1; 0 = not recorded), Arrow IPC stream (schema + the batch), pad to 8, then for kind 2 the uint16 samples,
 * for kind 3 the reference: u32 CRC32C of the sample bytes, u32 file-name length, f64 byte
 * position, f64 sample count, the file name (UTF-8). Column buffers go to the WAL as they are
 * (views, no copy).
 */
export function encodeBatch(sb: StreamBatch, pool?: PoolRef, epoch?: number): Uint8Array[] {
  const name = enc.encode(sb.stream);
  // The incremental encoder hands back views of the batch's own column buffers (tableToIPC would
  // copy every column into one new buffer: the encode cost dominated the WAL's CPU time).
  const ipcEncoder = new IpcStreamEncoder(sb.batch.schema);
  const ipcParts = [...ipcEncoder.encode(sb.batch), ...ipcEncoder.finish()];
  const ipc = { byteLength: ipcParts.reduce((a, p) => a + p.byteLength, 0) };
  const headLen = 8 + ((2 + name.length + 1 + 7) & ~7);
  const head = new Uint8Array(headLen);
  const dv = new DataView(head.buffer);
  dv.setUint16(0, name.length, true);
  head.set(name, 2);
  head[2 + name.length] = sb.kind === 'scalar' ? 0 : sb.kind === 'table' ? 1 : pool ? KIND_POOLED : 2;
  dv.setUint32(headLen - 8, ipc.byteLength, true);
  if (epoch !== undefined) dv.setUint32(headLen - 4, epoch + 1, true);
  const parts: Uint8Array[] = [head, ...ipcParts];
  const pad = ((ipc.byteLength + 7) & ~7) - ipc.byteLength;
  if (pad) parts.push(new Uint8Array(pad));
  if (sb.kind === 'waveform' && pool) {
    const file = enc.encode(pool.file);
    const ref = new Uint8Array(24 + file.length);
    const rv = new DataView(ref.buffer);
    rv.setUint32(0, pool.crc >>> 0, true);
    rv.setUint32(4, file.length, true);
    rv.setFloat64(8, pool.position, true);
    rv.setFloat64(16, pool.samples, true);
    ref.set(file, 24);
    parts.push(ref);
  } else if (sb.kind === 'waveform') parts.push(new Uint8Array(sb.samples.buffer, sb.samples.byteOffset, sb.samples.byteLength));
  return parts;
}

/** Decodes a BATCH payload; the result's arrays are views of `payload` where alignment allows. */
export function decodeBatch(payload: Buffer): DecodedBatch {
  const nameLen = payload.readUInt16LE(0);
  const stream = dec.decode(payload.subarray(2, 2 + nameLen));
  const kindCode = payload[2 + nameLen];
  const headLen = 8 + ((2 + nameLen + 1 + 7) & ~7);
  const ipcLen = payload.readUInt32LE(headLen - 8);
  const epochCode = payload.readUInt32LE(headLen - 4);
  const epoch = epochCode > 0 ? { epoch: epochCode - 1 } : {};
  const ipcEnd = headLen + ipcLen;
  const table = tableFromIPC(payload.subarray(headLen, ipcEnd));
  const batch = table.batches[0];
  if (!batch) throw new DaqError('DAQ_ERR_WAL_CORRUPTED', `WAL batch record of stream "${stream}" holds no record batch`, { details: { stream } });
  if (kindCode === KIND_POOLED) {
    const at = headLen + ((ipcLen + 7) & ~7);
    if (payload.length < at + 24) throw new DaqError('DAQ_ERR_WAL_CORRUPTED', `WAL batch record of stream "${stream}": pool reference cut short`, { details: { stream } });
    const nameLen2 = payload.readUInt32LE(at + 4);
    const pool: PoolRef = {
      crc: payload.readUInt32LE(at),
      position: payload.readDoubleLE(at + 8),
      samples: payload.readDoubleLE(at + 16),
      file: dec.decode(payload.subarray(at + 24, at + 24 + nameLen2)),
    };
    return { kind: 'waveform', stream, batch, samples: new Uint16Array(0), pool, ...epoch };
  }
  if (kindCode === 2) {
    const start = headLen + ((ipcLen + 7) & ~7);
    const bytes = payload.subarray(start);
    // Copy when the view would be misaligned for a Uint16Array.
    const samples = (bytes.byteOffset & 1) === 0 ? new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 1) : new Uint16Array(Uint8Array.from(bytes).buffer);
    return { kind: 'waveform', stream, batch, samples, ...epoch };
  }
  return { kind: kindCode === 0 ? 'scalar' : 'table', stream, batch, ...epoch };
}

/** STREAM payload: u32 JSON length, JSON (StreamInfo without schema), Arrow IPC of the empty schema. */
/**
 * STREAM payload: u32 JSON length, the StreamInfo as JSON (all but the schema), the schema as Arrow
 * IPC. With `tagsFile`, the tag table is not inline but in that file (relative to the run folder,
 * written by the sink): a million tags are ~60 MB of JSON, and the registry is appended again
 * after every checkpoint.
 */
export function encodeStream(info: StreamInfo, opts: { tagsFile?: string } = {}): Uint8Array[] {
  const { schema, tags, ...rest } = info;
  const meta = opts.tagsFile && tags ? { ...rest, tags_file: opts.tagsFile, tags_count: tags.length } : tags ? { ...rest, tags: tagArray(tags) } : rest;
  const json = enc.encode(JSON.stringify(meta));
  const schemaIpc = tableToIPC(new Table(schema), 'stream');
  const head = new Uint8Array(4);
  new DataView(head.buffer).setUint32(0, json.length, true);
  return [head, json, schemaIpc];
}

/** Decodes a STREAM payload; a tag table kept in a file is read from `dir` (the run folder). */
export function decodeStream(payload: Buffer, dir?: string): StreamInfo {
  const len = payload.readUInt32LE(0);
  const { tags_file: tagsFile, tags_count: tagsCount, ...rest } = JSON.parse(dec.decode(payload.subarray(4, 4 + len))) as Omit<StreamInfo, 'schema'> & { tags_file?: string; tags_count?: number };
  const schema = tableFromIPC(payload.subarray(4 + len)).schema;
  if (tagsFile === undefined) return { ...rest, schema };
  const file = path.join(dir ?? '.', tagsFile);
  let tags: unknown;
  try {
    tags = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new DaqError('DAQ_ERR_WAL_CORRUPTED', `stream "${rest.name}": its tag table ${file} is missing or unreadable (${(err as Error).message})`, { details: { file, stream: rest.name } });
  }
  if (!Array.isArray(tags) || tags.length !== tagsCount) {
    throw new DaqError('DAQ_ERR_WAL_CORRUPTED', `stream "${rest.name}": ${file} holds ${Array.isArray(tags) ? tags.length : 'no'} tags, the WAL says ${tagsCount}`, { details: { file, stream: rest.name } });
  }
  return { ...rest, tags: tags as StreamInfo['tags'], schema };
}

/** CHECKPOINT payload: JSON. */
export interface Checkpoint {
  /** Index of the segment file written. */
  segment: number;
  /** Every record with seq <= this is in finished segments. */
  seq: string;
  /** Per waveform stream: samples stored so far (the next segment's global_offset). */
  samples: Record<string, string>;
  /** Records stored so far in the run's merged records stream (the next segment's first event_id). */
  events?: Record<string, string>;
}

export function encodeCheckpoint(c: Checkpoint): Uint8Array[] {
  return [enc.encode(JSON.stringify(c))];
}

export function decodeCheckpoint(payload: Buffer): Checkpoint {
  try {
    return JSON.parse(dec.decode(payload)) as Checkpoint;
  } catch (err) {
    throw new DaqError('DAQ_ERR_WAL_CORRUPTED', `checkpoint record does not parse: ${(err as Error).message}`, { cause: err });
  }
}
