import type { Queue } from 'bullmq';
import type { Strategy } from '../cache/strategy.js';
import { JOB_NAME } from './names.js';
import type { GetValueData } from './job-data.js';

export interface BurstSpec {
  jobs: number;
  keys: number;
  strategy: Strategy;
  computeMs?: number;
  runId: string;
  /** Cache keys are `<keyPrefix>-1` .. `<keyPrefix>-K`. @default 'key' */
  keyPrefix?: string;
}

/** The key of the i-th job of a burst: jobs are spread round-robin over the keys. */
export function burstKey(spec: BurstSpec, index: number): string {
  return `${spec.keyPrefix ?? 'key'}-${(index % spec.keys) + 1}`;
}

/**
 * Enqueue a burst with addBulk (one round trip per chunk, so the jobs land together, as a
 * real burst of requests would). Returns the job ids in order.
 */
export async function enqueueBurst(queue: Queue<GetValueData>, spec: BurstSpec, chunkSize = 1000): Promise<string[]> {
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
      },
    }));
    const added = await queue.addBulk(jobs);
    for (const job of added) ids.push(job.id!);
  }
  return ids;
}
