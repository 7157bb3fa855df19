import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { isIoRedisCluster } from './client.js';
import { quietStoppedShards } from './quiet-shards.js';

type IoRedis = Redis | Cluster;

/**
 * The guard's own pub/sub connection, when the caller does not pass one: a duplicate of the
 * cache connection (same host, credentials, TLS, database), set up for waiting.
 *
 * - No ready check (INFO): ioredis writes a SUBSCRIBE issued while it is still connecting, and
 *   the INFO after it then fails in subscriber mode; ioredis treats that as fatal and rejects or
 *   drops the queued SUBSCRIBEs. A pub/sub connection has nothing to wait for.
 * - Commands wait through reconnects (`maxRetriesPerRequest: null`): a waiter's SUBSCRIBE is
 *   bounded by its own deadline, not by ioredis's retry count.
 * - On a cluster, sharded subscribers (SSUBSCRIBE, one connection per master; redis/pubsub.ts),
 *   whose stopped connections cannot crash the process (quiet-shards.ts).
 */
export function duplicateAsSubscriber(client: IoRedis): IoRedis {
  const node: RedisOptions = {
    connectionName: 'cache-stampede:subscriber',
    enableReadyCheck: false,
    maxRetriesPerRequest: null,
  };
  if (!isIoRedisCluster(client)) return (client as Redis).duplicate(node);
  const cluster = client as Cluster;
  const subscriber = cluster.duplicate([], {
    shardedSubscribers: true,
    redisOptions: { ...cluster.options.redisOptions, ...node },
  });
  quietStoppedShards(subscriber);
  return subscriber;
}

/** Longest close() lets a reconnecting subscriber finish its handshake before cutting it. */
const SETTLE_BEFORE_QUIT_MS = 2000;

/**
 * Close the guard's own subscriber. One that is reconnecting is first let become ready (at most
 * SETTLE_BEFORE_QUIT_MS): on the way there ioredis sends its own SUBSCRIBEs again, without a
 * catch, and a quit or disconnect before their replies rejects them unhandled ("Connection is
 * closed."), which ends a process that runs with Node's defaults.
 */
export async function closeSubscriber(subscriber: IoRedis): Promise<void> {
  if (subscriber.status !== 'ready' && subscriber.status !== 'end' && subscriber.status !== 'wait') {
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        subscriber.off('ready', done);
        subscriber.off('end', done);
        resolve();
      };
      const timer = setTimeout(done, SETTLE_BEFORE_QUIT_MS);
      subscriber.once('ready', done);
      subscriber.once('end', done);
    });
  }
  await subscriber.quit().catch(() => subscriber.disconnect());
}
