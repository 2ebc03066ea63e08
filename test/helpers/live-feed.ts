import { LiveHub } from '../../src/live/live-hub.ts';
import { makeScalarBatch, scalarSchema } from '../../src/schema/scalar.ts';
import { allocRecordColumns, makeRecordsBatch, recordsSchema } from '../../src/schema/waveform.ts';
import type { StreamInfo, WaveBatch } from '../../src/schema/batch.ts';

const lineage = { plugin: 'test', version: '1', optionsHash: '', inputs: [] };

export const tagsInfo: StreamInfo = {
  name: 'p.tags',
  kind: 'scalar',
  schema: scalarSchema,
  lineage,
  tags: Array.from({ length: 8 }, (_, i) => ({ id: i, name: `t${i}`, unit: 'V', type: 'float64' as const })),
};
export const waveInfo: StreamInfo = { name: 'records', kind: 'waveform', schema: recordsSchema, lineage, channels: [0, 1] };

/** Tag i at step k has value i*1000 + k; times are 1 ms apart from t0. */
export function pushScalars(hub: LiveHub, step: number, t0Ms: number, rows = 8): void {
  const ts = new BigInt64Array(rows);
  const tag = new Uint32Array(rows);
  const value = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    ts[i] = BigInt(Math.round((t0Ms + step) * 1e6));
    tag[i] = i % 8;
    value[i] = (i % 8) * 1000 + step;
  }
  hub.push({ kind: 'scalar', stream: 'p.tags', batch: makeScalarBatch({ timestampNs: ts, tag, value, quality: new Uint8Array(rows) }) });
}

/** One waveform per channel: a triangle of the given peak on channel 0, flat 100 on channel 1. */
export function pushWaves(hub: LiveHub, peak: number, len = 5000): void {
  const c = allocRecordColumns(2);
  const samples = new Uint16Array(2 * len);
  for (let s = 0; s < len; s++) {
    samples[s] = Math.round(peak * (1 - Math.abs(s - len / 2) / (len / 2)));
    samples[len + s] = 100;
  }
  c.channel[1] = 1;
  c.wave_offset[1] = BigInt(len);
  c.event_length[0] = len;
  c.event_length[1] = len;
  c.dt[0] = 4;
  c.dt[1] = 4;
  const wb: WaveBatch = { kind: 'waveform', stream: 'records', batch: makeRecordsBatch(c), samples };
  hub.push(wb);
}

export function feedHub(): LiveHub {
  const hub = new LiveHub();
  hub.addStream(tagsInfo);
  hub.addStream(waveInfo);
  return hub;
}
