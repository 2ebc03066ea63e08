import { Field, Float64, Int32, Int64, Schema } from 'apache-arrow';
import { z } from 'zod';
import { defineProcessor } from '../plugin.ts';
import type { Processor } from '../pipeline/types.ts';
import type { StreamBatch, StreamInfo } from '../schema/batch.ts';
import { scalarColumns } from '../schema/scalar.ts';
import { recordColumns } from '../schema/waveform.ts';
import { Framer, int64Offset, int64Words, splitInt64 } from './framer.ts';
import { findInput, selectTags } from './input-select.ts';
import { processorLineage } from './lineage.ts';
import { isPowerOfTwo, SpectrumComputer } from './spectrum.ts';
import { TableBuilder } from './table-builder.ts';

export const fftOptions = z
  .object({
    /** Input stream: scalar (per selected tag) or waveform. */
    stream: z.string(),
    /** Scalar input: tag names to analyse (default: every tag). */
    tags: z.array(z.string()).optional(),
    /** Waveform input: channels to analyse (default: all). */
    channels: z.array(z.number().int()).optional(),
    /** Waveform input: frames within each event (`event`), or each channel's waveforms as one series (`channel`). */
    mode: z.enum(['event', 'channel']).default('event'),
    /** Samples per frame, a power of two. */
    frame_size: z.number().int().refine(isPowerOfTwo, 'must be a power of two ≥ 2').default(1024),
    /** Fraction of a frame shared with the next one, 0 ≤ overlap < 1. */
    overlap: z.number().min(0).lt(1).default(0.5),
    window: z.enum(['hann', 'hamming', 'rect']).default('hann'),
    /** Scalar input: sample rate; default: estimated per frame from its timestamps. */
    sample_rate_hz: z.number().positive().optional(),
    /** Subtract each frame's mean before the transform. */
    remove_mean: z.boolean().default(false),
    /** Output stream name (default: the processor's instance name). */
    output: z.string().optional(),
  })
  .strict();
export type FftOptions = z.infer<typeof fftOptions>;

/**
 * Output of the FFT processor, long format: one row per (frame, source, bin), plain numeric
 * columns (stored directly as `/tables/<stream>/<col>`). `t_ns` is the frame's first sample time:
 * Unix ns for scalar input, run-clock ns (timestamp ps / 1000 + offset) for waveform input.
 * `source` is the tag id or the channel. See {@link SpectrumComputer} for the scaling.
 */
export const fftSchema = new Schema(
  [
    new Field('t_ns', new Int64(), false),
    new Field('source', new Int32(), false),
    new Field('freq_hz', new Float64(), false),
    new Field('amplitude', new Float64(), false),
    new Field('power', new Float64(), false),
  ],
  new Map([['daq.kind', 'table']]),
);

const COLS = [BigInt64Array, Int32Array, Float64Array, Float64Array, Float64Array];

class FftProcessor implements Processor {
  readonly inputs: string[];
  private readonly spectrum: SpectrumComputer;
  private readonly hop: number;
  private readonly out: TableBuilder;
  private readonly outName: string;
  private framer: Framer | null = null;
  private slotOf: Int32Array = new Int32Array(0);
  private sourceOf: Int32Array = new Int32Array(0);
  private ref: bigint | null = null;
  private counters = { frames: 0, rows: 0, skippedEvents: 0 };

  constructor(
    readonly name: string,
    private readonly opts: FftOptions,
  ) {
    this.inputs = [opts.stream];
    this.spectrum = new SpectrumComputer(opts.frame_size, opts.window);
    this.hop = Math.max(1, Math.round(opts.frame_size * (1 - opts.overlap)));
    this.out = new TableBuilder(fftSchema, COLS, 4096);
    this.outName = opts.output ?? name;
  }

  outputs(inputs: StreamInfo[]): StreamInfo[] {
    const info = findInput(this.name, inputs, this.opts.stream, ['scalar', 'waveform']);
    if (info.kind === 'scalar') {
      const { slotOf, tagIds } = selectTags(this.name, info, this.opts.tags);
      this.slotOf = slotOf;
      this.sourceOf = Int32Array.from(tagIds);
      this.framer = new Framer(tagIds.length, this.opts.frame_size, this.hop);
    } else {
      // Channel (int16) + 32768 -> slot; -1 = not analysed.
      this.slotOf = new Int32Array(65536).fill(-1);
      const chans = this.opts.channels ?? info.channels ?? [];
      const all = this.opts.channels === undefined;
      this.sourceOf = Int32Array.from(chans);
      chans.forEach((c, slot) => (this.slotOf[c + 32768] = slot));
      this.allChannels = all;
      if (this.opts.mode === 'channel') this.framer = new Framer(65536, this.opts.frame_size, this.hop);
    }
    return [
      {
        name: this.outName,
        kind: 'table',
        schema: fftSchema,
        lineage: processorLineage(fftProcessor, this.opts, this.inputs),
        units: { t_ns: 'ns', freq_hz: 'Hz', amplitude: 'input unit (peak)', power: 'input unit^2 (mean square)' },
      },
    ];
  }

