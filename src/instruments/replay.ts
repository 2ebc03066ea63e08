import path from 'node:path';
import { z } from 'zod';
import { DaqError } from '../errors.ts';
import { defineInstrument } from '../plugin.ts';
import { openRunSync } from '../query/open-run.ts';
import type { StreamBatch, StreamInfo } from '../schema/batch.ts';
import { makeRecordsBatch, recordColumns, recordsSchema, RECORD_FIELDS } from '../schema/waveform.ts';
import type { RecordColumns } from '../schema/waveform.ts';
import type { RecordsBatch } from '../query/records-view.ts';
import { makeScalarBatch, scalarSchema } from '../schema/scalar.ts';
import type { TagInfo } from '../schema/scalar.ts';
import { pace } from './pace.ts';

export const replayOptions = z
  .object({
    /** A recorded run folder (`<out>/<run_id>`); relative paths: to the working directory. */
    run: z.string().min(1),
    /** Scalar streams of the recorded run to play back (default: every scalar stream). */
    streams: z.array(z.string()).optional(),
    /** Playback speed: 1 = the original pace, 10 = ten times faster. */
    speed: z.number().positive().default(1),
    /** false: as fast as the pipeline accepts (ignores `speed`). */
    realtime: z.boolean().default(true),
    /** Most recorded time per emitted batch, ms. */
    batch_ms: z.number().positive().default(100),
    /** Most rows per emitted batch. */
    batch_rows: z.number().int().min(1).default(65536),
    /** Shift timestamps so the recording's first point lands on this run's start (default: keep the recorded times). */
    retime: z.boolean().default(false),
    /** Also play back the recording's merged `records` with their waveforms, as stream `<instance>.records` (when it has any). */
    records: z.boolean().default(true),
  })
  .strict();
export type ReplayOptions = z.infer<typeof replayOptions>;

/** Replayed stream name: `<instance>.<recorded stream>` (e.g. `replay.plant.tags`). */
export const replayStreamName = (instance: string, recorded: string) => `${instance}.${recorded}`;

function recordedStreams(opts: ReplayOptions): { dir: string; names: string[]; tags: Map<string, TagInfo[]>; records: { channels: number[]; dtNs: number } | null } {
  const dir = path.resolve(opts.run);
  const run = openRunSync(dir);
  try {
    const all = run.scalarStreams();
    const names = opts.streams ?? all;
    for (const n of names) {
      if (!all.includes(n)) throw new DaqError('DAQ_ERR_STREAM_UNKNOWN', `replay: run ${dir} has no scalar stream "${n}" (has: ${all.join(', ') || 'none'})`, { details: { stream: n, file: dir } });
    }
    const tags = new Map<string, TagInfo[]>();
    for (const n of names) {
      const t = run.tags(n);
      tags.set(n, Array.from(t.id, (id, k) => ({ id, name: t.name[k]!, unit: t.unit[k]!, type: (t.type[k] || 'float64') as TagInfo['type'] })));
    }
    let records: { channels: number[]; dtNs: number } | null = null;
    if (opts.records && run.records.length > 0) {
      const c = run.records.columns;
      const channels = new Set<number>();
      for (let i = 0; i < c.channel.length; i++) channels.add(c.channel[i]!);
      records = { channels: [...channels].sort((a, b) => a - b), dtNs: c.dt[0]! };
    }
    return { dir, names, tags, records };
  } finally {
    run.close();
  }
}

/** Rows [a, b) of a records batch as a waveform batch of its own (samples sliced, offsets rebased). */
function sliceRecords(rb: RecordsBatch, a: number, b: number, stream: string, shiftNs: bigint, shiftPs: bigint): StreamBatch {
  const c = recordColumns(rb.records);
  const out = {} as Record<string, unknown>;
  for (const f of RECORD_FIELDS) out[f.name] = (c[f.name] as unknown as { slice(a: number, b: number): unknown }).slice(a, b);
  const cols = out as unknown as RecordColumns;
  const base = c.wave_offset[a]!;
  const end = Number(c.wave_offset[b - 1]! + BigInt(c.event_length[b - 1]!));
  for (let i = 0; i < b - a; i++) {
    cols.wave_offset[i] = cols.wave_offset[i]! - base;
    if (shiftNs !== 0n) cols.time[i] = cols.time[i]! + shiftNs;
    if (shiftPs !== 0n) cols.timestamp[i] = cols.timestamp[i]! + shiftPs;
  }
  return { kind: 'waveform', stream, batch: makeRecordsBatch(cols), samples: rb.samples.slice(Number(base), end) };
}

/** Row order of a segment's points by time (stable: equal times keep their stored order, by tag). */
function timeOrder(ts: BigInt64Array): Uint32Array<ArrayBufferLike> {
  const idx = new Uint32Array(ts.length);
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  let sorted = true;
  for (let i = 1; i < ts.length && sorted; i++) if (ts[i]! < ts[i - 1]!) sorted = false;
  if (sorted) return idx;
  return idx.sort((a, b) => (ts[a]! < ts[b]! ? -1 : ts[a]! > ts[b]! ? 1 : a - b));
}

/**
 * Plays back the scalar streams of a recorded run folder (and its merged `records` with their
 * waveforms, as `<instance>.records`), in time order, at the original pace
 * (`speed` 1), faster or slower, or as fast as the pipeline accepts (`realtime: false`). Values,
 * tags and quality codes are replayed exactly; timestamps too unless `retime`. Reads one segment
 * at a time, so memory stays bounded by the recording's segment size. Ends when the recording does.
 * (The caller must have awaited `h5ready()` before `streams()`: the daemon does for `type: replay`.)
 */
