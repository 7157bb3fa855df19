import type { Redis } from 'ioredis';

/**
 * SCAN over one node, a batch at a time: unlike KEYS it never blocks a large Redis.
 * (On a cluster, call it per master: each node sees only its own slots.)
 */
export async function* scanBatches(redis: Redis, pattern: string): AsyncGenerator<string[]> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) yield keys;
  } while (cursor !== '0');
}

/** Every key of one node matching `pattern`. */
export async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const found: string[] = [];
  for await (const keys of scanBatches(redis, pattern)) found.push(...keys);
  return found;
}
