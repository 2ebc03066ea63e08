import type { StreamBatch } from '../../src/schema/batch.ts';

export type ProcessorMsg =
  | { type: 'batch'; sb: StreamBatch; token: number }
  /** Inputs are drained: emit what is held back, publish it, then reply. */
  | { type: 'flush'; reply: () => void };

export interface ProcessorCounters {
  inBatches: number;
  outBatches: number;
  failures: number;
}