export const replay = defineInstrument<ReplayOptions>({
  name: 'replay',
  version: '1.0.0',
  options: replayOptions,
  streams(opts, instance) {
    const { names, tags, records } = recordedStreams(opts);
    const out: Array<Omit<StreamInfo, 'lineage'>> = names.map((n) => ({ name: replayStreamName(instance, n), kind: 'scalar' as const, schema: scalarSchema, tags: tags.get(n)!, units: { timestamp_ns: 'ns' } }));
    if (records) out.push({ name: replayStreamName(instance, 'records'), kind: 'waveform', schema: recordsSchema, channels: records.channels, dtNs: records.dtNs });
    return out;
  },
  async *run(opts, ctx, instance) {
    const { dir, names, records } = recordedStreams(opts);
    const run = openRunSync(dir);
    try {
      // The recording's clock origin: its earliest point over the replayed streams.
      let first: bigint | null = null;
      for (const n of names) {
        const r = run.scalars(n);
        if (r.segmentCount() === 0) continue;
        const ts = r.readSegment(0).timestampNs;
        for (let i = 0; i < ts.length; i++) if (first === null || ts[i]! < first) first = ts[i]!;
      }
      const rv = records ? run.records : null;
      if (rv) for (let i = 0; i < rv.columns.time.length; i++) if (first === null || rv.columns.time[i]! < first) first = rv.columns.time[i]!;
      if (first === null) return;
      const shift = opts.retime ? ctx.sessionStartUnixNs - first : 0n;
      // Waveform timestamps count ps from the run's clock origin: retimed, from the new run's.
      const t0Old = BigInt(run.attrs['t0_unix_ns'] as bigint | number);
      const shiftPs = opts.retime ? (t0Old + shift - ctx.t0UnixNs) * 1000n : 0n;
      // Records in batches of up to batch_rows, each cut at window ends.
      const recIter = rv ? rv.iterBatches(Math.min(opts.batch_rows, 4096)) : null;
      const rec = { cur: null as RecordsBatch | null, time: new BigInt64Array(0) as BigInt64Array<ArrayBufferLike>, k: 0, out: replayStreamName(instance, 'records') };
      const recAdvance = (): boolean => {
        while (recIter && (!rec.cur || rec.k >= rec.time.length)) {
          const nx = recIter.next();
          if (nx.done) {
            rec.cur = null;
            return false;
          }
          rec.cur = nx.value;
          rec.time = recordColumns(nx.value.records).time;
          rec.k = 0;
        }
        return rec.cur !== null;
      };
      const startMs = Date.now();
      const windowNs = BigInt(Math.max(1, Math.round(opts.batch_ms * 1e6)));
      // One cursor per stream over its current segment, in time order; streams interleave by time.
      const cursors = names.map((n) => ({ name: n, out: replayStreamName(instance, n), reader: run.scalars(n), seg: -1, cols: null as ReturnType<typeof run.readScalars> | null, order: new Uint32Array(0) as Uint32Array<ArrayBufferLike>, pos: 0 }));
      const advance = (c: (typeof cursors)[number]): boolean => {
        while (!c.cols || c.pos >= c.order.length) {
          if (++c.seg >= c.reader.segmentCount()) return false;
          c.cols = c.reader.readSegment(c.seg);
          c.order = timeOrder(c.cols.timestampNs);
          c.pos = 0;
        }
        return true;
      };
      let windowEnd = first + windowNs;
      for (;;) {
        const live = cursors.filter(advance);
        const recLive = recAdvance();
        if ((live.length === 0 && !recLive) || ctx.signal.aborted) return;
        // Next window starts at the earliest pending point (skips gaps in the recording).
        let next: bigint | null = recLive ? rec.time[rec.k]! : null;
        for (const c of live) {
          const t = c.cols!.timestampNs[c.order[c.pos]!]!;
          if (next === null || t < next) next = t;
        }
        if (next === null) return;
        if (next >= windowEnd) windowEnd = next + windowNs;
        if (opts.realtime) {
          const dueMs = startMs + Number(windowEnd - first) / 1e6 / opts.speed;
          if (!(await pace(dueMs, ctx.signal))) return;
        }
        for (const c of live) {
          const { timestampNs, tag, value, quality } = c.cols!;
          let n = 0;
          while (c.pos + n < c.order.length && n < opts.batch_rows && timestampNs[c.order[c.pos + n]!]! < windowEnd) n++;
          if (n === 0) continue;
          const b = { timestampNs: new BigInt64Array(n), tag: new Uint32Array(n), value: new Float64Array(n), quality: new Uint8Array(n) };
          for (let j = 0; j < n; j++) {
            const i = c.order[c.pos + j]!;
            b.timestampNs[j] = timestampNs[i]! + shift;
            b.tag[j] = tag[i]!;
            b.value[j] = value[i]!;
            b.quality[j] = quality[i]!;
          }
          c.pos += n;
          const sb: StreamBatch = { kind: 'scalar', stream: c.out, batch: makeScalarBatch(b) };
          yield sb;
        }
        if (recLive) {
          let n = 0;
          while (rec.k + n < rec.time.length && n < opts.batch_rows && rec.time[rec.k + n]! < windowEnd) n++;
          if (n > 0) {
            const sb = sliceRecords(rec.cur!, rec.k, rec.k + n, rec.out, shift, shiftPs);
            rec.k += n;
            yield sb;
          }
        }
        // A window cut by batch_rows stays open until drained; otherwise move on.
        const recDone = !rec.cur || rec.k >= rec.time.length || rec.time[rec.k]! >= windowEnd;
        if (recDone && live.every((c) => c.pos >= c.order.length || c.cols!.timestampNs[c.order[c.pos]!]! >= windowEnd)) windowEnd += windowNs;
      }
    } finally {
      run.close();
    }
  },
});
