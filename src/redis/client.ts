import type { Cluster, Redis } from 'ioredis';

/**
 * One Redis node or a Redis Cluster: what the guard accepts. Both have the same commands; the
 * few places where they differ (pub/sub, the database a channel names) ask `isCluster`.
 */
export type RedisClient = Redis | Cluster;

export function isCluster(client: RedisClient): client is Cluster {
  return (client as { isCluster?: boolean }).isCluster === true;
}
