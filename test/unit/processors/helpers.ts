import type { StreamBatch, StreamInfo } from '../../../src/schema/batch.ts';
import { makeScalarBatch, scalarSchema } from '../../../src/schema/scalar.ts';
import { allocRecordColumns, makeRecordsBatch, recordsSchema } from '../../../src/schema/waveform.ts';

export const lineage = { plugin: 'test', version: '0', optionsHash: 'x', inputs: [] };

/** A scalar stream info with tags tag0..tag{n-1}. */
export function scalarInfo(name: string, n: number): StreamInfo {
  return {
    name,
    kind: 'scalar',
    schema: scalarSchema,
    lineage,
    tags: Array.from({ length: n }, (_, i) => ({ id: i, name: `tag${i}`, unit: 'V', type: 'float64' as const })),
  };
}

export function waveInfo(name: string, channels: number[]): StreamInfo {
  return { name, kind: 'waveform', schema: recordsSchema, lineage, channels, dtNs: 4 };
}

/** Interleaved scalar points: for k in 0..n-1 and each tag i, value f(i, k) at t0 + k·periodNs. */
export function scalarSeries(tags: number, n: number, periodNs: bigint, f: (tag: number, k: number) => number, t0 = 1_700_000_000_000_000_000n) {
  const rows = tags * n;
  const ts = new BigInt64Array(rows);
  const tag = new Uint32Array(rows);
  const value = new Float64Array(rows);
  const quality = new Uint8Array(rows);
  for (let k = 0, r = 0; k < n; k++) {
    for (let i = 0; i < tags; i++, r++) {
      ts[r] = t0 + BigInt(k) * periodNs;
      tag[r] = i;
      value[r] = f(i, k);
    }
  }
  return { ts, tag, value, quality };
}

/** Splits a series into scalar batches at the given row boundaries. */
export function scalarBatches(stream: string, s: ReturnType<typeof scalarSeries>, cuts: number[]): StreamBatch[] {
  const bounds = [0, ...cuts, s.ts.length];
  const out: StreamBatch[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const a = bounds[i]!;
    const b = bounds[i + 1]!;
    out.push({
      kind: 'scalar',
      stream,
      batch: makeScalarBatch({ timestampNs: s.ts.slice(a, b), tag: s.tag.slice(a, b), value: s.value.slice(a, b), quality: s.quality.slice(a, b) }),
    });
  }
  return out;
}

/** A waveform batch of events, each given as (timestampPs, channel, samples). */
export function waveBatch(stream: string, events: { ts: bigint; ch: number; wave: ArrayLike<number> }[], dtNs = 4): StreamBatch {
  const cols = allocRecordColumns(events.length);
  const total = events.reduce((s, e) => s + e.wave.length, 0);
  const samples = new Uint16Array(total);
  let off = 0;
  events.forEach((e, i) => {
    cols.timestamp[i] = e.ts;
    cols.channel[i] = e.ch;
    cols.dt[i] = dtNs;
    cols.event_id[i] = BigInt(i);
    cols.wave_offset[i] = BigInt(off);
    cols.event_length[i] = e.wave.length;
    samples.set(Array.from(e.wave), off);
    off += e.wave.length;
  });
  return { kind: 'waveform', stream, batch: makeRecordsBatch(cols), samples };
}

/** Column `name` of a batch as a plain array (numbers or bigints), for assertions. */
export function col(sb: StreamBatch, name: string): (number | bigint)[] {
  const i = sb.batch.schema.fields.findIndex((f) => f.name === name);
  if (i < 0) throw new Error(`no column ${name}`);
  return Array.from(sb.batch.getChildAt(i)!.data[0]!.values as ArrayLike<number | bigint>);
}

/** Concatenated numeric column over batches. */
export function cat(batches: StreamBatch[], name: string): number[] {
  return batches.flatMap((b) => col(b, name).map(Number));
}
