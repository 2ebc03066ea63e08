import { z } from 'zod';
import { defineInstrument } from '../plugin.ts';
import { makeScalarBatch, Quality, scalarSchema } from '../schema/scalar.ts';
import type { TagInfo, TagTable } from '../schema/scalar.ts';
import type { StreamBatch } from '../schema/batch.ts';
import { hash32, hashUnit } from './rng.ts';
import { pace } from './pace.ts';

export const simScalarOptions = z
  .object({
    /** Number of tags, 1 .. 1,000,000. */
    tags: z.number().int().min(1).max(1_000_000).default(200),
    /** Samples per second per tag. */
    rate_hz: z.number().positive().max(1_000_000).default(10),
    /** Most rows per emitted batch (the last batch before a stop may be shorter). */
    batch_rows: z.number().int().min(1).max(4_000_000).default(65536),
    /** Most simulated time per batch, ms: at low rates batches are cut by time so live views stay fresh. */
    batch_ms: z.number().positive().default(100),
    /** Fraction of points with a bad quality code. */
    bad_quality_fraction: z.number().min(0).max(1).default(0.001),
    /** Pace to the wall clock (true) or emit as fast as the pipeline accepts (false, for benchmarks). */
    realtime: z.boolean().default(true),
    /** Tag name prefix; tag i is `<prefix><i>`. */
    tag_prefix: z.string().default('tag'),
  })
  .strict();
export type SimScalarOptions = z.infer<typeof simScalarOptions>;

/** Tag models, picked per tag from the seed. */
const MODELS = ['drift', 'sine', 'step', 'noise'] as const;
const UNITS = ['degC', 'bar', 'm3/h', 'kW', 'V', 'A', '%'];

/**
 * Tag table of a sim-scalar instance (the same for a given option set), computed on demand: tag i
 * is `<tag_prefix><i>`, unit `UNITS[i % 7]`, float64. No object per tag is held (at 1M tags an
 * array of objects costs ~90 MB of heap); readers get one when they ask.
 */
export class SimTagTable implements TagTable {
  constructor(
    readonly prefix: string,
    readonly length: number,
  ) {}

  at(i: number): TagInfo {
    return { id: i, name: `${this.prefix}${i}`, unit: UNITS[i % UNITS.length]!, type: 'float64' };
  }

  *[Symbol.iterator](): Iterator<TagInfo> {
    for (let i = 0; i < this.length; i++) yield this.at(i);
  }

  map<U>(fn: (tag: TagInfo, index: number) => U): U[] {
    const out = new Array<U>(this.length);
    for (let i = 0; i < this.length; i++) out[i] = fn(this.at(i), i);
    return out;
  }

  /** As Array.prototype.slice (negative bounds count from the end). */
  slice(start = 0, end = this.length): TagInfo[] {
    const n = this.length;
    const a = start < 0 ? Math.max(0, n + start) : Math.min(start, n);
    const b = end < 0 ? Math.max(0, n + end) : Math.min(end, n);
    const out: TagInfo[] = [];
    for (let i = a; i < b; i++) out.push(this.at(i));
    return out;
  }

  /** JSON.stringify writes the table as the array it stands for. */
  toJSON(): TagInfo[] {
    return this.slice();
  }
}

export function simScalarTags(opts: SimScalarOptions): SimTagTable {
  return new SimTagTable(opts.tag_prefix, opts.tags);
}

/**
 * Scalar generator. Tag i samples at t0 + k·P + i·P/N (P = 1/rate), so the points of all tags
 * form one time-ordered sequence g = k·N + i and the load is spread evenly over each period (no
 * moment where every tag reports at once). Point values depend only on (seed, tag, k), so content
 * is independent of batch boundaries and timing; drift uses per-tag state in typed arrays.
 */
export class ScalarGenerator {
  readonly n: number;
  readonly periodNs: number;
  private readonly model: Uint8Array;
  private readonly base: Float64Array;
  private readonly amp: Float64Array;
  private readonly freqHz: Float64Array;
  private readonly seed: number;
  /** Next global point index. */
  next = 0;

  constructor(
    private readonly opts: SimScalarOptions,
    seed: number,
    private readonly t0UnixNs: bigint,
  ) {
    this.seed = seed >>> 0;
    this.n = opts.tags;
    this.periodNs = 1e9 / opts.rate_hz;
    this.model = new Uint8Array(this.n);
    this.base = new Float64Array(this.n);
    this.amp = new Float64Array(this.n);
    this.freqHz = new Float64Array(this.n);
    for (let i = 0; i < this.n; i++) {
      this.model[i] = hash32(this.seed, i, 0xa1) % MODELS.length;
      this.base[i] = 10 + 90 * hashUnit(this.seed, i, 0xa2);
      this.amp[i] = 0.5 + 5 * hashUnit(this.seed, i, 0xa3);
      this.freqHz[i] = 0.01 + 0.5 * hashUnit(this.seed, i, 0xa4);
    }
  }

