import { sleep } from '../util/sleep.ts';

/**
 * Waits until wall-clock time `dueMs` (Date.now() scale) or until `signal` aborts.
 * Resolves true when due, false when aborted first.
 */
export function pace(dueMs: number, signal: AbortSignal): Promise<boolean> {
  return sleep(dueMs - Date.now(), signal);
}
