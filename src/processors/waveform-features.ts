/** Which way a pulse goes from its baseline. `auto`: the larger deviation of the two. */
export type Polarity = 'positive' | 'negative' | 'auto';

/** Feature columns, one row per event (struct of arrays). */
export interface FeatureColumns {
  baseline: Float64Array;
  /** Largest deviation from the baseline in the pulse direction (≥ 0), ADC counts. */
  amplitude: Float64Array;
  /** +1 or −1: the direction the amplitude was measured in. */
  polarity: Int8Array;
  /** Σ (sample − baseline) · dt over the whole event, ADC counts · ns (signed). */
  area: Float64Array;
  /** Time of the extreme sample from the event start, ns. */
  peak_time_ns: Float64Array;
  /** 10 % → 90 % of amplitude on the leading edge, linearly interpolated, ns (NaN if undefined). */
  rise_time_ns: Float64Array;
}

/** Allocates feature columns for n events. */
export function allocFeatureColumns(n: number): FeatureColumns {
  return {
    baseline: new Float64Array(n),
    amplitude: new Float64Array(n),
    polarity: new Int8Array(n),
    area: new Float64Array(n),
    peak_time_ns: new Float64Array(n),
    rise_time_ns: new Float64Array(n),
  };
}

/**
 * Computes the features of one event `samples[off, off + len)` with sample interval `dtNs` into
 * row `row` of `out`. Baseline: mean of the first `baselineSamples` samples (all if fewer).
 * Rise time: walking back from the peak, the last crossings of 90 % and 10 % of the amplitude
 * (interpolated between samples); NaN when the pulse never falls below 10 % before its peak.
 */
export function computeFeatures(
  samples: Uint16Array,
  off: number,
  len: number,
  dtNs: number,
  baselineSamples: number,
  polarity: Polarity,
  out: FeatureColumns,
  row: number,
): void {
  if (len <= 0) {
    out.baseline[row] = NaN;
    out.amplitude[row] = 0;
    out.polarity[row] = 1;
    out.area[row] = 0;
    out.peak_time_ns[row] = NaN;
    out.rise_time_ns[row] = NaN;
    return;
  }
  const nb = Math.max(1, Math.min(baselineSamples, len));
  let b = 0;
  for (let i = 0; i < nb; i++) b += samples[off + i]!;
  b /= nb;
  let sum = 0;
  let maxV = -Infinity;
  let maxI = 0;
  let minV = Infinity;
  let minI = 0;
  for (let i = 0; i < len; i++) {
    const v = samples[off + i]!;
    sum += v;
    if (v > maxV) {
      maxV = v;
      maxI = i;
    }
    if (v < minV) {
      minV = v;
      minI = i;
    }
  }
  const up = maxV - b;
  const down = b - minV;
  const sign = polarity === 'positive' ? 1 : polarity === 'negative' ? -1 : up >= down ? 1 : -1;
  const amp = Math.max(0, sign > 0 ? up : down);
  const peak = sign > 0 ? maxI : minI;
  out.baseline[row] = b;
  out.amplitude[row] = amp;
  out.polarity[row] = sign;
  out.area[row] = (sum - b * len) * dtNs;
  out.peak_time_ns[row] = peak * dtNs;
  if (amp <= 0) {
    out.rise_time_ns[row] = NaN;
    return;
  }
  const t90 = crossingBefore(samples, off, peak, b, sign, 0.9 * amp);
  const t10 = crossingBefore(samples, off, peak, b, sign, 0.1 * amp);
  out.rise_time_ns[row] = Number.isNaN(t10) || Number.isNaN(t90) ? NaN : (t90 - t10) * dtNs;
}

/**
 * Fractional sample index where the baseline-subtracted, sign-corrected signal last rises through
 * `level` before `peak`; NaN if it is at or above `level` all the way back to the start.
 */
function crossingBefore(samples: Uint16Array, off: number, peak: number, b: number, sign: number, level: number): number {
  for (let i = peak; i > 0; i--) {
    const hi = sign * (samples[off + i]! - b);
    const lo = sign * (samples[off + i - 1]! - b);
    if (lo < level && hi >= level) return i - 1 + (level - lo) / (hi - lo);
  }
  return NaN;
}
