import { DataType, Table, tableToIPC } from 'apache-arrow';
import type { RecordBatch, Schema } from 'apache-arrow';
// apache-arrow's IPC metadata classes (its package exports every module): the record batch message
// of a frame can be written from them without the generic writer (see batchPrefix).
import { BufferRegion, FieldNode, Message, RecordBatch as BatchHeader } from 'apache-arrow/ipc/metadata/message';
import { makeBatch } from '../schema/batch.ts';

type NumericArray = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array | BigInt64Array | BigUint64Array;
type NumericArrayCtor = { new (n: number): NumericArray; new (b: ArrayBuffer, offset: number, n: number): NumericArray; BYTES_PER_ELEMENT: number };

/**
 * Arrow IPC stream bytes (schema + one record batch + end-of-stream) of a live frame, as
 * `tableToIPC(new Table([batch]), 'stream')` would write them, but cheap to repeat.
 *
 * A view ticks a few times per second and its frames all have the same schema and, once the
 * trend is on screen, the same row count, so everything before the body (schema message and
 * record batch metadata) is the same from one frame to the next. Those bytes are taken once per
 * (schema, row count) from apache-arrow's own writer, then each frame is that prefix, its column
 * buffers back to back (each padded to 8 bytes) and the end-of-stream marker: a few memory copies
 * instead of building flatbuffers through the writer's generic visitors (which, run a few times a
 * second, stay cold and cost far more in the daemon than in a warm loop).
 *
 * Only for batches of fixed-width columns without nulls (trend and scope frames); anything else,
 * or a prefix whose check fails (see `template`), goes through tableToIPC.
 *
 * A row count not seen yet (a trend still filling its rings, a slow tag) needs a new prefix. The
 * writer takes about 1 ms for one even when warm; once a schema's prefix from the writer has been
 * matched byte for byte by one written from apache-arrow's metadata classes (`batchPrefix`: the
 * schema message as it is, a record batch message of the new length), prefixes for other row counts
 * of that schema are written that way, without the writer and its visitors.
 */
export class FrameEncoder {
  /**
   * By schema (fingerprint: a RecordBatch copies its schema, so object identity does not last):
   * prefix bytes by row count (a few), or null when batches of this schema are not templatable.
   */
  private readonly prefixes = new Map<string, Map<number, Uint8Array> | null>();
  /** Per schema: its schema message and column widths once `batchPrefix` has matched the writer (else null). */
  private readonly derivable = new Map<string, { schemaMessage: Uint8Array; widths: number[] } | null>();
  /** Frames written from a cached prefix. */
  fromPrefix = 0;
  /** Prefixes written by batchPrefix (a new row count of a known schema), not by apache-arrow's writer. */
  derivedPrefixes = 0;

  /** The prefix for `numRows` rows of a schema whose prefixes batchPrefix can write, else null. */
  private derived(key: string, numRows: number): Uint8Array | null {
    const d = this.derivable.get(key);
    if (!d || numRows < 1) return null;
    this.derivedPrefixes++;
    return batchPrefix(d.schemaMessage, d.widths, numRows);
  }

  /** After the writer made `prefix` for a schema first seen: whether batchPrefix writes the same bytes. */
  private learn(key: string, schema: Schema, prefix: Uint8Array, numRows: number): void {
    if (this.derivable.has(key)) return;
    if (this.derivable.size >= 256) this.derivable.clear();
    const widths = columnWidths(schema);
    const head = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
    let d: { schemaMessage: Uint8Array; widths: number[] } | null = null;
    if (widths && numRows >= 1 && prefix.byteLength >= 8 && head.getInt32(0, true) === -1) {
      const schemaMessage = prefix.slice(0, 8 + head.getInt32(4, true));
      const again = schemaMessage.byteLength < prefix.byteLength ? batchPrefix(schemaMessage, widths, numRows) : null;
      if (again && sameBytes(again, prefix)) d = { schemaMessage, widths };
    }
    this.derivable.set(key, d);
  }

