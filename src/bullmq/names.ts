import type { SupportedRedisClient } from '../redis/client.js';
import { isClusterConnection } from './connection.js';

/** The queue contract: any BullMQ client, in any language, can enqueue these jobs. */
export const DEFAULT_QUEUE_NAME = 'cache-stampede';
/** BullMQ's own default prefix, kept so other BullMQ clients find the queue without options. */
export const QUEUE_PREFIX = 'bull';
/**
 * The prefix on a Redis Cluster. BullMQ's scripts touch several keys of a queue at once, which
 * a cluster allows only within one hash slot; BullMQ's documented way is a prefix that is a hash
 * tag, so every key of the queue (`{bull}:cache-stampede:wait`, ...) lands in the slot of `bull`.
 * Other BullMQ clients of the queue on a cluster must pass `prefix: '{bull}'` too.
 */
export const CLUSTER_QUEUE_PREFIX = '{bull}';
export const JOB_NAME = 'get-value';

/** The queue's prefix on this connection: `{bull}` on a cluster, `bull` on one node. */
export function queuePrefix(connection: SupportedRedisClient): string {
  return isClusterConnection(connection) ? CLUSTER_QUEUE_PREFIX : QUEUE_PREFIX;
}
