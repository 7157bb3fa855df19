import type { Redis } from 'ioredis';
import { allKeysPattern } from '../keys.js';

/**
 * Delete every key the guard wrote under `prefix` (values, locks, fences): SCAN, not KEYS,
 * so a large Redis is not blocked; UNLINK frees memory off the main thread. Returns the count.
 */
export async function clearCacheKeys(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', allKeysPattern(prefix), 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}
