import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { inject } from 'vitest';

/** URL of the private redis-server the global setup started. */
export function redisUrl(): string {
  return inject('redisUrl');
}

/** A key prefix no other test uses, so tests can share one Redis. */
export function uniquePrefix(label: string): string {
  return `t-${label}-${randomBytes(4).toString('hex')}`;
}

/** A client that the calling test must close (see `closeAll`). */
export function connect(): Redis {
  return new Redis(redisUrl(), { maxRetriesPerRequest: 2 });
}

export async function closeAll(...clients: Redis[]): Promise<void> {
  await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())));
}

/** Sum of `calls=` over `INFO commandstats`, optionally only some commands. */
export async function commandCounts(redis: Redis): Promise<Map<string, number>> {
  const info = await redis.info('commandstats');
  const counts = new Map<string, number>();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    counts.set(match[1]!, Number(match[2]));
  }
  return counts;
}
