import type { StreamBatch, StreamInfo } from '../../src/schema/batch.ts';

/** What the live-view actor feeds: the live hub (src/live) or any other viewer engine. */
export interface LiveTarget {
  addStream(info: StreamInfo): void;
  /** Must be cheap: it runs on the acquisition thread. */
  push(sb: StreamBatch): void;
}

export type LiveViewMsg = { type: 'stream'; info: StreamInfo } | { type: 'batch'; sb: StreamBatch; token: number };
