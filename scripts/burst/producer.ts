import type { Queue } from 'bullmq';
import { errorMessage } from '../../src/errors.js';
import { redactUrl } from '../common/logging.js';
import type { Strategy } from '../../src/cache/strategy.js';
import { JOB_NAME } from '../../src/bullmq/names.js';
import type { GetValueData, Simulation } from '../../src/bullmq/job-data.js';

export interface BurstSpec {
  jobs: number;
  keys: number;
  strategy: Strategy;
  computeMs?: number;
  runId: string;
  /** Cache keys are `<keyPrefix>-1` .. `<keyPrefix>-K`. @default 'key' */
  keyPrefix?: string;
  /** Every job asks its computation to fail this way (the fault suite). @default none */
  simulate?: Simulation;
}

/** The key of the i-th job of a burst: jobs are spread round-robin over the keys. */
export function burstKey(spec: BurstSpec, index: number): string {
  return `${spec.keyPrefix ?? 'key'}-${(index % spec.keys) + 1}`;
}

/** A chunk of a burst that could not be enqueued (e.g. Redis was down or restarting). */
export interface EnqueueFailure {
  jobs: number;
  reason: string;
}

/**
 * Enqueue a burst with addBulk (one round trip per chunk, so the jobs land together, as a
 * real burst of requests would). Returns the ids of the jobs enqueued, in order.
 *
 * Without `onFailure`, the first chunk that cannot be enqueued throws (and the ids of the chunks
 * before it are lost to the caller). With it, the failed chunk is reported there and the burst
 * goes on with the next chunk: a producer should say how many jobs it could not enqueue, not
 * crash and leave the caller guessing which ones made it. (A chunk whose reply was lost after
 * Redis ran it counts as not enqueued: as far as this producer knows, it was not.)
 */
export async function enqueueBurst(
  queue: Queue<GetValueData>,
  spec: BurstSpec,
  chunkSize = 1000,
  onFailure?: (failure: EnqueueFailure, err: unknown) => void,
): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < spec.jobs; start += chunkSize) {
    const count = Math.min(chunkSize, spec.jobs - start);
    const jobs = Array.from({ length: count }, (_, i) => ({
      name: JOB_NAME,
      data: {
        key: burstKey(spec, start + i),
        strategy: spec.strategy,
        runId: spec.runId,
        ...(spec.computeMs !== undefined && { computeMs: spec.computeMs }),
        ...(spec.simulate !== undefined && { simulate: spec.simulate }),
      },
    }));
    let added: Awaited<ReturnType<typeof queue.addBulk>>;
    try {
      added = await queue.addBulk(jobs);
    } catch (err) {
      if (!onFailure) throw err;
      onFailure({ jobs: count, reason: redactUrl(errorMessage(err)) }, err);
      continue;
    }
    for (const job of added) ids.push(job.id!);
  }
  return ids;
}
