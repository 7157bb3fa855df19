import { createClient } from 'redis';
import { RedisConnectionError } from '../common/errors.js';
import type { RedisRole } from './connection.js';
import { describeRedisUrl, explainRedisError } from './connection.js';
import { urlDatabase } from './database.js';
import { tlsConnectionOptions, usesTls, type TlsSettings } from './tls.js';

/**
 * node-redis (`redis`) connections by role, on one node: the same roles as the ioredis ones
 * (connection.ts), with node-redis's means.
 *
 * - Every role: RESP2, as the ioredis connections speak (redis 6 would speak RESP3 unless told), the
 *   role as the client name, a 3 s connect timeout, and reconnects with the same capped backoff
 *   as ioredis (100 ms more per attempt, at most 2 s). The URL carries user, password, database
 *   and `rediss://`; REDIS_TLS_CA_FILE and REDIS_TLS_SERVERNAME go into the TLS socket.
 * - `worker`: no command timeout (node-redis has 5 s by default): BullMQ's blocking commands
 *   wait longer than that, and commands wait through a reconnect (ioredis's
 *   `maxRetriesPerRequest: null`). BullMQ duplicates this connection for its blocking one.
 * - `producer`: no offline queue: while Redis is away an enqueue fails at once instead of hanging.
 * - `cache`: commands wait through a reconnect, but not longer than ioredis's cache connection
 *   would (about 9 s of reconnects, see connection.ts), so a job reports the problem.
 * - `subscriber`: a connection of its own (a node-redis client in subscriber mode runs nothing
 *   else), waiting through reconnects; node-redis resubscribes by itself.
 */
const CONNECT_TIMEOUT_MS = 3000;
const CACHE_COMMAND_TIMEOUT_MS = 9100;

/** The capped backoff of the ioredis connections (`retries` counts from 0 here, from 1 there). */
export function reconnectDelayMs(retries: number): number {
  return Math.min((retries + 1) * 100, 2000);
}

type ReconnectStrategy = (retries: number, cause: Error) => number | Error;

function createNodeRedis(url: string, role: RedisRole, tls: TlsSettings, reconnectStrategy: ReconnectStrategy) {
  return createClient({
    url,
    RESP: 2,
    name: `cache-stampede:${role}`,
    // node-redis reads the database from the path only; ioredis (and so the lab) also `?db=N`.
    ...(URL.canParse(url) && { database: urlDatabase('the Redis URL', new URL(url)) }),
    socket: {
      connectTimeout: CONNECT_TIMEOUT_MS,
      reconnectStrategy,
      // `tls` is left out for redis://: node-redis refuses a `tls` option that disagrees with the URL.
      ...(usesTls(url) && { tls: true as const, ...tlsConnectionOptions(tls) }),
    },
    commandOptions: { timeout: role === 'cache' ? CACHE_COMMAND_TIMEOUT_MS : 0 },
    disableOfflineQueue: role === 'producer',
  });
}

/** A connected node-redis client of the lab. */
export type NodeRedis = ReturnType<typeof createNodeRedis>;

/**
 * Connect a node-redis client for `role` to the one Redis of `url`. The first connection fails
 * fast, with one line naming host and cause (node-redis would otherwise retry it forever, its
 * errors reported only as events); once connected, it reconnects with the capped backoff.
 * Attach an 'error' listener of your own: node-redis reports each lost connection as one.
 */
export async function connectNodeRedis(url: string, role: RedisRole, tls: TlsSettings = {}): Promise<NodeRedis> {
  let connected = false;
  let firstError: unknown;
  const client = createNodeRedis(url, role, tls, (retries, cause) => {
    if (connected) return reconnectDelayMs(retries);
    firstError ??= cause;
    return new Error('no connection at start-up');
  });
  // Until connected, errors are the cause to report; afterwards the caller's listener logs them
  // (node-redis throws an 'error' that no listener takes).
  client.on('error', (err: unknown) => {
    if (!connected) firstError ??= err;
  });
  client.once('ready', () => {
    connected = true;
  });
  try {
    await client.connect();
  } catch (err) {
    if (client.isOpen) client.destroy();
    throw new RedisConnectionError(`cannot use Redis at ${describeRedisUrl(url)}: ${explainRedisError(firstError ?? err, url)}`, {
      cause: firstError ?? err,
    });
  }
  return client;
}

/** Close gracefully (the replies still due arrive first); a connection that cannot is dropped. */
export async function closeNodeRedis(client: NodeRedis): Promise<void> {
  if (!client.isOpen) return;
  try {
    await client.close();
  } catch {
    if (client.isOpen) client.destroy();
  }
}
