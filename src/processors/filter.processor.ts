import { z } from 'zod';
import { defineProcessor } from '../plugin.ts';
import type { Processor } from '../pipeline/types.ts';
import type { StreamBatch, StreamInfo } from '../schema/batch.ts';
import { makeScalarBatch, Quality, scalarColumns, scalarSchema } from '../schema/scalar.ts';
import { BiquadBank, FirBank, MovingAverageBank, rbjBiquad } from './filter-bank.ts';
import type { FilterBank } from './filter-bank.ts';
import { int64Words } from './framer.ts';
import { findInput, selectTags } from './input-select.ts';
import { processorLineage } from './lineage.ts';

const filterSpec = z.discriminatedUnion('type', [
  z.object({ type: z.literal('moving-average'), length: z.number().int().min(1).max(1_000_000) }).strict(),
  z.object({ type: z.literal('fir'), taps: z.array(z.number()).min(1).max(65536) }).strict(),
  z
    .object({
      type: z.literal('biquad'),
      mode: z.enum(['lowpass', 'highpass', 'bandpass']),
      /** Cutoff (low/high-pass, −3 dB at q = 1/√2) or centre (band-pass) frequency. */
      cutoff_hz: z.number().positive(),
      q: z.number().positive().default(Math.SQRT1_2),
      /** Sample rate of each tag's series. */
      sample_rate_hz: z.number().positive(),
    })
    .strict()
    .refine((f) => f.cutoff_hz < f.sample_rate_hz / 2, { message: 'cutoff_hz must be below sample_rate_hz / 2', path: ['cutoff_hz'] }),
]);

export const filterOptions = z
  .object({
    /** Scalar input stream. */
    stream: z.string(),
    /** Tags to filter (default: every tag); other tags are not in the output. */
    tags: z.array(z.string()).optional(),
    filter: filterSpec,
    /** Output stream name (default: the processor's instance name). */
    output: z.string().optional(),
  })
  .strict();
export type FilterOptions = z.infer<typeof filterOptions>;

/** Builds the per-slot filter state for a filter spec. */
export function makeFilterBank(spec: FilterOptions['filter'], slots: number): FilterBank {
  switch (spec.type) {
    case 'moving-average':
      return new MovingAverageBank(slots, spec.length);
    case 'fir':
      return new FirBank(slots, Float64Array.from(spec.taps));
    case 'biquad':
      return new BiquadBank(slots, rbjBiquad(spec.mode, spec.cutoff_hz, spec.q, spec.sample_rate_hz));
  }
}

class FilterProcessor implements Processor {
  readonly inputs: string[];
  private readonly outName: string;
  private bank: FilterBank | null = null;
  private slotOf: Int32Array = new Int32Array(0);
  private counters = { rowsIn: 0, rowsOut: 0, passedUnfiltered: 0 };

  constructor(
    readonly name: string,
    private readonly opts: FilterOptions,
  ) {
    this.inputs = [opts.stream];
    this.outName = opts.output ?? name;
  }

  outputs(inputs: StreamInfo[]): StreamInfo[] {
    const info = findInput(this.name, inputs, this.opts.stream, ['scalar']);
    const { slotOf, tagIds } = selectTags(this.name, info, this.opts.tags);
    this.slotOf = slotOf;
    this.bank = makeFilterBank(this.opts.filter, tagIds.length);
    return [
      {
        name: this.outName,
        kind: 'scalar',
        schema: scalarSchema,
        tags: info.tags ?? [],
        lineage: processorLineage(filterProcessor, this.opts, this.inputs),
        units: { ...(info.units ?? {}) },
      },
    ];
  }

  /**
   * Rows of selected tags come out filtered, in input order. A point with a bad quality code or
   * a non-finite value is passed through as is and not fed to the filter state (counted).
   */
  process(sb: StreamBatch): StreamBatch[] {
    if (sb.kind === 'waveform' || sb.stream !== this.opts.stream) return [];
    const cols = scalarColumns(sb.batch);
    const n = sb.batch.numRows;
    const slotOf = this.slotOf;
    const bank = this.bank!;
    const ts = new BigInt64Array(n);
    const tag = new Uint32Array(n);
    const value = new Float64Array(n);
    const quality = new Uint8Array(n);
    const inWords = int64Words(cols.timestampNs);
    const outWords = int64Words(ts);
    let m = 0;
    for (let r = 0; r < n; r++) {
      const t = cols.tag[r]!;
      const slot = t < slotOf.length ? slotOf[t]! : -1;
      if (slot < 0) continue;
      const x = cols.value[r]!;
      const q = cols.quality[r]!;
      outWords[2 * m] = inWords[2 * r]!;
      outWords[2 * m + 1] = inWords[2 * r + 1]!;
      tag[m] = t;
      quality[m] = q;
      if (q === Quality.GOOD && Number.isFinite(x)) {
        value[m] = bank.step(slot, x);
      } else {
        value[m] = x;
        this.counters.passedUnfiltered++;
      }
      m++;
    }
    this.counters.rowsIn += n;
    this.counters.rowsOut += m;
    if (m === 0) return [];
    const batch = makeScalarBatch({ timestampNs: ts.slice(0, m), tag: tag.slice(0, m), value: value.slice(0, m), quality: quality.slice(0, m) });
    return [{ kind: 'scalar', stream: this.outName, batch }];
  }

  stats(): Record<string, number> {
    return { ...this.counters };
  }
}

/**
 * Filters selected tags of a scalar stream (moving average, FIR with given taps, RBJ biquad
 * low/high/band-pass), state carried per tag across batches; outputs a scalar stream with the
 * input's tag table.
 *
 * @example
 * processors: [{ name: smooth, type: filter, options: { stream: plant.tags, filter: { type: moving-average, length: 10 } } }]
 */
export const filterProcessor = defineProcessor<FilterOptions>({
  name: 'filter',
  version: '1.0.0',
  options: filterOptions,
  create: (options, instance) => new FilterProcessor(instance, options),
});
