import { z } from 'zod';
import { defineInstrument } from '../plugin.ts';
import { allocRecordColumns, makeRecordsBatch, recordsSchema, RecordFlags } from '../schema/waveform.ts';
import type { WaveBatch } from '../schema/batch.ts';
import { hash32, normalTable, Xorshift } from './rng.ts';
import { pace } from './pace.ts';

export const simDigitizerOptions = z
  .object({
    /** Number of channels; each is its own stream `<instance>.ch<c>`. */
    channels: z.number().int().min(1).max(64).default(4),
    /** Board / acquisition part id written to `pid`. */
    board: z.number().int().min(0).default(0),
    /** Mean trigger rate per channel (Poisson), events/s. */
    trigger_rate_hz: z.number().positive().max(10_000_000).default(200),
    /** Sample interval in ns (e.g. 4 for 250 MS/s). */
    dt_ns: z.number().int().positive().default(4),
    /** Event lengths are log-uniform between these (samples). */
    min_length: z.number().int().min(1).default(32),
    max_length: z.number().int().min(1).default(20_000),
    /** Fraction of events that are very long (`long_length` samples). */
    long_fraction: z.number().min(0).max(1).default(0.001),
    long_length: z.number().int().min(1).max(50_000_000).default(200_000),
    /** Baseline (ADC counts) and noise sigma. */
    baseline: z.number().min(0).max(16383).default(1000),
    noise_sigma: z.number().min(0).default(3),
    /** Pulse amplitude range (ADC counts) and time constants (samples). */
    amplitude_min: z.number().default(50),
    amplitude_max: z.number().default(8000),
    rise_samples: z.number().positive().default(4),
    decay_samples: z.number().positive().default(40),
    /** Samples before the pulse starts. */
    pretrigger: z.number().int().min(0).default(16),
    /** Simulated time covered by one batch per channel, ms. */
    batch_ms: z.number().positive().default(50),
    /** Pace to the wall clock (true) or as fast as the pipeline accepts (false). */
    realtime: z.boolean().default(true),
  })
  .strict()
  .refine((o) => o.max_length >= o.min_length, { message: 'max_length must be >= min_length', path: ['max_length'] });
export type SimDigitizerOptions = z.infer<typeof simDigitizerOptions>;

const ADC_MAX = 16383;

/**
 * One channel's event generator. Triggers form a Poisson process with the channel dead while an
 * event is recorded, so events of a channel never overlap and come out sorted by timestamp.
 */
export class ChannelGenerator {
  private readonly rng: Xorshift;
  private readonly noise: Float32Array;
  private noiseIdx = 0;
  /** Next trigger time, ps from the run origin. */
  private nextPs: bigint;
  private readonly logMin: number;
  private readonly logSpan: number;

  constructor(
    private readonly opts: SimDigitizerOptions,
    seed: number,
    readonly channel: number,
    private readonly t0UnixNs: bigint,
    /** Where this generator's clock starts, in ps from `t0UnixNs` (a continued run's session start). */
    startPs = 0n,
  ) {
    this.rng = new Xorshift(hash32(seed, 0xd161, channel));
    this.noise = normalTable(hash32(seed, 0x4015e, channel));
    this.logMin = Math.log(opts.min_length);
    this.logSpan = Math.log(opts.max_length) - this.logMin;
    this.nextPs = startPs + BigInt(Math.round(this.rng.exp(1e12 / opts.trigger_rate_hz)));
  }

  /** Time of the next trigger (ps): no event of this channel will come before it. */
  get nextTriggerPs(): bigint {
    return this.nextPs;
  }

