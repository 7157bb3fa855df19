import { Queue, QueueEvents, type JobsOptions } from 'bullmq';
import type { RedisClient } from '../redis/client.js';
import { JOB_NAME, queuePrefix } from './names.js';
import type { GetValueData } from './job-data.js';

/**
 * Job options every producer of this project uses: one attempt (a get-value job that failed
 * is reported, not silently retried), and bounded retention so the queue's Redis does not fill.
 */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 1,
  removeOnComplete: { age: 3600, count: 10_000 },
  removeOnFail: { age: 24 * 3600, count: 10_000 },
};

export function createQueue(name: string, connection: RedisClient): Queue<GetValueData> {
  return new Queue<GetValueData>(name, { connection, prefix: queuePrefix(connection), defaultJobOptions: DEFAULT_JOB_OPTIONS });
}

/** QueueEvents needs a connection of its own (it blocks on XREAD). */
export function createQueueEvents(name: string, connection: RedisClient): QueueEvents {
  return new QueueEvents(name, { connection, prefix: queuePrefix(connection) });
}

export { JOB_NAME };
