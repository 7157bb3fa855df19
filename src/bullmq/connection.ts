import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { clientLibrary } from '../redis/adapt.js';
import { isIoRedisCluster, type SupportedRedisClient } from '../redis/client.js';
import { isNodeRedisCluster, type NodeRedisConnection } from '../redis/node-redis-types.js';

/**
 * What the get-value client does with its queue connection beyond handing it to BullMQ (which
 * takes ioredis and node-redis alike), for either library. Nothing here loads a library.
 */

type NodeRedisStreams = NodeRedisConnection & {
  xRevRange(key: string, end: string, start: string, options: { COUNT: number }): Promise<Array<{ id: string }>>;
};

/** A Redis Cluster (the queue then takes the `{bull}` prefix: names.ts). */
export function isClusterConnection(connection: SupportedRedisClient): boolean {
  if (clientLibrary(connection) === 'node-redis') return isNodeRedisCluster(connection as unknown as NodeRedisConnection);
  return isIoRedisCluster(connection);
}

/** The id of the newest event in the queue's event stream, or '0-0': where the client's QueueEvents start reading. */
export async function lastEventId(connection: SupportedRedisClient, stream: string): Promise<string> {
  if (clientLibrary(connection) === 'node-redis') {
    const [last] = await (connection as unknown as NodeRedisStreams).xRevRange(stream, '+', '-', { COUNT: 1 });
    return last?.id ?? '0-0';
  }
  const [last] = await (connection as Redis).xrevrange(stream, '+', '-', 'COUNT', 1);
  return last?.[0] ?? '0-0';
}

/**
 * The template of the events connection: the caller's connection (host, credentials, TLS) with
 * what a blocking reader needs. ioredis: `maxRetriesPerRequest: null` (BullMQ's rule), and
 * `lazyConnect` keeps this one from connecting itself (BullMQ opens its own duplicate of it).
 * node-redis: a duplicate, unconnected (BullMQ connects it).
 */
export function duplicateForEvents(connection: SupportedRedisClient): SupportedRedisClient {
  if (clientLibrary(connection) === 'node-redis')
    return (connection as unknown as NodeRedisConnection).duplicate() as unknown as SupportedRedisClient;
  const node: RedisOptions = { maxRetriesPerRequest: null, lazyConnect: true };
  if (!isIoRedisCluster(connection)) return (connection as Redis).duplicate(node);
  const cluster = connection as Cluster;
  return cluster.duplicate([], { lazyConnect: true, redisOptions: { ...cluster.options.redisOptions, ...node } });
}

/** Close the events connection at once (its QueueEvents is closed). */
export function dropEventsConnection(connection: SupportedRedisClient): void {
  if (clientLibrary(connection) === 'node-redis') {
    const client = connection as unknown as NodeRedisConnection;
    if (client.isOpen) client.destroy();
    return;
  }
  (connection as Redis).disconnect();
}
