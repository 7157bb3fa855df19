import { type ConnectionOptions, Queue, QueueEvents, type JobsOptions, type Telemetry } from 'bullmq';
import type { SupportedRedisClient } from '../redis/client.js';
import { JOB_NAME, queuePrefix } from './names.js';
import type { GetValueData } from './job-data.js';

/**
 * Job options every producer of this project uses. Three attempts, 1 s then 2 s apart: a
 * get-value job is idempotent, and what is retried is only what says nothing about the value
 * (Redis out of reach for longer than the client rides out, a completion BullMQ could not record
 * during a failover); invalid data and failed computations fail at once (failures.ts). Bounded
 * retention so the queue's Redis does not fill.
 */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 3600, count: 10_000 },
  removeOnFail: { age: 24 * 3600, count: 10_000 },
};

/**
 * The get-value queue with the project's job options. `telemetry` (e.g. `new BullMQOtel()`):
 * BullMQ's spans for what goes through this queue, and each job added carries its trace context.
 */
export function createQueue(name: string, connection: SupportedRedisClient, options: { telemetry?: Telemetry } = {}): Queue<GetValueData> {
  return new Queue<GetValueData>(name, {
    connection,
    prefix: queuePrefix(connection),
    defaultJobOptions: DEFAULT_JOB_OPTIONS,
    ...(options.telemetry && { telemetry: options.telemetry }),
  });
}

/** QueueEvents needs a connection of its own (it blocks on XREAD). */
export function createQueueEvents(name: string, connection: SupportedRedisClient): QueueEvents {
  return new QueueEvents(name, { connection: connection as ConnectionOptions, prefix: queuePrefix(connection) });
}

export { JOB_NAME };
