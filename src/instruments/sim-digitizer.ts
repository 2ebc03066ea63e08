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

/** rel (ps after a generator's base time) stays below this, so doubles hold it exactly. */
const REL_MAX = 2 ** 52;
const REL_MAX_BIG = BigInt(REL_MAX);
const TWO32 = 2 ** 32;

/** A base time (ps, >= 0) as the words event times are built from. */
interface BaseWords {
  /** base's low and high 32-bit words */
  lo: number;
  hi: number;
  /** t0 + floor(base / 1000) (the time column, Unix ns), as words */
  tLo: number;
  tHi: number;
  /** base mod 1000 */
  mod: number;
}

function baseWords(base: bigint, t0UnixNs: bigint): BaseWords {
  const t = BigInt.asUintN(64, t0UnixNs + base / 1000n);
  const b = BigInt.asUintN(64, base);
  return { lo: Number(b & 0xffffffffn), hi: Number(b >> 32n), tLo: Number(t & 0xffffffffn), tHi: Number(t >> 32n), mod: Number(base % 1000n) };
}

/**
 * A pulse of amplitude 1, sample by sample: decay^k - rise^k (exp(-k/decay) - exp(-k/rise), each
 * power made by repeated multiplication, so every event's pulse is exactly amp times these).
 */
function pulseShape(n: number, riseSamples: number, decaySamples: number): Float64Array {
  const shape = new Float64Array(n);
  const kr = Math.exp(-1 / riseSamples);
  const kd = Math.exp(-1 / decaySamples);
  let r = 1;
  let d = 1;
  for (let k = 0; k < n; k++) {
    shape[k] = d - r;
    r *= kr;
    d *= kd;
  }
  return shape;
}

/** Growable columns of one call's events: length, amplitude, and timestamp and time as words. */
class EventList {
  n = 0;
  len: number[] = [];
  amp: number[] = [];
  tsLo: number[] = [];
  tsHi: number[] = [];
  timeLo: number[] = [];
  timeHi: number[] = [];

