import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { createGuard } from '../../../src/cache/guard.js';
import { createRedis } from '../../redis/connection.js';
import { scanBatches } from '../../redis/scan.js';
import { installRequestCounter } from '../batch/request-counter.js';
import type { CommandMeter } from '../command-stats.js';
import type { BenchOptions } from '../options.js';
import type { Rows } from '../rows.js';
import { measureInvalidation, TAGS_INVALIDATION } from './invalidation.js';
import { measureReads } from './reads.js';

/**
 * Scenario: what tags cost (issue 28), in this process, one guard:
 * 1. a cache hit of a tagged value (3 tags) and of a namespace's value against a hit of an
 *    untagged one: round trips, commands, time per read (reads.ts);
 * 2. invalidating a tag carried by `tagsValues` values against SCAN + DEL of the same values,
 *    and the first read of an invalidated value recomputing (invalidation.ts).
 * Every key lives under a prefix of this run, deleted by SCAN at the end, whatever happened.
 */
export async function runTagsBench(
  options: BenchOptions,
  redisUrl: string,
  meter: CommandMeter,
  admin: Redis,
  rows: Rows,
  progress: (line: string) => void,
): Promise<void> {
  installRequestCounter();
  const prefix = `bench-tags-${randomBytes(3).toString('hex')}`;
  const redis = createRedis(redisUrl, 'cache');
  const subscriber = createRedis(redisUrl, 'subscriber');
  const guard = createGuard({ redis, subscriber, keyPrefix: prefix, valueTtlMs: 600_000 });
  try {
    await measureReads(guard, meter, rows, options.tagsReads, progress);
    await measureInvalidation(guard, redis, meter, rows, prefix, options.tagsValues, progress);
  } finally {
    await guard.close();
    await Promise.all([redis.quit(), subscriber.quit()]);
    const deleted = await clearPrefix(admin, prefix);
    progress(`tags: cleared ${deleted} keys left under ${prefix}:*`);
  }
  let left = 0;
  for await (const keys of scanBatches(admin, `${prefix}:*`)) left += keys.length;
  rows.add(TAGS_INVALIDATION, 'cleanup', 'keys.left', left, `keys under ${prefix}:* after the SCAN + UNLINK at the end`);
}

async function clearPrefix(admin: Redis, prefix: string): Promise<number> {
  let deleted = 0;
  for await (const keys of scanBatches(admin, `${prefix}:*`)) deleted += await admin.unlink(...keys);
  return deleted;
}
