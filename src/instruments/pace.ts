/**
 * Waits until wall-clock time `dueMs` (Date.now() scale) or until `signal` aborts.
 * Resolves true when due, false when aborted first.
 */
export function pace(dueMs: number, signal: AbortSignal): Promise<boolean> {
  const wait = dueMs - Date.now();
  if (signal.aborted) return Promise.resolve(false);
  if (wait <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, wait);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
