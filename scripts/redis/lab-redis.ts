import { Queue } from 'bullmq';
import type { GetValueData } from '../../src/bullmq/job-data.js';
import { QUEUE_PREFIX, queuePrefix } from '../../src/bullmq/names.js';
import { DEFAULT_JOB_OPTIONS } from '../../src/bullmq/queue.js';
import type { RedisClientKind } from './client-kind.js';
import { createRedisClient, type RedisClient, type RedisRole } from './connection.js';
import { closeNodeRedis, connectNodeRedis, type NodeRedis } from './node-redis-connection.js';
import type { TlsSettings } from './tls.js';

/**
 * A connection of the lab's processes in either client library (REDIS_CLIENT): what the worker,
 * burst and demo hand to BullMQ and to the guard, which take both. The few things the lab does
 * with a connection itself (close it, log its errors, the queue's prefix) go through here.
 */
export type LabRedis = RedisClient | NodeRedis;

/** node-redis's client has no `defineCommand` (ioredis's Redis and Cluster both have it) and says `isReady`. */
export function isNodeRedis(client: LabRedis): client is NodeRedis {
  return typeof (client as { defineCommand?: unknown }).defineCommand !== 'function' && 'isReady' in client;
}

/**
 * A connection of `kind` for `role`. ioredis's connects in the background (start-up problems were
 * found by assertRedisReachable before); node-redis's is connected when this resolves, or fails
 * with one line naming host and cause.
 */
export async function openRedis(kind: RedisClientKind, url: string, role: RedisRole, tls: TlsSettings = {}): Promise<LabRedis> {
  return kind === 'node-redis' ? connectNodeRedis(url, role, tls) : createRedisClient(url, role, tls);
}

/** Close gracefully, or drop the connection when that fails. */
export async function closeRedis(client: LabRedis): Promise<void> {
  if (isNodeRedis(client)) return closeNodeRedis(client);
  await client.quit().catch(() => client.disconnect());
}

/** Report each connection error (both libraries reconnect by themselves after one). */
export function onRedisError(client: LabRedis, listener: (err: unknown) => void): void {
  if (isNodeRedis(client)) client.on('error', listener);
  else client.on('error', listener);
}

/** The queue's prefix on this connection: node-redis runs on one node only (client-kind.ts). */
export function labQueuePrefix(client: LabRedis): string {
  return isNodeRedis(client) ? QUEUE_PREFIX : queuePrefix(client);
}

/** The get-value queue on a connection of either library, with the project's job options (src/bullmq/queue.ts). */
export function createLabQueue(name: string, connection: LabRedis): Queue<GetValueData> {
  return new Queue<GetValueData>(name, { connection, prefix: labQueuePrefix(connection), defaultJobOptions: DEFAULT_JOB_OPTIONS });
}
