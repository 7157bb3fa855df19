import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { isCluster, type RedisClient } from './client.js';

/**
 * The guard's own pub/sub connection, when the caller does not pass one: a duplicate of the
 * cache connection (same host, credentials, TLS, database), set up for waiting.
 *
 * - No ready check (INFO): ioredis writes a SUBSCRIBE issued while it is still connecting, and
 *   the INFO after it then fails in subscriber mode; ioredis treats that as fatal and rejects or
 *   drops the queued SUBSCRIBEs. A pub/sub connection has nothing to wait for.
 * - Commands wait through reconnects (`maxRetriesPerRequest: null`): a waiter's SUBSCRIBE is
 *   bounded by its own deadline, not by ioredis's retry count.
 * - On a cluster, sharded subscribers (SSUBSCRIBE, one connection per master; redis/pubsub.ts).
 */
export function duplicateAsSubscriber(client: RedisClient): RedisClient {
  const node: RedisOptions = {
    connectionName: 'cache-stampede:subscriber',
    enableReadyCheck: false,
    maxRetriesPerRequest: null,
  };
  if (!isCluster(client)) return (client as Redis).duplicate(node);
  const cluster = client as Cluster;
  return cluster.duplicate([], {
    shardedSubscribers: true,
    redisOptions: { ...cluster.options.redisOptions, ...node },
  });
}
