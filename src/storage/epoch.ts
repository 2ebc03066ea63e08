import { batchBytes, columnValues } from '../schema/batch.ts';
import type { StreamBatch, StreamInfo, WaveBatch } from '../schema/batch.ts';
import { concatScalarColumns, scalarColumns } from '../schema/scalar.ts';
import { allocRecordColumns, RECORD_FIELDS, recordColumns } from '../schema/waveform.ts';
import type { ScalarSegmentPart, TableSegmentPart, WaveSegmentPart } from './segment.ts';
import { POOL_DATA_OFFSET } from './hdf5/pool-header.ts';
import type { PoolRef } from './wal/codec.ts';

const NO_SAMPLES = new Uint16Array(0);

/** A waveform batch kept without its samples (they are in the epoch's pool file). */
type PooledWave = WaveBatch & { pooledSamples: number };

/**
 * One flush epoch: the batches acknowledged since the last segment, kept by reference in one
 * list per stream (columnar already: no buffer per tag, no copy until the segment is built).
 * Building a segment concatenates each stream's columns once; its cost grows with points, not
 * with tags.
 */
export class Epoch {
  readonly batches = new Map<string, StreamBatch[]>();
  /** Per waveform stream whose samples went to a pool file: that file and its samples so far. */
  readonly pools = new Map<string, { file: string; samples: number }>();
  /** Bytes held in memory (columns; pooled samples are on disk, not here). */
  bytes = 0;
  /** Sample bytes written to pool files this epoch. */
  poolBytes = 0;
  rows = 0;
  lastSeq = 0n;
  readonly startedAt = Date.now();

  /** `index`: the segment this epoch becomes, when fixed in advance (recovery); else the next. */
  constructor(readonly index?: number) {}

  /**
   * `pool`: the batch's samples are in a pool file, at the position that follows the samples this
   * epoch already holds for the stream (one pool file per stream and epoch, filled from its start);
   * the epoch keeps the records only.
   */
  add(sb: StreamBatch, seq: bigint, pool?: PoolRef): void {
    let list = this.batches.get(sb.stream);
    if (!list) this.batches.set(sb.stream, (list = []));
    if (pool && sb.kind === 'waveform') {
      const p = this.pools.get(sb.stream) ?? { file: pool.file, samples: 0 };
      if (p.file !== pool.file || pool.position !== POOL_DATA_OFFSET + 2 * p.samples || (p.samples === 0 && list.length > 0)) {
        throw new Error(`epoch: batch of "${sb.stream}" at ${pool.file}:${pool.position} does not follow ${p.file}:${POOL_DATA_OFFSET + 2 * p.samples}`);
      }
      p.samples += pool.samples;
      this.pools.set(sb.stream, p);
      this.poolBytes += pool.samples * 2;
      sb = { ...sb, samples: NO_SAMPLES, pooledSamples: pool.samples } as PooledWave;
    } else if (sb.kind === 'waveform' && this.pools.has(sb.stream)) {
      throw new Error(`epoch: batch of "${sb.stream}" with inline samples after pooled ones`);
    }
    list.push(sb);
    this.bytes += batchBytes(sb);
    this.rows += sb.batch.numRows;
    this.lastSeq = seq;
  }

  /** The pool file of `stream` in this epoch, if its samples went to one; else whether it has inline waveforms. */
  poolOf(stream: string): string | null {
    return this.pools.get(stream)?.file ?? null;
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
      const total = this.pools.get(stream)?.samples ?? waves.reduce((a, w) => a + w.samples.length, 0);
      const pool = this.pools.get(stream);
      const records = allocRecordColumns(n);
      const samples = new Uint16Array(pool ? 0 : total); // never the shared empty array: parts are transferred
      let o = 0;
      let so = 0;
      for (const w of waves) {
        const c = recordColumns(w.batch);
        for (const f of RECORD_FIELDS) (records[f.name] as { set(a: ArrayLike<unknown>, o: number): void }).set(c[f.name] as never, o);
        // Segment-local offsets: the batch's samples land at `so` in this segment's wave pool.
        const base = BigInt(so);
        for (let i = 0; i < w.batch.numRows; i++) records.wave_offset[o + i] = c.wave_offset[i]! + base;
        o += w.batch.numRows;
        if (pool) {
          so += (w as PooledWave).pooledSamples;
        } else {
          samples.set(w.samples, so);
          so += w.samples.length;
        }
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
      out.push({ stream, primary: stream === primary, dtNs: info.dtNs ?? 0, records, samples, globalSampleOffset: before, ...(pool ? { pool: { file: pool.file, samples: pool.samples } } : {}) });
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
