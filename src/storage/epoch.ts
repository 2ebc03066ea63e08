import { batchBytes, columnValues } from '../schema/batch.ts';
import type { StreamBatch, StreamInfo, WaveBatch } from '../schema/batch.ts';
import { concatScalarColumns, scalarColumns } from '../schema/scalar.ts';
import { allocRecordColumns, RECORD_FIELDS, recordColumns } from '../schema/waveform.ts';
import type { ScalarSegmentPart, TableSegmentPart, WaveSegmentPart } from './segment.ts';

/**
 * One flush epoch: the batches acknowledged since the last segment, kept by reference in one
 * list per stream (columnar already: no buffer per tag, no copy until the segment is built).
 * Building a segment concatenates each stream's columns once; its cost grows with points, not
 * with tags.
 */
export class Epoch {
  readonly batches = new Map<string, StreamBatch[]>();
  bytes = 0;
  rows = 0;
  lastSeq = 0n;
  readonly startedAt = Date.now();

  add(sb: StreamBatch, seq: bigint): void {
    let list = this.batches.get(sb.stream);
    if (!list) this.batches.set(sb.stream, (list = []));
    list.push(sb);
    this.bytes += batchBytes(sb);
    this.rows += sb.batch.numRows;
    this.lastSeq = seq;
  }

  /** Drops the batches (their segment content is built); `bytes`, `rows` and `lastSeq` stay. */
  release(): void {
    this.batches.clear();
  }

  get empty(): boolean {
    return this.batches.size === 0;
  }

  scalarParts(streams: Map<string, StreamInfo>): ScalarSegmentPart[] {
    const out: ScalarSegmentPart[] = [];
    for (const [stream, list] of this.batches) {
      const info = streams.get(stream);
      if (info?.kind !== 'scalar') continue;
      const c = concatScalarColumns(list.map((b) => scalarColumns(b.batch)));
      const part: ScalarSegmentPart = { stream, tags: info.tags ?? [], ...c }; // encoded by the sink if this segment stores it
      out.push(part);
    }
    return out;
  }

  /**
   * Waveform parts; `samplesSoFar` gives and receives each stream's global sample count. The
   * primary (merged) stream's `event_id` is its row number in the run's stored records table,
   * counted on from `eventsSoFar` (so a continued or recovered run numbers on, never repeats).
   */
  waveParts(streams: Map<string, StreamInfo>, primary: string, samplesSoFar: Map<string, bigint>, eventsSoFar: Map<string, bigint> = new Map()): WaveSegmentPart[] {
    const out: WaveSegmentPart[] = [];
    for (const [stream, list] of this.batches) {
      const info = streams.get(stream);
      if (info?.kind !== 'waveform') continue;
      const waves = list as WaveBatch[];
      const n = waves.reduce((a, w) => a + w.batch.numRows, 0);
      const total = waves.reduce((a, w) => a + w.samples.length, 0);
      const records = allocRecordColumns(n);
      const samples = new Uint16Array(total);
      let o = 0;
      let so = 0;
      for (const w of waves) {
        const c = recordColumns(w.batch);
        for (const f of RECORD_FIELDS) (records[f.name] as { set(a: ArrayLike<unknown>, o: number): void }).set(c[f.name] as never, o);
        // Segment-local offsets: the batch's samples land at `so` in this segment's wave pool.
        const base = BigInt(so);
        for (let i = 0; i < w.batch.numRows; i++) records.wave_offset[o + i] = c.wave_offset[i]! + base;
        samples.set(w.samples, so);
        o += w.batch.numRows;
        so += w.samples.length;
      }
      const before = samplesSoFar.get(stream) ?? 0n;
      samplesSoFar.set(stream, before + BigInt(total));
      if (stream === primary) {
        const first = eventsSoFar.get(stream) ?? 0n;
        // event_id as two 32-bit words: no BigInt per record (first + i < 2^53).
        const base = Number(first);
        const w = new Uint32Array(records.event_id.buffer, records.event_id.byteOffset, n * 2);
        for (let i = 0; i < n; i++) {
          const id = base + i;
          w[2 * i] = id >>> 0;
          w[2 * i + 1] = Math.floor(id / 4294967296);
        }
        eventsSoFar.set(stream, first + BigInt(n));
      }
      out.push({ stream, primary: stream === primary, dtNs: info.dtNs ?? 0, records, samples, globalSampleOffset: before });
    }
    return out;
  }

  tableParts(streams: Map<string, StreamInfo>): TableSegmentPart[] {
    const out: TableSegmentPart[] = [];
    for (const [stream, list] of this.batches) {
      const info = streams.get(stream);
      if (info?.kind !== 'table') continue;
      const columns: TableSegmentPart['columns'] = {};
      const n = list.reduce((a, b) => a + b.batch.numRows, 0);
      info.schema.fields.forEach((f, i) => {
        if (!list[0]) return;
        const first = columnValues(list[0].batch, i) as unknown as ArrayLike<number> & { constructor: new (n: number) => never };
        const col = new first.constructor(n) as unknown as { set(a: ArrayLike<unknown>, o: number): void; buffer: ArrayBufferLike; length: number };
        let o = 0;
        for (const b of list) {
          const v = columnValues(b.batch, i) as unknown as ArrayLike<number>;
          col.set(v, o);
          o += b.batch.numRows;
        }
        columns[f.name] = col as never;
      });
      out.push({ stream, columns, units: info.units ?? {} });
    }
    return out;
  }
}
