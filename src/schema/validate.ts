import { DaqError, SchemaMismatchError } from '../errors.ts';
import { util } from 'apache-arrow';
import type { DataType, Schema } from 'apache-arrow';
import { columnValues } from './batch.ts';
import type { StreamBatch, StreamInfo } from './batch.ts';

function typeName(t: DataType): string {
  return String(t);
}

/** Compares two Arrow types structurally (type id, width, signedness, unit). */
export function sameType(a: DataType, b: DataType): boolean {
  return util.compareTypes(a, b);
}

/**
 * Checks that `actual` has exactly the fields of `expected`, in order, with the same types.
 * Throws a {@link SchemaMismatchError} naming the stream, the field, what was expected and found.
 */
export function checkSchema(stream: string, expected: Schema, actual: Schema): void {
  const n = Math.max(expected.fields.length, actual.fields.length);
  for (let i = 0; i < n; i++) {
    const e = expected.fields[i];
    const a = actual.fields[i];
    if (!e) {
      throw new SchemaMismatchError(
        `stream "${stream}": unexpected extra field "${a!.name}" (${typeName(a!.type)}) at position ${i}; expected ${expected.fields.length} fields`,
        { details: { stream, field: a!.name, position: i } },
      );
    }
    if (!a) {
      throw new SchemaMismatchError(
        `stream "${stream}": field "${e.name}" (${typeName(e.type)}) is missing at position ${i}`,
        { details: { stream, field: e.name, position: i } },
      );
    }
    if (a.name !== e.name) {
      throw new SchemaMismatchError(
        `stream "${stream}": field at position ${i} is "${a.name}", expected "${e.name}"`,
        { details: { stream, field: e.name, found: a.name, position: i } },
      );
    }
    if (!sameType(e.type, a.type)) {
      throw new SchemaMismatchError(
        `stream "${stream}": field "${e.name}" has type ${typeName(a.type)}, expected ${typeName(e.type)}`,
        { details: { stream, field: e.name, expected: typeName(e.type), found: typeName(a.type) } },
      );
    }
  }
}

/**
 * Validates one batch against its stream: schema, no nulls, and for waveform batches that every
 * event lies inside the batch's sample slice. Cost is O(columns) plus O(rows) for waveforms.
 */
export function validateBatch(info: StreamInfo, sb: StreamBatch): void {
  const stream = info.name;
  if (sb.stream !== stream) {
    throw new DaqError('DAQ_ERR_BATCH_INVALID', `batch for stream "${sb.stream}" validated against stream "${stream}"`, {
      details: { stream },
    });
  }
  const expectKind = info.kind === 'waveform' ? 'waveform' : 'table-like';
  const gotKind = sb.kind === 'waveform' ? 'waveform' : 'table-like';
  if (expectKind !== gotKind) {
    throw new SchemaMismatchError(`stream "${stream}": expected a ${info.kind} batch, got a ${sb.kind} batch`, {
      details: { stream },
    });
  }
  checkSchema(stream, info.schema, sb.batch.schema);
  // Plain loops, no closures: this runs for every batch (under tsx a closure also gets its name set).
  const fields = sb.batch.schema.fields;
  const children = sb.batch.data.children;
  for (let i = 0; i < fields.length; i++) {
    const nulls = children[i]!.nullCount;
    if (nulls > 0) {
      throw new SchemaMismatchError(`stream "${stream}": field "${fields[i]!.name}" has ${nulls} nulls; nulls are not allowed`, {
        details: { stream, field: fields[i]!.name },
      });
    }
  }
  if (sb.kind === 'waveform') {
    if (!(sb.samples instanceof Uint16Array)) {
      throw new SchemaMismatchError(`stream "${stream}": waveform samples must be a Uint16Array`, {
        details: { stream, field: 'samples' },
      });
    }
    let offIdx = -1;
    let lenIdx = -1;
    for (let i = 0; i < fields.length; i++) {
      if (fields[i]!.name === 'wave_offset') offIdx = i;
      else if (fields[i]!.name === 'event_length') lenIdx = i;
    }
    const offsets = columnValues<BigInt64Array>(sb.batch, offIdx);
    const lengths = columnValues<Int32Array>(sb.batch, lenIdx);
    // The offsets as 32-bit words (low, high; little-endian), so no BigInt is made per row: an
    // offset with a high word is checked exactly on its own.
    const words = new Int32Array(offsets.buffer, offsets.byteOffset, offsets.length * 2);
    const total = sb.samples.length;
    for (let i = 0; i < lengths.length; i++) {
      const len = lengths[i]!;
      const hi = words[2 * i + 1]!;
      if (len < 0 || hi !== 0 || (words[2 * i]! >>> 0) + len > total) {
        const off = Number(offsets[i]);
        if (len < 0 || off < 0 || off + len > total) {
          throw new DaqError(
            'DAQ_ERR_BATCH_INVALID',
            `stream "${stream}": row ${i} has wave_offset ${off} and event_length ${len}, outside the batch's ${total} samples`,
            { details: { stream, row: i, field: 'wave_offset' } },
          );
        }
      }
    }
  }
}
