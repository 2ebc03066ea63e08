import path from 'node:path';
import { z } from 'zod';
import { DaqError } from '../errors.ts';
import { defineInstrument } from '../plugin.ts';
import { openRunSync } from '../query/open-run.ts';
import type { StreamBatch } from '../schema/batch.ts';
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
  })
  .strict();
export type ReplayOptions = z.infer<typeof replayOptions>;

/** Replayed stream name: `<instance>.<recorded stream>` (e.g. `replay.plant.tags`). */
export const replayStreamName = (instance: string, recorded: string) => `${instance}.${recorded}`;

function recordedStreams(opts: ReplayOptions): { dir: string; names: string[]; tags: Map<string, TagInfo[]> } {
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
    return { dir, names, tags };
  } finally {
    run.close();
  }
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
 * Plays back the scalar streams of a recorded run folder, in time order, at the original pace
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
    const { names, tags } = recordedStreams(opts);
    return names.map((n) => ({ name: replayStreamName(instance, n), kind: 'scalar' as const, schema: scalarSchema, tags: tags.get(n)!, units: { timestamp_ns: 'ns' } }));
  },
  async *run(opts, ctx, instance) {
    const { dir, names } = recordedStreams(opts);
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
      if (first === null) return;
      const shift = opts.retime ? ctx.t0UnixNs - first : 0n;
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
        if (live.length === 0 || ctx.signal.aborted) return;
        // Next window starts at the earliest pending point (skips gaps in the recording).
        let next = live[0]!.cols!.timestampNs[live[0]!.order[live[0]!.pos]!]!;
        for (const c of live) next = c.cols!.timestampNs[c.order[c.pos]!]! < next ? c.cols!.timestampNs[c.order[c.pos]!]! : next;
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
        // A window cut by batch_rows stays open until drained; otherwise move on.
        if (live.every((c) => c.pos >= c.order.length || c.cols!.timestampNs[c.order[c.pos]!]! >= windowEnd)) windowEnd += windowNs;
      }
    } finally {
      run.close();
    }
  },
});
