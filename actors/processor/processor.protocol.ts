import type { StreamBatch } from '../../src/schema/batch.ts';

export type ProcessorMsg =
  | { type: 'batch'; sb: StreamBatch; token: number }
  /** Periodic call of the processor's `tick` (silence timeouts and other time-based work). */
  | { type: 'tick' }
  /** Inputs are drained: emit what is held back, publish it, then reply. */
  | { type: 'flush'; reply: () => void };

export interface ProcessorCounters {
  inBatches: number;
  outBatches: number;
  failures: number;
}
