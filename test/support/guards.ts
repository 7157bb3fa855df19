import type { Redis } from 'ioredis';
import { createGuard, type GuardOptions, type StampedeGuard } from '../../src/cache/guard.js';
import { captureLogger } from './log-capture.js';
import { closeAll, connect } from './redis.js';

/**
 * Guards that stand for separate processes: each has its own Redis connection, single-flight
 * and subscriber, and its own captured log. `closeGuards` ends them all.
 */
const opened: { guard: StampedeGuard; redis: Redis }[] = [];

export function processGuard(options: Omit<GuardOptions, 'redis' | 'logger'>) {
  const redis = connect();
  const capture = captureLogger();
  const guard = createGuard({ ...options, redis, logger: capture.logger });
  opened.push({ guard, redis });
  return { redis, guard, capture };
}

export async function closeGuards(): Promise<void> {
  const all = opened.splice(0);
  await Promise.all(all.map(({ guard }) => guard.close()));
  await closeAll(...all.map(({ redis }) => redis));
}
