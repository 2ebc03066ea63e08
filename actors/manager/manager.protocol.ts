import type { StreamBatch, StreamInfo } from '../../src/schema/batch.ts';
import type { SubscriberSpec } from '../../src/pipeline/fanout.ts';

/** Messages the manager actor handles. Replies are callbacks: payloads pass by reference. */
export type ManagerMsg =
  | { type: 'register-stream'; info: StreamInfo; reply: (err: Error | null) => void }
  | { type: 'subscribe'; spec: SubscriberSpec; reply: (streams: StreamInfo[]) => void }
  | { type: 'unsubscribe'; id: string }
  /** `admitted` is called once the batch is accepted and every lossless subscriber of its stream
   * has room again (backpressure), or with the validation error that rejected it. */
  | { type: 'publish'; sb: StreamBatch; producer: string; admitted: (err: Error | null) => void }
  | { type: 'ack'; subscriber: string; token: number }
  /** Calls `reply` once every batch delivered to a lossless subscriber has been acknowledged. */
  | { type: 'when-drained'; reply: () => void };
