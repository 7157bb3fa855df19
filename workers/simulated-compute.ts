import type { ComputeContext } from '../src/cache/context.js';
import type { Simulation } from '../src/bullmq/job-data.js';

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
 * Stops early (rejecting with the signal's reason) when the guard aborts the computation.
 *
 * `simulate` makes it fail the way real computations do: `throw` rejects after `computeMs`
 * (a query that errors), `hang` never settles by itself (a call stuck on a dead peer), so only
 * the abort (the guard's compute timeout, or its close) ends it.
 */
let computations = 0;

export function simulatedCompute(workerId: string, computeMs: number, simulate?: Simulation) {
  return ({ signal }: ComputeContext): Promise<SimulatedValue> =>
    new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      // `hang`: no timer at all; the abort listener is the only way out.
      if (simulate === 'hang') return;
      timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        if (simulate === 'throw') return reject(new Error(`simulated failure in ${workerId} after ${computeMs} ms`));
        computations += 1;
        resolve({ computedBy: workerId, seq: computations, pid: process.pid, computedAt: new Date().toISOString(), computeMs });
      }, computeMs);
    });
}