  encode(batch: RecordBatch): Uint8Array {
    const columns = flatColumns(batch);
    const key = fingerprint(batch.schema);
    let bySchema = this.prefixes.get(key);
    if (bySchema === undefined) {
      if (this.prefixes.size >= 256) this.prefixes.clear(); // many schemas (derived tables): stay small
      this.prefixes.set(key, (bySchema = columns ? new Map() : null));
    }
    if (!bySchema || !columns) return tableToIPC(new Table([batch]), 'stream');
    let prefix = bySchema.get(batch.numRows);
    if (!prefix) {
      if (bySchema.size >= 8) bySchema.clear(); // row counts change while a trend fills up: keep a few
      const d = this.derived(key, batch.numRows);
      if (d) {
        bySchema.set(batch.numRows, d);
        return assemble(d, columns);
      }
      const t = template(batch, columns);
      if (!t) {
        this.prefixes.set(key, null);
        return tableToIPC(new Table([batch]), 'stream');
      }
      bySchema.set(batch.numRows, t.prefix);
      this.learn(key, batch.schema, t.prefix, batch.numRows);
      return t.bytes;
    }
    this.fromPrefix++;
    return assemble(prefix, columns);
  }

  /**
   * A frame's IPC stream bytes allocated before its data: `columns` are views into the body, one
   * per field, `numRows` long. Fill them, make the batch from them (makeBatch), and `bytes` is
   * that batch's IPC stream, as `encode` would return it, with no second allocation or copy. Only
   * for schemas of integer and floating-point columns (else null: build and `encode` instead).
   */
  allocate(schema: Schema, numRows: number): { bytes: Uint8Array; columns: NumericArray[] } | null {
    const ctors: NumericArrayCtor[] = [];
    for (const f of schema.fields) {
      if (!(DataType.isInt(f.type) || DataType.isFloat(f.type))) return null;
      ctors.push(f.type.ArrayType as NumericArrayCtor);
    }
    const key = fingerprint(schema);
    let bySchema = this.prefixes.get(key);
    if (bySchema === null) return null;
    let prefix = bySchema?.get(numRows);
    if (!prefix) {
      // A known schema's prefix for a new row count, else the prefix of this shape from a batch of
      // zeros (checked like any template).
      prefix = this.derived(key, numRows) ?? undefined;
      if (!prefix) {
        const zero = makeBatch(schema, ctors.map((C) => new C(numRows)));
        const columns = flatColumns(zero);
        const t = columns && template(zero, columns);
        if (!t) {
          this.prefixes.set(key, null);
          return null;
        }
        prefix = t.prefix;
        this.learn(key, zero.schema, prefix, numRows);
      }
      if (!bySchema) {
        if (this.prefixes.size >= 256) this.prefixes.clear();
        this.prefixes.set(key, (bySchema = new Map()));
      }
      if (bySchema.size >= 8) bySchema.clear();
      bySchema.set(numRows, prefix);
    }
    let body = 0;
    for (const C of ctors) body += pad8(C.BYTES_PER_ELEMENT * numRows);
    const bytes = new Uint8Array(prefix.byteLength + body + EOS.byteLength);
    bytes.set(prefix, 0);
    bytes.set(EOS, prefix.byteLength + body);
    let o = prefix.byteLength; // a multiple of 8, as every IPC message is
    const columns = ctors.map((C) => {
      const col = new C(bytes.buffer as ArrayBuffer, o, numRows);
      o += pad8(C.BYTES_PER_ELEMENT * numRows);
      return col;
    });
    return { bytes, columns };
  }
}

const pad8 = (n: number) => (n + 7) & ~7;

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.byteLength === b.byteLength && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** Bytes per value of each column if every field is an integer or floating-point type, else null. */
function columnWidths(schema: Schema): number[] | null {
  const widths: number[] = [];
  for (const f of schema.fields) {
    if (!(DataType.isInt(f.type) || DataType.isFloat(f.type))) return null;
    widths.push((f.type.ArrayType as NumericArrayCtor).BYTES_PER_ELEMENT);
  }
  return widths;
}

