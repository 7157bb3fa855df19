import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { RedisClient } from '../redis/connection.js';
import { cacheKeys } from '../../src/keys.js';
import type { BurstSummary } from '../burst/burst.js';
import { scanKeys } from '../redis/scan.js';
import type { TailedRecord } from './log-tail.js';

/** Measurements over the workers' logs and Redis, shared by the scenarios. */

export function ofRuns(runIds: readonly string[]): (r: TailedRecord) => boolean {
  const set = new Set(runIds);
  return (r) => typeof r.runId === 'string' && set.has(r.runId);
}

/** One recomputation is one `recompute.start` line (the log contract). */
export function recomputations(records: readonly TailedRecord[], runIds: readonly string[]): number {
  const inRuns = ofRuns(runIds);
  return records.filter((r) => r.event === 'recompute.start' && inRuns(r)).length;
}

/** Jobs enqueued that neither completed nor failed, as the producer saw them. */
export function lostJobs(summary: Pick<BurstSummary, 'enqueued' | 'completed' | 'failed'>): number {
  return summary.enqueued - summary.completed - summary.failed;
}

/** The fence of the value stored for `key`, or null when none is stored. */
export async function storedFence(redis: RedisClient, prefix: string, key: string): Promise<number | null> {
  const raw = await redis.hget(cacheKeys(prefix, key).value, 'fence');
  return raw === null ? null : Number(raw);
}

export interface StaleOverwrites {
  count: number;
  /** Per key: the highest fence of an accepted write, and the fence stored at the end. */
  keys: Record<string, { maxWritten: number; stored: number | null }>;
}

/**
 * Writes accepted with a lower fence than what had been stored: from the `cache.write` lines
 * (accepted writes) in time order, a write whose fence is below one accepted strictly earlier
 * counts; and if the value stored at the end carries a lower fence than the highest accepted
 * write (a reordering within one millisecond that the log times cannot show), that counts too.
 */
export async function staleOverwrites(
  records: readonly TailedRecord[],
  redis: RedisClient,
  prefix: string,
  runIds: readonly string[],
): Promise<StaleOverwrites> {
  const inRuns = ofRuns(runIds);
  const writesByKey = new Map<string, TailedRecord[]>();
  for (const r of records) {
    if (r.event !== 'cache.write' || !inRuns(r) || typeof r.key !== 'string' || typeof r.fence !== 'number') continue;
    const list = writesByKey.get(r.key) ?? [];
    list.push(r);
    writesByKey.set(r.key, list);
  }
  let count = 0;
  const keys: StaleOverwrites['keys'] = {};
  for (const [key, writes] of writesByKey) {
    const ordered = [...writes].sort((a, b) => (a.time ?? 0) - (b.time ?? 0));
    let stale = 0;
    for (const [i, w] of ordered.entries()) {
      const earlier = ordered.slice(0, i).filter((e) => (e.time ?? 0) < (w.time ?? 0));
      if (earlier.some((e) => (e.fence as number) > (w.fence as number))) stale += 1;
    }
    const maxWritten = Math.max(...ordered.map((w) => w.fence as number));
    const stored = await storedFence(redis, prefix, key);
    if (stale === 0 && stored !== null && stored < maxWritten) stale = 1;
    count += stale;
    keys[key] = { maxWritten, stored };
  }
  return { count, keys };
}

/** Locks left behind: the guard's (`<prefix>:{..}:lock`) and BullMQ's job locks. */
export async function leftoverLocks(redis: Redis, prefix: string, queueName: string): Promise<string[]> {
  return [...(await scanKeys(redis, `${prefix}:*:lock`)), ...(await scanKeys(redis, `bull:${queueName}:*:lock`))];
}

/** Jobs of the queue nobody finished: still waiting, active, delayed or prioritized. */
export async function unfinishedJobs(queue: Queue): Promise<number> {
  const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children');
  return Object.values(counts).reduce((sum, n) => sum + n, 0);
}
