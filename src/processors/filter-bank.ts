/**
 * Per-source filter state in typed arrays (one row of state per slot: a tag or a channel), so
 * filtering carries across batch boundaries and memory does not grow with time. Every filter
 * starts in steady state at its slot's first sample (as if that value had always been there), so
 * a plant reading of 80 °C does not ramp up from 0.
 */
export interface FilterBank {
  /** Filters one sample of `slot` and returns the output. */
  step(slot: number, x: number): number;
}

/** Normalised biquad coefficients (a0 = 1): y = b0·x + b1·x1 + b2·x2 − a1·y1 − a2·y2. */
export interface BiquadCoefficients {
  b0: number;
  b1: number;
  b2: number;
  a1: number;
  a2: number;
}

export type BiquadMode = 'lowpass' | 'highpass' | 'bandpass';

/**
 * RBJ Audio-EQ-Cookbook coefficients. `lowpass`/`highpass`: −3 dB at `f0Hz` when q = 1/√2;
 * `bandpass`: constant 0 dB peak gain at `f0Hz`, bandwidth f0/q.
 */
export function rbjBiquad(mode: BiquadMode, f0Hz: number, q: number, fsHz: number): BiquadCoefficients {
  const w0 = (2 * Math.PI * f0Hz) / fsHz;
  const cos = Math.cos(w0);
  const alpha = Math.sin(w0) / (2 * q);
  const a0 = 1 + alpha;
  let b0: number;
  let b1: number;
  let b2: number;
  if (mode === 'lowpass') {
    b0 = (1 - cos) / 2;
    b1 = 1 - cos;
    b2 = (1 - cos) / 2;
  } else if (mode === 'highpass') {
    b0 = (1 + cos) / 2;
    b1 = -(1 + cos);
    b2 = (1 + cos) / 2;
  } else {
    b0 = alpha;
    b1 = 0;
    b2 = -alpha;
  }
  return { b0: b0 / a0, b1: b1 / a0, b2: b2 / a0, a1: (-2 * cos) / a0, a2: (1 - alpha) / a0 };
}

/** |H(e^{jω})| of a biquad at `fHz`: the theoretical gain tests compare against. */
export function biquadGain(c: BiquadCoefficients, fHz: number, fsHz: number): number {
  const w = (2 * Math.PI * fHz) / fsHz;
  const nr = c.b0 + c.b1 * Math.cos(w) + c.b2 * Math.cos(2 * w);
  const ni = -(c.b1 * Math.sin(w) + c.b2 * Math.sin(2 * w));
  const dr = 1 + c.a1 * Math.cos(w) + c.a2 * Math.cos(2 * w);
  const di = -(c.a1 * Math.sin(w) + c.a2 * Math.sin(2 * w));
  return Math.sqrt((nr * nr + ni * ni) / (dr * dr + di * di));
}

/** Direct-form-I biquads, one state row (x1, x2, y1, y2) per slot. */
export class BiquadBank implements FilterBank {
  private readonly s: Float64Array;
  private readonly started: Uint8Array;
  private readonly dcGain: number;

  constructor(
    slots: number,
    private readonly c: BiquadCoefficients,
  ) {
    this.s = new Float64Array(slots * 4);
    this.started = new Uint8Array(slots);
    this.dcGain = (c.b0 + c.b1 + c.b2) / (1 + c.a1 + c.a2);
  }

  step(slot: number, x: number): number {
    const s = this.s;
    const i = slot * 4;
    if (!this.started[slot]) {
      this.started[slot] = 1;
      s[i] = s[i + 1] = x;
      s[i + 2] = s[i + 3] = x * this.dcGain;
    }
    const c = this.c;
    const y = c.b0 * x + c.b1 * s[i]! + c.b2 * s[i + 1]! - c.a1 * s[i + 2]! - c.a2 * s[i + 3]!;
    s[i + 1] = s[i]!;
    s[i] = x;
    s[i + 3] = s[i + 2]!;
    s[i + 2] = y;
    return y;
  }
}

/** FIR filters y[n] = Σ taps[k]·x[n−k], one ring of history per slot. */
export class FirBank implements FilterBank {
  private readonly hist: Float64Array;
  private readonly pos: Int32Array;
  private readonly started: Uint8Array;
  private readonly n: number;

  constructor(
    slots: number,
    private readonly taps: Float64Array,
  ) {
    this.n = taps.length;
    this.hist = new Float64Array(slots * this.n);
    this.pos = new Int32Array(slots);
    this.started = new Uint8Array(slots);
  }

  step(slot: number, x: number): number {
    const n = this.n;
    const base = slot * n;
    const h = this.hist;
    if (!this.started[slot]) {
      this.started[slot] = 1;
      h.fill(x, base, base + n);
    }
    // Ring: pos is where x[n] goes; x[n-k] sits at pos-k (mod n).
    const p = this.pos[slot]!;
    h[base + p] = x;
    let y = 0;
    const taps = this.taps;
    let j = p;
    for (let k = 0; k < n; k++) {
      y += taps[k]! * h[base + j]!;
      j = j === 0 ? n - 1 : j - 1;
    }
    this.pos[slot] = p + 1 === n ? 0 : p + 1;
    return y;
  }
}

/**
 * Moving averages of the last `length` samples with a running sum (O(1) per sample), re-summed
 * once per ring turn so rounding does not drift.
 */
export class MovingAverageBank implements FilterBank {
  private readonly hist: Float64Array;
  private readonly sum: Float64Array;
  private readonly pos: Int32Array;
  private readonly started: Uint8Array;

  constructor(
    slots: number,
    private readonly length: number,
  ) {
    this.hist = new Float64Array(slots * length);
    this.sum = new Float64Array(slots);
    this.pos = new Int32Array(slots);
    this.started = new Uint8Array(slots);
  }

  step(slot: number, x: number): number {
    const n = this.length;
    const base = slot * n;
    const h = this.hist;
    if (!this.started[slot]) {
      this.started[slot] = 1;
      h.fill(x, base, base + n);
      this.sum[slot] = x * n;
    }
    const p = this.pos[slot]!;
    let sum = this.sum[slot]! - h[base + p]! + x;
    h[base + p] = x;
    const next = p + 1 === n ? 0 : p + 1;
    if (next === 0) {
      sum = 0;
      for (let k = 0; k < n; k++) sum += h[base + k]!;
    }
    this.sum[slot] = sum;
    this.pos[slot] = next;
    return sum / n;
  }
}