  /** Time offset from t0 (ns, float) of global point g. */
  timeOffsetNs(g: number): number {
    const k = Math.floor(g / this.n);
    const i = g - k * this.n;
    return k * this.periodNs + (i * this.periodNs) / this.n;
  }

  /** Generates points [next, next + rows) into a new batch. */
  generate(rows: number, stream: string): StreamBatch {
    const ts = new BigInt64Array(rows);
    const tag = new Uint32Array(rows);
    const value = new Float64Array(rows);
    const quality = new Uint8Array(rows);
    const n = this.n;
    const seed = this.seed;
    const badCut = this.opts.bad_quality_fraction * 4294967296;
    let g = this.next;
    let k = Math.floor(g / n);
    let i = g - k * n;
    // t0 + offset written as two 32-bit words: no BigInt per point (offsets are < 2^53 ns).
    const tw = new Uint32Array(ts.buffer, ts.byteOffset, rows * 2);
    const t0Lo = Number(BigInt.asUintN(32, this.t0UnixNs));
    const t0Hi = Number(BigInt.asUintN(32, this.t0UnixNs >> 32n));
    for (let r = 0; r < rows; r++, g++) {
      const tOff = k * this.periodNs + (i * this.periodNs) / n;
      const off = Math.round(tOff);
      const offHi = Math.floor(off / 4294967296);
      const lo = t0Lo + (off - offHi * 4294967296);
      const carry = lo >= 4294967296 ? 1 : 0;
      tw[2 * r] = lo - carry * 4294967296;
      tw[2 * r + 1] = (t0Hi + offHi + carry) >>> 0;
      tag[r] = i;
      const tS = tOff * 1e-9;
      const h = hash32(seed, i, k);
      const noise = (h / 4294967296 - 0.5) * 0.02 * this.amp[i]!;
      let v: number;
      switch (this.model[i]) {
        case 0: // drift: slow deterministic wander (sum of two incommensurate sines) plus noise
          v = this.base[i]! + this.amp[i]! * (Math.sin(0.013 * tS + i) + 0.5 * Math.sin(0.0071 * tS * (1 + (i % 7)))) + noise;
          break;
        case 1: // sine
          v = this.base[i]! + this.amp[i]! * Math.sin(2 * Math.PI * this.freqHz[i]! * tS) + noise;
          break;
        case 2: // step: a setpoint that changes every ~50 samples
          v = this.base[i]! + this.amp[i]! * ((hash32(seed, i, Math.floor(k / 50) + 0x5000) % 5) - 2) + noise;
          break;
        default: // noise
          v = this.base[i]! + 10 * noise;
      }
      value[r] = v;
      const hq = hash32(seed ^ 0x51, i, k);
      quality[r] = hq < badCut ? 1 + (hq % 5) : Quality.GOOD;
      if (++i === n) {
        i = 0;
        k++;
      }
    }
    this.next = g;
    return { kind: 'scalar', stream, batch: makeScalarBatch({ timestampNs: ts, tag, value, quality }) };
  }
}

/** Simulated plant tags: drifts, sines, steps and noise, with occasional bad-quality codes. */
export const simScalar = defineInstrument<SimScalarOptions>({
  name: 'sim-scalar',
  version: '1.0.0',
  options: simScalarOptions,
  streams(opts, instance) {
    return [{ name: `${instance}.tags`, kind: 'scalar', schema: scalarSchema, tags: simScalarTags(opts), units: { timestamp_ns: 'ns' } }];
  },
  async *run(opts, ctx, instance) {
    const gen = new ScalarGenerator(opts, ctx.seed, ctx.sessionStartUnixNs);
    const stream = `${instance}.tags`;
    const startMs = Number(ctx.sessionStartUnixNs / 1_000_000n);
    const rows = batchRows(opts);
    while (!ctx.signal.aborted) {
      if (opts.realtime) {
        const dueMs = startMs + gen.timeOffsetNs(gen.next + rows - 1) / 1e6;
        if (!(await pace(dueMs, ctx.signal))) {
          // Stopped while waiting: emit what is already due, so a stop loses no real-time points.
          const dueRows = dueRowsAt(gen, Date.now() - startMs, rows);
          if (dueRows > 0) yield gen.generate(dueRows, stream);
          return;
        }
      }
      yield gen.generate(rows, stream);
    }
  },
});

/** Rows per batch: `batch_rows`, or fewer so that one batch spans at most `batch_ms`. */
export function batchRows(opts: SimScalarOptions): number {
  return Math.max(1, Math.min(opts.batch_rows, Math.round((opts.tags * opts.rate_hz * opts.batch_ms) / 1000)));
}

function dueRowsAt(gen: ScalarGenerator, elapsedMs: number, max: number): number {
  let lo = 0;
  let hi = max;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (gen.timeOffsetNs(gen.next + mid - 1) / 1e6 <= elapsedMs) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
