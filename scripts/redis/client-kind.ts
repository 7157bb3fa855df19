import { ConfigError } from '../common/errors.js';
import { describeClusterUrl, isClusterUrl } from './cluster-url.js';

/**
 * Which Redis client library the lab's processes (workers, burst, demo) open their connections
 * with, BullMQ's included: `REDIS_CLIENT=ioredis|node-redis`, ioredis when unset or empty (a
 * fleet blanks variables it does not pass on). The library itself takes either; this only picks
 * what the lab runs on, so a team can see its own client carry the fleet.
 */
export const REDIS_CLIENT_KINDS = ['ioredis', 'node-redis'] as const;
export type RedisClientKind = (typeof REDIS_CLIENT_KINDS)[number];

export const DEFAULT_REDIS_CLIENT: RedisClientKind = 'ioredis';

/** REDIS_CLIENT from the environment; a value that is neither kind stops the command with one line. */
export function redisClientKind(env: NodeJS.ProcessEnv = process.env): RedisClientKind {
  const raw = env.REDIS_CLIENT?.trim() ?? '';
  if (raw === '') return DEFAULT_REDIS_CLIENT;
  if ((REDIS_CLIENT_KINDS as readonly string[]).includes(raw)) return raw as RedisClientKind;
  throw new ConfigError(`REDIS_CLIENT must be one of ${REDIS_CLIENT_KINDS.join(', ')}; got "${raw}"`);
}

/**
 * node-redis runs the lab on one Redis node only: BullMQ has no node-redis cluster support (its
 * adapter wraps a single `createClient`), and the lab's node-redis connections are single-node.
 * Refused before anything connects, naming the Redis that is a cluster.
 */
export function assertClientFits(kind: RedisClientKind, redis: { queue: string; cache: string }): void {
  if (kind !== 'node-redis') return;
  for (const [what, url] of [
    ["the queue's Redis", redis.queue],
    ["the cache's Redis", redis.cache],
  ] as const) {
    if (isClusterUrl(url)) throw nodeRedisOnCluster(`${what} is a Redis Cluster (${describeClusterUrl(url)})`);
  }
}

/** The refusal of node-redis on a cluster; `why` says which cluster (a URL, the demo's --cluster). */
export function nodeRedisOnCluster(why: string): ConfigError {
  return new ConfigError(
    `REDIS_CLIENT=node-redis runs on a single Redis only (BullMQ has no node-redis cluster support), but ${why}; use REDIS_CLIENT=ioredis for a cluster`,
  );
}

/** The kind for this command's Redis, checked: REDIS_CLIENT read and fitted to the queue's and cache's URLs. */
export function clientKindFor(
  config: { queueRedisUrl: string; cacheRedisUrl: string },
  env: NodeJS.ProcessEnv = process.env,
): RedisClientKind {
  const kind = redisClientKind(env);
  assertClientFits(kind, { queue: config.queueRedisUrl, cache: config.cacheRedisUrl });
  return kind;
}

/** The `--help` text of the commands that open the lab's connections. */
export const REDIS_CLIENT_HELP = `
Environment:
  REDIS_CLIENT  the Redis client library of the lab's connections, BullMQ's included:
                ioredis (default) or node-redis (a single Redis only, no cluster)`;
