/**
 * Timers and abort signals without leftovers: a worker runs for months, so nothing a call sets
 * up may outlive it.
 */

/** Node turns a delay above 2^31 - 1 ms into 1 ms (with a warning); every delay is capped here. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** setTimeout that never keeps the process alive and never fires early for a huge delay. */
export function unrefTimeout(fn: () => void, ms: number): NodeJS.Timeout {
  const timer = setTimeout(fn, Math.min(Math.max(0, ms), MAX_TIMER_MS));
  timer.unref();
  return timer;
}

/**
 * Run `fn` once when `signal` aborts (at once if it already has); returns the function that
 * detaches it. Used instead of `AbortSignal.any`, which on Node 20 keeps every combined signal
 * of a long-lived parent alive (nodejs/node#55351), and with it whatever its listeners hold.
 */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  if (signal.aborted) {
    fn();
    return () => {};
  }
  signal.addEventListener('abort', fn, { once: true });
  return () => signal.removeEventListener('abort', fn);
}