/**
 * The prefix (schema message, record batch message) of a batch of `numRows` rows of fixed-width
 * columns without nulls, laid out as apache-arrow's writer lays it out (VectorAssembler: per
 * column an empty validity buffer, then the values padded to 8 bytes; an IPC message is the
 * continuation marker, its metadata length and the metadata padded to 8). Used only for schemas
 * where it matched the writer's bytes (FrameEncoder.learn).
 */
function batchPrefix(schemaMessage: Uint8Array, widths: number[], numRows: number): Uint8Array {
  const nodes: FieldNode[] = [];
  const regions: BufferRegion[] = [];
  let body = 0;
  for (const w of widths) {
    nodes.push(new FieldNode(numRows, 0));
    regions.push(new BufferRegion(body, 0));
    const len = pad8(w * numRows);
    regions.push(new BufferRegion(body, len));
    body += len;
  }
  const meta = Message.encode(Message.from(new BatchHeader(numRows, nodes, regions, null), body));
  const aligned = pad8(8 + meta.byteLength);
  const out = new Uint8Array(schemaMessage.byteLength + aligned);
  out.set(schemaMessage, 0);
  const view = new DataView(out.buffer, schemaMessage.byteLength, 8);
  view.setInt32(0, -1, true);
  view.setInt32(4, aligned - 8, true);
  out.set(meta, schemaMessage.byteLength + 8);
  return out;
}

const mapKey = (m: Map<string, string>) => [...m].map(([k, v]) => `${k}\u0002${v}`).join('\u0003');

/** Everything of a schema that its IPC message holds: field names, types (with their parameters), nullability, metadata. */
function fingerprint(schema: Schema): string {
  let k = '';
  for (const f of schema.fields) k += `${f.name}\u0000${String(f.type)}\u0000${f.nullable ? 1 : 0}\u0000${mapKey(f.metadata)}\u0001`;
  return `${k}\u0004${mapKey(schema.metadata)}`;
}
const EOS = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0);

/** The batch's column value bytes if every column is one fixed-width buffer without nulls, else null. */
function flatColumns(batch: RecordBatch): Uint8Array[] | null {
  // Record batch custom metadata would be part of the prefix: not templatable.
  if ((batch as { metadata?: Map<string, string> }).metadata?.size) return null;
  const out: Uint8Array[] = [];
  for (const child of batch.data.children) {
    const values = child.values as unknown;
    if (child.nullCount !== 0 || child.children.length > 0 || child.dictionary || child.valueOffsets || !ArrayBuffer.isView(values)) return null;
    // Exactly the rows of this batch (a sliced batch keeps its parent's buffer: not templatable).
    const v = values as ArrayBufferView & { length: number; BYTES_PER_ELEMENT: number };
    if (child.offset !== 0 || v.length !== child.length * (child.stride ?? 1)) return null;
    out.push(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  }
  return out;
}

function assemble(prefix: Uint8Array, columns: Uint8Array[]): Uint8Array {
  let body = 0;
  for (const c of columns) body += pad8(c.byteLength);
  const out = new Uint8Array(prefix.byteLength + body + EOS.byteLength);
  out.set(prefix, 0);
  let o = prefix.byteLength;
  for (const c of columns) {
    out.set(c, o);
    o += pad8(c.byteLength);
  }
  out.set(EOS, o);
  return out;
}

/**
 * Encodes the batch with apache-arrow and splits off the prefix; checks that the rest is exactly
 * the column buffers, padded, then EOS (else null: this schema is then always encoded by arrow).
 */
function template(batch: RecordBatch, columns: Uint8Array[]): { prefix: Uint8Array; bytes: Uint8Array } | null {
  const bytes = tableToIPC(new Table([batch]), 'stream');
  let body = 0;
  for (const c of columns) body += pad8(c.byteLength);
  const prefixLength = bytes.byteLength - body - EOS.byteLength;
  if (prefixLength <= 0) return null;
  const prefix = bytes.slice(0, prefixLength);
  if (!sameBytes(assemble(prefix, columns), bytes)) return null;
  return { prefix, bytes };
}
