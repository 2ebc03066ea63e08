import type { InstrumentDefinition } from '../plugin.ts';
import { simScalar } from './sim-scalar.ts';
import { simDigitizer } from './sim-digitizer.ts';
import { replay } from './replay.ts';

/** Built-in instrument types, by the `type` used in the config. */
export const BUILTIN_INSTRUMENTS: Record<string, InstrumentDefinition<never>> = {
  'sim-scalar': simScalar as InstrumentDefinition<never>,
  'sim-digitizer': simDigitizer as InstrumentDefinition<never>,
  replay: replay as InstrumentDefinition<never>,
};
