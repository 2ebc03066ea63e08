import type { StreamBatch, StreamInfo } from '../../src/schema/batch.ts';

/** A running source of batches: a built-in instrument, or a plugin behind its isolating host. */
export interface InstrumentSource {
  /** Instance name from the config. */
  name: string;
  streams: StreamInfo[];
  /** Yields batches until `signal` aborts. May throw: the actor restarts it with backoff. */
  run(signal: AbortSignal): AsyncIterable<StreamBatch>;
  /** Restart after a failure (false for sources that cannot resume without duplicating data). */
  restartable: boolean;
}

export type InstrumentMsg =
  | { type: 'start' }
  /** Abort the source; `reply` once its last batch has been admitted by the manager. */
  | { type: 'stop'; reply: () => void };

export interface InstrumentCounters {
  batches: number;
  rows: number;
  rejected: number;
  restarts: number;
  /** Time spent waiting for the manager's admission (backpressure), ms. */
  blockedMs: number;
  running: boolean;
}
