import type { ComputeContext } from '../cache/context.js';

/** The value the simulated expensive computation produces: who computed it, and when. */
export interface SimulatedValue {
  computedBy: string;
  /** Counts this process's computations, so two computations never give the same value. */
  seq: number;
  pid: number;
  computedAt: string;
  computeMs: number;
}

/**
 * Stands in for an expensive query or render: takes `computeMs`, then returns a value that
 * names the worker that computed it, so a burst's results show who did the work.
 * Stops early (rejecting) when the guard aborts the computation.
 */
let computations = 0;

export function simulatedCompute(workerId: string, computeMs: number) {
  return ({ signal }: ComputeContext): Promise<SimulatedValue> =>
    new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        computations += 1;
        resolve({ computedBy: workerId, seq: computations, pid: process.pid, computedAt: new Date().toISOString(), computeMs });
      }, computeMs);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
}
