import FFT from 'fft.js';

/** Window functions offered by the FFT processor. */
export type WindowKind = 'hann' | 'hamming' | 'rect';

/**
 * Periodic window of length n (the DFT-even form used for spectral analysis):
 * Hann 0.5 − 0.5·cos(2πi/n), Hamming 0.54 − 0.46·cos(2πi/n), rect 1.
 */
export function makeWindow(kind: WindowKind, n: number): Float64Array {
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const c = Math.cos((2 * Math.PI * i) / n);
    w[i] = kind === 'hann' ? 0.5 - 0.5 * c : kind === 'hamming' ? 0.54 - 0.46 * c : 1;
  }
  return w;
}

/** True for 2, 4, 8, ... (fft.js needs a power of two, at least 2). */
export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n >= 2 && (n & (n - 1)) === 0;
}

/**
 * One-sided amplitude spectrum of real frames, scaled by the window's coherent gain so that a
 * sine of amplitude A whose frequency sits on bin k reads `amplitude[k] = A` whatever the window:
 * `amplitude[k] = 2·|X[k]| / Σw` for 0 < k < N/2, and `|X[k]| / Σw` for k = 0 (DC, reads the mean)
 * and k = N/2 (Nyquist). `power[k]` is the mean square of that component: `amplitude²/2` for
 * 0 < k < N/2 and `amplitude²` at DC and Nyquist (units: input unit squared). Between bins, the
 * reading drops by the window's scalloping loss (up to 36 % rect, 15 % Hann).
 */
export class SpectrumComputer {
  readonly size: number;
  readonly bins: number;
  private readonly fft: FFT;
  private readonly window: Float64Array;
  private readonly gain: number;
  private readonly input: Float64Array;
  private readonly out: Float64Array;

  constructor(size: number, window: WindowKind) {
    this.size = size;
    this.bins = size / 2 + 1;
    this.fft = new FFT(size);
    this.window = makeWindow(window, size);
    let s = 0;
    for (let i = 0; i < size; i++) s += this.window[i]!;
    this.gain = s;
    this.input = new Float64Array(size);
    this.out = new Float64Array(2 * size);
  }

  /**
   * Spectrum of `frame[0 .. size)` (shorter frames are zero-padded) into `amplitude[at ..]` and
   * `power[at ..]`, `bins` values each. `removeMean` subtracts the frame mean first.
   */
  compute(frame: ArrayLike<number>, length: number, removeMean: boolean, amplitude: Float64Array, power: Float64Array, at: number): void {
    const n = this.size;
    const m = Math.min(length, n);
    let mean = 0;
    if (removeMean && m > 0) {
      for (let i = 0; i < m; i++) mean += frame[i]!;
      mean /= m;
    }
    const x = this.input;
    const w = this.window;
    for (let i = 0; i < m; i++) x[i] = (frame[i]! - mean) * w[i]!;
    x.fill(0, m);
    this.fft.realTransform(this.out, x);
    const out = this.out;
    const half = n / 2;
    for (let k = 0; k <= half; k++) {
      const re = out[2 * k]!;
      const im = out[2 * k + 1]!;
      const edge = k === 0 || k === half;
      const a = ((edge ? 1 : 2) * Math.sqrt(re * re + im * im)) / this.gain;
      amplitude[at + k] = a;
      power[at + k] = edge ? a * a : (a * a) / 2;
    }
  }
}
