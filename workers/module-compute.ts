import type { Job } from 'bullmq';
import type { Compute } from '../src/cache/context.js';
import type { GetValueData } from '../src/bullmq/job-data.js';
import type { ComputeFunction } from './compute-module.js';

/**
 * The processor's computation for a worker running the user's module: calls
 * `compute(key, { signal, params, ... })` with the job's fields. The guard runs it once for many
 * jobs (it gets the params of the job that runs it), aborts the signal on its timeout, a lost
 * lock or shutdown, and fails the computation when its value does not survive JSON.
 */
export function moduleCompute(compute: ComputeFunction, workerId: string) {
  return (data: GetValueData, job: Job): Compute<unknown> =>
    // async: a module that throws before returning a promise fails the computation the same way.
    async ({ signal, setTtl, skipCache }) =>
      compute(data.key, {
        signal,
        setTtl,
        skipCache,
        params: data.params ?? {},
        runId: data.runId,
        jobId: job.id,
        strategy: data.strategy,
        workerId,
      });
}
