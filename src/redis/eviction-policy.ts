import type { Redis } from 'ioredis';

/**
 * BullMQ needs `maxmemory-policy noeviction` on the queue's Redis: under memory pressure an
 * evicting policy silently deletes job keys. Returns a warning to show, or null when fine.
 * Reads INFO rather than CONFIG GET, which managed Redis services often disable.
 */
export async function evictionPolicyWarning(redis: Redis): Promise<string | null> {
  const info = await redis.info('memory');
  const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
  if (!policy || policy === 'noeviction') return null;
  return `the queue's Redis has maxmemory-policy ${policy}; BullMQ needs noeviction or jobs can be lost (fix: CONFIG SET maxmemory-policy noeviction, or maxmemory-policy noeviction in redis.conf)`;
}
