import type { ProcessorDefinition } from '../plugin.ts';
import { featuresProcessor } from './features.processor.ts';
import { fftProcessor } from './fft.processor.ts';
import { filterProcessor } from './filter.processor.ts';

/** Built-in processor types, by the `type` used in the config's `processors` list. */
export const BUILTIN_PROCESSORS: Record<string, ProcessorDefinition<never>> = {
  fft: fftProcessor as ProcessorDefinition<never>,
  filter: filterProcessor as ProcessorDefinition<never>,
  'waveform-features': featuresProcessor as ProcessorDefinition<never>,
};

export { fftProcessor, fftOptions, fftSchema } from './fft.processor.ts';
export type { FftOptions } from './fft.processor.ts';
export { filterProcessor, filterOptions, makeFilterBank } from './filter.processor.ts';
export type { FilterOptions } from './filter.processor.ts';
export { featuresProcessor, featuresOptions, featuresSchema } from './features.processor.ts';
export type { FeaturesOptions } from './features.processor.ts';
export { SpectrumComputer, makeWindow } from './spectrum.ts';
export { rbjBiquad, biquadGain, BiquadBank, FirBank, MovingAverageBank } from './filter-bank.ts';
export { computeFeatures, allocFeatureColumns } from './waveform-features.ts';