  /** An event `rel` ps after the base whose words are w (rel < 2^52, an integer). */
  push(len: number, amp: number, w: BaseWords, rel: number): void {
    const i = this.n++;
    this.len[i] = len;
    this.amp[i] = amp;
    // Exact in doubles: every sum below stays under 2^53.
    const lo = w.lo + rel;
    const carry = Math.floor(lo / TWO32);
    this.tsLo[i] = lo - carry * TWO32;
    this.tsHi[i] = (w.hi + carry) % TWO32;
    const x = w.mod + rel;
    const tl = w.tLo + (x - (x % 1000)) / 1000;
    const tc = Math.floor(tl / TWO32);
    this.timeLo[i] = tl - tc * TWO32;
    this.timeHi[i] = (w.tHi + tc) % TWO32;
  }
}

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
    this.quiet = ChannelGenerator.quietTable(this.noise, opts.baseline, opts.noise_sigma);
    // The shape covers the pulse as far as the longest event reaches (a huge decay_samples must
    // not allocate more than an event could use).
    const longest = Math.max(opts.max_length, opts.long_fraction > 0 ? opts.long_length : 0);
    this.pulseEnd = Math.min(opts.pretrigger + Math.ceil(12 * opts.decay_samples), Math.max(opts.pretrigger, longest));
    this.shape = pulseShape(this.pulseEnd - opts.pretrigger, opts.rise_samples, opts.decay_samples);
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
    // Trigger times are kept as `base` (a bigint) plus `rel` ps (a double, exact below 2^52), and
    // each event's timestamp and time are written as 32-bit words: no bigint arithmetic per event.
    const e = this.ev;
    e.n = 0;
    let total = 0;
    let base = this.nextPs;
    let rel = 0;
    let w = baseWords(base, this.t0UnixNs);
    let relEnd = untilPs - base >= REL_MAX_BIG ? REL_MAX : Math.max(0, Number(untilPs - base));
    const longLength = o.long_length;
    const ampMin = o.amplitude_min;
    const ampSpan = o.amplitude_max - o.amplitude_min;
    const deadPerSample = o.dt_ns * 1000;
    const meanGapPs = 1e12 / o.trigger_rate_hz;
    while (rel < relEnd) {
      const len = this.rng.next() < o.long_fraction ? longLength : Math.max(o.min_length, Math.round(Math.exp(this.logMin + this.logSpan * this.rng.next())));
      const amp = ampMin + ampSpan * this.rng.next();
      e.push(len, amp, w, rel);
      total += len;
      const inc = Math.round(len * deadPerSample + this.rng.exp(meanGapPs));
      if (rel + inc < REL_MAX) rel += inc;
      else {
        // Past 2^52 ps from base (a very long gap or call): fold rel into base.
        base += BigInt(rel) + BigInt(inc);
        rel = 0;
        w = baseWords(base, this.t0UnixNs);
        relEnd = untilPs - base >= REL_MAX_BIG ? REL_MAX : Math.max(0, Number(untilPs - base));
      }
    }
    this.nextPs = base + BigInt(rel);
    const n = e.n;
    if (n === 0) return null;
    const cols = allocRecordColumns(n);
    const samples = new Uint16Array(total);
    const tsW = new Uint32Array(cols.timestamp.buffer, cols.timestamp.byteOffset, 2 * n);
    const timeW = new Uint32Array(cols.time.buffer, cols.time.byteOffset, 2 * n);
    const offW = new Uint32Array(cols.wave_offset.buffer, cols.wave_offset.byteOffset, 2 * n);
    const truncFlag = o.long_fraction > 0 ? RecordFlags.TRUNCATED : 0;
    cols.pid.fill(o.board);
    cols.channel.fill(this.channel);
    cols.baseline.fill(o.baseline);
    cols.event_id.fill(-1n); // assigned by the merge
    cols.dt.fill(o.dt_ns);
    cols.trigger_type.fill(1);
    let off = 0;
    for (let i = 0; i < n; i++) {
      const len = e.len[i]!;
      const saturated = this.fillPulse(samples, off, len, e.amp[i]!);
      tsW[2 * i] = e.tsLo[i]!;
      tsW[2 * i + 1] = e.tsHi[i]!;
      timeW[2 * i] = e.timeLo[i]!;
      timeW[2 * i + 1] = e.timeHi[i]!;
      cols.flags[i] = (saturated ? RecordFlags.SATURATED : 0) | (len === longLength ? truncFlag : 0);
      offW[2 * i] = off; // a batch holds fewer than 2^32 samples: the high word stays 0
      cols.event_length[i] = len;
      off += len;
    }
    return { kind: 'waveform', stream, batch: makeRecordsBatch(cols), samples };
  }

  /** The events of the call in progress (reused: no arrays made per call). */
  private readonly ev = new EventList();

  /**
   * baseline + noise as the ADC would store it (clamped to 0..ADC_MAX, truncated), for every entry
   * of the noise table: outside the pulse an event's samples are a run of this table, copied in
   * bulk. Null when an entry saturates (then every sample is computed, to report saturation).
   */
  private readonly quiet: Uint16Array | null;
  /** Where a pulse ends (samples from the event's start; it starts at `pretrigger`), and its shape for amplitude 1. */
  private readonly pulseEnd: number;
  private readonly shape: Float64Array;

  private static quietTable(noise: Float32Array, baseline: number, sigma: number): Uint16Array | null {
    const t = new Uint16Array(noise.length);
    for (let i = 0; i < noise.length; i++) {
      const v = baseline + sigma * noise[i]!;
      if (v >= ADC_MAX) return null;
      t[i] = v < 0 ? 0 : v;
    }
    return t;
  }

  /** samples[at, at + n) = baseline + noise from table entry ni on (wrapping); returns whether one saturated. */
  private fillQuiet(samples: Uint16Array, at: number, n: number, ni: number): boolean {
    const q = this.quiet;
    const noise = this.noise;
    const mask = noise.length - 1;
    // Long runs are copied from the table; short ones computed from the noise (a subarray and a
    // set cost more, and with many channels the table's cache lines would be one more miss each).
    if (q && n >= 64) {
      while (n > 0) {
        const k = Math.min(n, q.length - ni);
        samples.set(q.subarray(ni, ni + k), at);
        at += k;
        n -= k;
        ni = 0;
      }
      return false;
    }
    const baseline = this.opts.baseline;
    const sigma = this.opts.noise_sigma;
    let saturated = false;
    for (let s = 0; s < n; s++) {
      const v = baseline + sigma * noise[ni]!;
      ni = (ni + 1) & mask;
      if (v >= ADC_MAX) {
        samples[at + s] = ADC_MAX;
        saturated = true;
      } else samples[at + s] = v < 0 ? 0 : v;
    }
    return saturated;
  }

  /** Writes baseline + noise + a two-exponential pulse into samples[off, off+len). */
  private fillPulse(samples: Uint16Array, off: number, len: number, amp: number): boolean {
    const o = this.opts;
    const noise = this.noise;
    const mask = noise.length - 1;
    const ni = (this.noiseIdx = (this.noiseIdx + 7919 * len + 1) & mask);
    // Before and after the pulse: baseline + noise, in bulk; the pulse sample by sample.
    const pulseStart = Math.min(len, o.pretrigger);
    const pulseEnd = Math.min(len, this.pulseEnd);
    let saturated = this.fillQuiet(samples, off, pulseStart, ni);
    const baseline = o.baseline;
    const sigma = o.noise_sigma;
    const shape = this.shape;
    let j = (ni + pulseStart) & mask;
    for (let s = pulseStart; s < pulseEnd; s++) {
      const v = baseline + sigma * noise[j]! + amp * shape[s - pulseStart]!;
      j = (j + 1) & mask;
      if (v >= ADC_MAX) {
        samples[off + s] = ADC_MAX;
        saturated = true;
      } else samples[off + s] = v < 0 ? 0 : v;
    }
    if (this.fillQuiet(samples, off + pulseEnd, len - pulseEnd, (ni + pulseEnd) & mask)) saturated = true;
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
