import type { StreamBatch, StreamInfo } from '../../src/schema/batch.ts';

export type SinkMsg =
  | { type: 'stream'; info: StreamInfo }
  | { type: 'batch'; sb: StreamBatch; token: number }
  /** Drain and close the sink; reply with the error if closing failed. */
  | { type: 'close'; reply: (err: Error | null) => void };
