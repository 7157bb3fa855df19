import type { BatchContext, ComputeContext } from '../src/cache/context.js';
import type { Simulation } from '../src/bullmq/job-data.js';

/** The value the simulated expensive computation produces: who computed it, and when. */
export interface SimulatedValue {
  computedBy: string;
  /** Counts this process's computations, so two computations never give the same value. */
  seq: number;
  pid: number;
  computedAt: string;
  computeMs: number;
  /** Of a batch job's simulated computation: how many keys its one call computed. */
  batch?: number;
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
    simulateComputations(workerId, computeMs, simulate, signal, 1).then(([value]) => value!);
}

/**
 * The simulated computation of a batch job: ONE call for the keys it holds, as a batch query
 * would be, taking `computeMs` (each key's time: they are computed together), then a value per
 * key, each with its own `seq` and `batch`, how many keys the call computed. `simulate` fails (or
 * hangs) the whole call, so every key it held fails alone.
 */
export function simulatedComputeMany(workerId: string, computeMs: number, simulate?: Simulation) {
  return async (keys: string[], { signal }: BatchContext): Promise<Map<string, SimulatedValue>> => {
    const values = await simulateComputations(workerId, computeMs, simulate, signal, keys.length);
    return new Map(keys.map((key, i) => [key, { ...values[i]!, batch: keys.length }]));
  };
}

/** `count` values after `computeMs` (or the failure `simulate` asks for), or the signal's reason once it aborts. */
function simulateComputations(workerId: string, computeMs: number, simulate: Simulation | undefined, signal: AbortSignal, count: number) {
  return new Promise<SimulatedValue[]>((resolve, reject) => {
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
      const computedAt = new Date().toISOString();
      resolve(
        Array.from({ length: count }, () => {
          computations += 1;
          return { computedBy: workerId, seq: computations, pid: process.pid, computedAt, computeMs };
        }),
      );
    }, computeMs);
  });
}
