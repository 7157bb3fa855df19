import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import type { Queue } from 'bullmq';
import { clearCacheKeys } from '../redis/clear.js';
import type { RedisClient } from '../redis/connection.js';
import { startFleet, type FleetOptions } from './fleet.js';
import { waitForWorkers } from './wait-ready.js';

export interface FreshFleetOptions {
  /** The cache's Redis, whose keys under `keyPrefix` are emptied first. */
  cache: RedisClient;
  keyPrefix: string;
  /** The queue, emptied first. */
  queue: Queue;
  /** The fleet's prefixed output goes to `<logDir>/fleet.out`. */
  logDir: string;
  fleet: Omit<FleetOptions, 'outputStream'>;
}

/**
 * One run of the lab on a clean slate (the demo's strategies, its warm key, the load lab's
 * strategies): empty the guard's keys and the queue, start the fleet, wait until every worker
 * takes jobs, run `work`, and stop the fleet (SIGTERM, so background refreshes end and log)
 * whatever `work` did.
 */
export async function onFreshFleet<T>(options: FreshFleetOptions, work: () => Promise<T>): Promise<T> {
  await clearCacheKeys(options.cache, options.keyPrefix);
  await options.queue.obliterate({ force: true });
  const outputAt = join(options.logDir, 'fleet.out');
  const output = createWriteStream(outputAt);
  const fleet = startFleet({ ...options.fleet, outputStream: output });
  try {
    await waitForWorkers(fleet, options.fleet.workers, { outputAt });
    return await work();
  } finally {
    await fleet.stop('SIGTERM');
    output.end();
  }
}
