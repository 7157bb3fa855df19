import type { Job } from 'bullmq';
import type { Compute, ComputeMany } from '../src/cache/context.js';
import type { GetManyData, GetValueData } from '../src/bullmq/job-data.js';
import type { ComputeFunction, ComputeManyFunction } from './compute-module.js';

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
      compute(data.key, { signal, setTtl, skipCache, ...jobFields(data, job, workerId) });
}

/** What a module's function gets of the job that runs it, single or batch alike. */
function jobFields(data: GetValueData | GetManyData, job: Job, workerId: string) {
  return { params: data.params ?? {}, runId: data.runId, jobId: job.id, strategy: data.strategy, workerId };
}

/**
 * The batch computation for a worker whose module exports `computeMany`: one call for the keys a
 * batch job holds, `computeMany(keys, { signal, params, setTtl(key, ttl), skipCache(key), ... })`.
 * What it returns (a Map or an object keyed by key) is checked by the guard: a key left out fails
 * alone, anything but a Map or an object fails every key it held.
 */
export function moduleComputeMany(computeMany: ComputeManyFunction, workerId: string) {
  return (data: GetManyData, job: Job): ComputeMany<unknown> =>
    async (keys, { signal, setTtl, skipCache }) =>
      (await computeMany(keys, { signal, setTtl, skipCache, ...jobFields(data, job, workerId) })) as Awaited<
        ReturnType<ComputeMany<unknown>>
      >;
}
