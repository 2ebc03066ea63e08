/**
 * Deterministic random numbers for the simulators. `hash32` is a counter-based generator
 * (a 32-bit integer hash of (seed, a, b)), so a value depends only on its coordinates and not on
 * how the work was split into batches; `Xorshift` is a fast sequential stream for per-event draws.
 */
export function hash32(seed: number, a: number, b: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ a, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h ^ b, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x27d4eb2f);
  h ^= h >>> 15;
  return h >>> 0;
}

/** Uniform in [0, 1) from the counter-based hash. */
export function hashUnit(seed: number, a: number, b: number): number {
  return hash32(seed, a, b) / 4294967296;
}

/** xorshift128+ on 32-bit halves: a fast seeded sequence. */
export class Xorshift {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    this.s0 = hash32(seed, 1, 0) | 1;
    this.s1 = hash32(seed, 2, 0);
    this.s2 = hash32(seed, 3, 0);
    this.s3 = hash32(seed, 4, 0);
  }

  /** Uniform uint32. */
  nextU32(): number {
    const t = this.s0 ^ (this.s0 << 11);
    this.s0 = this.s1;
    this.s1 = this.s2;
    this.s2 = this.s3;
    this.s3 = (this.s3 ^ (this.s3 >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
    return this.s3;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Exponential with the given mean. */
  exp(mean: number): number {
    return -Math.log(1 - this.next()) * mean;
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

/** A table of standard-normal values, so per-sample noise is a table lookup, not a log/cos. */
export function normalTable(seed: number, size = 1 << 16): Float32Array {
  const rng = new Xorshift(seed);
  const t = new Float32Array(size);
  for (let i = 0; i < size; i++) t[i] = rng.normal();
  return t;
}
