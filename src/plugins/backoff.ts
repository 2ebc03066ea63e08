/** Restart backoff: `initialMs · factor^(attempt−1)`, capped at `maxMs`; no jitter (deterministic). */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 250, maxMs: 30_000, factor: 2 };

/** Delay before restart number `attempt` (1-based count of consecutive failures). */
export function backoffDelayMs(attempt: number, o: BackoffOptions = DEFAULT_BACKOFF): number {
  return Math.min(o.maxMs, o.initialMs * o.factor ** Math.max(0, attempt - 1));
}

export { sleep } from '../util/sleep.ts';