  private allChannels = false;

  process(sb: StreamBatch): StreamBatch[] {
    if (sb.stream !== this.opts.stream) return [];
    if (sb.kind === 'waveform') this.processWaves(sb.batch, sb.samples);
    else this.processScalars(sb.batch);
    const batch = this.out.take();
    return batch ? [{ kind: 'table', stream: this.outName, batch }] : [];
  }

  stats(): Record<string, number> {
    return { ...this.counters };
  }

  private emitFrame(frame: ArrayLike<number>, length: number, tNs: bigint, source: number, fs: number): void {
    const bins = this.spectrum.bins;
    const at = this.out.reserve(bins);
    const [t, src, freq, amp, pow] = this.out.cols as [BigInt64Array, Int32Array, Float64Array, Float64Array, Float64Array];
    this.spectrum.compute(frame, length, this.opts.remove_mean, amp, pow, at);
    const df = fs / this.spectrum.size;
    t.fill(tNs, at, at + bins);
    src.fill(source, at, at + bins);
    for (let k = 0; k < bins; k++) freq[at + k] = k * df;
    this.counters.frames++;
    this.counters.rows += bins;
  }

  private processScalars(batch: StreamBatch['batch']): void {
    const cols = scalarColumns(batch);
    const n = batch.numRows;
    if (n === 0) return;
    this.ref ??= cols.timestampNs[0]!;
    const { hi, lo } = splitInt64(this.ref);
    const words = int64Words(cols.timestampNs);
    const framer = this.framer!;
    const size = framer.size;
    for (let r = 0; r < n; r++) {
      const tag = cols.tag[r]!;
      const slot = tag < this.slotOf.length ? this.slotOf[tag]! : -1;
      if (slot < 0) continue;
      if (!framer.push(slot, cols.value[r]!, int64Offset(words, r, hi, lo))) continue;
      const times = framer.frameTimes(slot);
      const fs = this.opts.sample_rate_hz ?? ((size - 1) * 1e9) / (times[size - 1]! - times[0]!);
      this.emitFrame(framer.frameValues(slot), size, this.ref + BigInt(Math.round(times[0]!)), this.sourceOf[slot]!, fs);
      framer.advance(slot);
    }
  }

  private processWaves(batch: StreamBatch['batch'], samples: Uint16Array): void {
    const rec = recordColumns(batch);
    const size = this.spectrum.size;
    for (let r = 0; r < batch.numRows; r++) {
      const ch = rec.channel[r]!;
      let slot = this.slotOf[ch + 32768]!;
      if (slot < 0) {
        if (!this.allChannels) continue;
        slot = this.addChannel(ch);
      }
      const off = Number(rec.wave_offset[r]!);
      const len = rec.event_length[r]!;
      const dt = rec.dt[r]!;
      const fs = 1e9 / dt;
      const tsNs = rec.timestamp[r]! / 1000n;
      if (this.opts.mode === 'event') {
        if (len === 0) {
          this.counters.skippedEvents++;
          continue;
        }
        for (let s = 0; s === 0 || s + size <= len; s += this.hop) {
          this.emitFrame(samples.subarray(off + s, off + Math.min(len, s + size)), Math.min(size, len - s), tsNs + BigInt(s * dt), ch, fs);
        }
      } else {
        const framer = this.framer!;
        this.ref ??= tsNs;
        const base = Number(tsNs - this.ref);
        for (let j = 0; j < len; j++) {
          if (!framer.push(slot, samples[off + j]!, base + j * dt)) continue;
          this.emitFrame(framer.frameValues(slot), size, this.ref + BigInt(Math.round(framer.frameTimes(slot)[0]!)), ch, fs);
          framer.advance(slot);
        }
      }
    }
  }

  private addChannel(ch: number): number {
    const slot = this.sourceOf.length;
    const next = new Int32Array(slot + 1);
    next.set(this.sourceOf);
    next[slot] = ch;
    this.sourceOf = next;
    this.slotOf[ch + 32768] = slot;
    return slot;
  }
}

/**
 * Windowed FFT (Hann / Hamming / rect) over a scalar tag's value series or over waveforms, per
 * event or per channel; outputs the one-sided amplitude and power spectrum per frame as a table
 * stream in long format ({@link fftSchema}).
 *
 * @example
 * processors: [{ name: vib-fft, type: fft, options: { stream: plant.tags, tags: [tag3], frame_size: 256 } }]
 */
export const fftProcessor = defineProcessor<FftOptions>({
  name: 'fft',
  version: '1.0.0',
  options: fftOptions,
  create: (options, instance) => new FftProcessor(instance, options),
});