  /** Generates every event whose trigger lies before `untilPs`; null when there is none. */
  generate(untilPs: bigint, stream: string): WaveBatch | null {
    const o = this.opts;
        // Every draw happens here, in event order, so content does not depend on how time is split.
    const times: bigint[] = [];
    const lengths: number[] = [];
    const amps: number[] = [];
    let total = 0;
    while (this.nextPs < untilPs) {
      const len = this.rng.next() < o.long_fraction
        ? o.long_length
        : Math.max(o.min_length, Math.round(Math.exp(this.logMin + this.logSpan * this.rng.next())));
      times.push(this.nextPs);
      lengths.push(len);
      amps.push(o.amplitude_min + (o.amplitude_max - o.amplitude_min) * this.rng.next());
      total += len;
      const deadPs = len * o.dt_ns * 1000;
      this.nextPs += BigInt(Math.round(deadPs + this.rng.exp(1e12 / o.trigger_rate_hz)));
    }
    const n = times.length;
    if (n === 0) return null;
    const cols = allocRecordColumns(n);
    const samples = new Uint16Array(total);
    let off = 0;
    for (let e = 0; e < n; e++) {
      const len = lengths[e]!;
      const saturated = this.fillPulse(samples, off, len, amps[e]!);
      cols.timestamp[e] = times[e]!;
      cols.pid[e] = o.board;
      cols.channel[e] = this.channel;
      cols.baseline[e] = o.baseline;
      cols.event_id[e] = -1n; // assigned by the merge
      cols.dt[e] = o.dt_ns;
      cols.trigger_type[e] = 1;
      cols.flags[e] = (saturated ? RecordFlags.SATURATED : 0) | (len === o.long_length && o.long_fraction > 0 ? RecordFlags.TRUNCATED : 0);
      cols.wave_offset[e] = BigInt(off);
      cols.event_length[e] = len;
      cols.time[e] = this.t0UnixNs + times[e]! / 1000n;
      off += len;
    }
    return { kind: 'waveform', stream, batch: makeRecordsBatch(cols), samples };
  }

  /** Writes baseline + noise + a two-exponential pulse into samples[off, off+len). */
  private fillPulse(samples: Uint16Array, off: number, len: number, amp: number): boolean {
    const o = this.opts;
    const noise = this.noise;
    const mask = noise.length - 1;
    let ni = (this.noiseIdx = (this.noiseIdx + 7919 * len + 1) & mask);
    const pulseEnd = Math.min(len, o.pretrigger + Math.ceil(12 * o.decay_samples));
    const kr = Math.exp(-1 / o.rise_samples);
    const kd = Math.exp(-1 / o.decay_samples);
    let r = 1;
    let d = 1;
    let saturated = false;
    for (let s = 0; s < len; s++) {
      let v = o.baseline + o.noise_sigma * noise[ni]!;
      ni = (ni + 1) & mask;
      if (s >= o.pretrigger && s < pulseEnd) {
        v += amp * (d - r);
        r *= kr;
        d *= kd;
      }
      if (v >= ADC_MAX) {
        v = ADC_MAX;
        saturated = true;
      } else if (v < 0) {
        v = 0;
      }
      samples[off + s] = v;
    }
    return saturated;
  }
}

function emptyWaveBatch(stream: string): WaveBatch {
  return { kind: 'waveform', stream, batch: makeRecordsBatch(allocRecordColumns(0)), samples: new Uint16Array(0) };
}

/** Simulated digitizer: Poisson triggers, pulses on a noisy baseline, 14-bit samples, ps timestamps. */
export const simDigitizer = defineInstrument<SimDigitizerOptions>({
  name: 'sim-digitizer',
  version: '1.0.0',
  options: simDigitizerOptions,
  streams(opts, instance) {
    const out = [];
    for (let c = 0; c < opts.channels; c++) {
      out.push({
        name: `${instance}.ch${c}`,
        kind: 'waveform' as const,
        schema: recordsSchema,
        channels: [c],
        dtNs: opts.dt_ns,
      });
    }
    return out;
  },
  async *run(opts, ctx, instance) {
    // Timestamps count ps from the run's origin; a continued run's session starts later on that
    // clock, so its events come after every earlier session's.
    const sessionPs = (ctx.sessionStartUnixNs - ctx.t0UnixNs) * 1000n;
    const gens = Array.from({ length: opts.channels }, (_, c) => new ChannelGenerator(opts, ctx.seed, c, ctx.t0UnixNs, sessionPs));
    const startMs = Number(ctx.t0UnixNs / 1_000_000n);
    const stepPs = BigInt(Math.round(opts.batch_ms * 1e9));
    let untilPs = sessionPs + stepPs;
    while (!ctx.signal.aborted) {
      if (opts.realtime && !(await pace(startMs + Number(untilPs / 1_000_000_000n), ctx.signal))) {
        // Stopped while waiting: emit the part of the interval that is already past.
        untilPs = BigInt(Date.now() - startMs) * 1_000_000_000n;
      }
      for (const g of gens) {
        // Every interval, even an empty one, tells a merge that nothing earlier will come.
        const wb = g.generate(untilPs, `${instance}.ch${g.channel}`) ?? emptyWaveBatch(`${instance}.ch${g.channel}`);
        wb.watermarkPs = g.nextTriggerPs;
        yield wb;
      }
      untilPs += stepPs;
    }
  },
});
