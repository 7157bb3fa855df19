import { BATCH_STRATEGY, type GetManyData, type GetValueData, type JobParams, type Simulation } from '../../src/bullmq/job-data.js';
import type { Strategy } from '../../src/cache/strategy.js';

export interface BurstSpec {
  jobs: number;
  keys: number;
  strategy: Strategy;
  /** For the simulated computation only (a worker running a module refuses it). */
  computeMs?: number;
  runId: string;
  /** Cache keys are `<keyPrefix>-1` .. `<keyPrefix>-K`. @default 'key' */
  keyPrefix?: string;
  /** Every job asks its computation to fail this way (the fault suite). @default none */
  simulate?: Simulation;
  /** Every job's params, for a compute module. */
  params?: JobParams;
  /**
   * Keys per job: each job is a batch job of this many keys (at most `keys`, so none twice), the
   * next ones of the round-robin, so J jobs cover the first J x N key requests. Batch jobs are
   * computed under redis-lock only. @default none: one key per job
   */
  batch?: number;
  /** Every job's tags (every key's, in a batch job): `npm run invalidate -- --tags` reaches their values. */
  tags?: string[];
}

/** The key of the i-th job of a burst: jobs are spread round-robin over the keys. */
export function burstKey(spec: BurstSpec, index: number): string {
  return `${spec.keyPrefix ?? 'key'}-${(index % spec.keys) + 1}`;
}

/** The data of the i-th job of a burst. */
export function burstJob(spec: BurstSpec, index: number): GetValueData {
  return {
    key: burstKey(spec, index),
    strategy: spec.strategy,
    runId: spec.runId,
    ...(spec.computeMs !== undefined && { computeMs: spec.computeMs }),
    ...(spec.simulate !== undefined && { simulate: spec.simulate }),
    ...(spec.params !== undefined && { params: spec.params }),
    ...(spec.tags !== undefined && { tags: spec.tags }),
  };
}

/** The data of the i-th batch job of a burst (`spec.batch` keys): key requests i*N .. i*N+N-1 of the round-robin. */
export function burstBatchJob(spec: BurstSpec & { batch: number }, index: number): GetManyData {
  return {
    keys: Array.from({ length: spec.batch }, (_, j) => burstKey(spec, index * spec.batch + j)),
    strategy: BATCH_STRATEGY,
    runId: spec.runId,
    ...(spec.computeMs !== undefined && { computeMs: spec.computeMs }),
    ...(spec.simulate !== undefined && { simulate: spec.simulate }),
    ...(spec.params !== undefined && { params: spec.params }),
    ...(spec.tags !== undefined && { tags: spec.tags }),
  };
}
