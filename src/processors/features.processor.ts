import { Field, Float64, Int16, Int64, Int8, Schema } from 'apache-arrow';
import { z } from 'zod';
import { defineProcessor } from '../plugin.ts';
import type { Processor } from '../pipeline/types.ts';
import { makeBatch } from '../schema/batch.ts';
import type { StreamBatch, StreamInfo } from '../schema/batch.ts';
import { recordColumns } from '../schema/waveform.ts';
import { findInput } from './input-select.ts';
import { processorLineage } from './lineage.ts';
import { allocFeatureColumns, computeFeatures } from './waveform-features.ts';

export const featuresOptions = z
  .object({
    /** Waveform input stream. */
    stream: z.string(),
    /** Samples at the start of each event averaged for the baseline. */
    baseline_samples: z.number().int().min(1).default(16),
    polarity: z.enum(['positive', 'negative', 'auto']).default('auto'),
    /** Channels to analyse (default: all). */
    channels: z.array(z.number().int()).optional(),
    /** Output stream name (default: the processor's instance name). */
    output: z.string().optional(),
  })
  .strict();
export type FeaturesOptions = z.infer<typeof featuresOptions>;

/** One row per event: its records timestamp (ps), event_id and channel, then the features. */
export const featuresSchema = new Schema(
  [
    new Field('timestamp', new Int64(), false, new Map([['unit', 'ps']])),
    new Field('event_id', new Int64(), false),
    new Field('channel', new Int16(), false),
    new Field('baseline', new Float64(), false),
    new Field('amplitude', new Float64(), false),
    new Field('polarity', new Int8(), false),
    new Field('area', new Float64(), false),
    new Field('peak_time_ns', new Float64(), false),
    new Field('rise_time_ns', new Float64(), false),
  ],
  new Map([['daq.kind', 'table']]),
);

class FeaturesProcessor implements Processor {
  readonly inputs: string[];
  private readonly outName: string;
  private readonly channelSet: Uint8Array | null;
  private counters = { events: 0 };

  constructor(
    readonly name: string,
    private readonly opts: FeaturesOptions,
  ) {
    this.inputs = [opts.stream];
    this.outName = opts.output ?? name;
    if (opts.channels) {
      this.channelSet = new Uint8Array(65536);
      for (const c of opts.channels) this.channelSet[c + 32768] = 1;
    } else this.channelSet = null;
  }

  outputs(inputs: StreamInfo[]): StreamInfo[] {
    findInput(this.name, inputs, this.opts.stream, ['waveform']);
    return [
      {
        name: this.outName,
        kind: 'table',
        schema: featuresSchema,
        lineage: processorLineage(featuresProcessor, this.opts, this.inputs),
        units: { timestamp: 'ps', baseline: 'ADC counts', amplitude: 'ADC counts', area: 'ADC counts*ns', peak_time_ns: 'ns', rise_time_ns: 'ns' },
      },
    ];
  }

  process(sb: StreamBatch): StreamBatch[] {
    if (sb.kind !== 'waveform' || sb.stream !== this.opts.stream) return [];
    const rec = recordColumns(sb.batch);
    const n = sb.batch.numRows;
    // Rows kept (channel filter), as indices into the input.
    let rows: Int32Array;
    if (this.channelSet) {
      const keep = new Int32Array(n);
      let m = 0;
      for (let r = 0; r < n; r++) if (this.channelSet[rec.channel[r]! + 32768]) keep[m++] = r;
      rows = keep.subarray(0, m);
    } else {
      rows = new Int32Array(n);
      for (let r = 0; r < n; r++) rows[r] = r;
    }
    const m = rows.length;
    if (m === 0) return [];
    const f = allocFeatureColumns(m);
    const ts = new BigInt64Array(m);
    const ids = new BigInt64Array(m);
    const ch = new Int16Array(m);
    for (let i = 0; i < m; i++) {
      const r = rows[i]!;
      ts[i] = rec.timestamp[r]!;
      ids[i] = rec.event_id[r]!;
      ch[i] = rec.channel[r]!;
      computeFeatures(sb.samples, Number(rec.wave_offset[r]!), rec.event_length[r]!, rec.dt[r]!, this.opts.baseline_samples, this.opts.polarity, f, i);
    }
    this.counters.events += m;
    const batch = makeBatch(featuresSchema, [ts, ids, ch, f.baseline, f.amplitude, f.polarity, f.area, f.peak_time_ns, f.rise_time_ns]);
    return [{ kind: 'table', stream: this.outName, batch }];
  }

  stats(): Record<string, number> {
    return { ...this.counters };
  }
}

/**
 * Per-event waveform features (baseline, amplitude, polarity, area, peak time, 10–90 % rise
 * time) as a table stream, one row per event ({@link featuresSchema}).
 *
 * @example
 * processors: [{ name: pulses, type: waveform-features, options: { stream: digitizer.ch0, baseline_samples: 32 } }]
 */
export const featuresProcessor = defineProcessor<FeaturesOptions>({
  name: 'waveform-features',
  version: '1.0.0',
  options: featuresOptions,
  create: (options, instance) => new FeaturesProcessor(instance, options),
});
