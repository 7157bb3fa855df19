import { Redis, type Cluster, type RedisOptions } from 'ioredis';
import { ConfigError, RedisConnectionError } from '../common/errors.js';
import { redactUrl } from '../common/logging.js';
import { describeClusterUrl, isClusterUrl } from './cluster-url.js';
import { assertClusterReachable, createCluster, duplicateClusterFor, isCluster, refuseClusterNode } from './cluster.js';
import { selectDatabase, urlDatabase } from './database.js';
import { probeRedis } from './probe-client.js';
import { explainTlsError, tlsConnectionOptions, usesTls, type TlsSettings } from './tls.js';

/**
 * Redis connections by role, on one node. Whoever creates a client closes it.
 *
 * - `worker`: BullMQ's blocking worker connection. `maxRetriesPerRequest: null` is BullMQ's
 *   requirement: commands wait through a reconnect instead of failing the worker.
 * - `producer`: fails fast; a producer that cannot enqueue should say so, not hang.
 * - `cache`: the guard's reads, writes and lock scripts; rides out a Redis restart or failover of
 *   up to ~9 s (the queue connection waits that out too, so failing the job sooner loses it for
 *   nothing), then fails so a job reports the problem instead of hanging.
 * - `subscriber`: the one pub/sub connection per process that waiters share; keeps retrying,
 *   no ready check (see below).
 *
 * On a Redis Cluster every role rides out a master's failover instead, for about 26 s, the
 * producer too: a failover is routine there, not a Redis that is gone (cluster.ts,
 * FAILOVER_RETRIES).
 */
export type RedisRole = 'worker' | 'producer' | 'cache' | 'subscriber';

/**
 * One Redis node or a Redis Cluster: what the code that uses a connection accepts. Both have the
 * same commands; the few places where they differ (SCAN, INFO, pub/sub, the queue prefix) ask
 * `isCluster`.
 */
export type RedisClient = Redis | Cluster;
export { isCluster };

const CONNECT_TIMEOUT_MS = 3000;
const CACHE_RETRIES_PER_REQUEST = 12;

export function redisOptionsFor(role: RedisRole): RedisOptions {
  const common: RedisOptions = {
    connectTimeout: CONNECT_TIMEOUT_MS,
    connectionName: `cache-stampede:${role}`,
    // Reconnect with capped backoff; a restarted Redis is picked up by itself.
    retryStrategy: (times) => Math.min(times * 100, 2000),
  };
  switch (role) {
    case 'worker':
      return { ...common, maxRetriesPerRequest: null };
    case 'subscriber':
      // No ready check (INFO): ioredis writes a SUBSCRIBE issued while it is still connecting
      // (SUBSCRIBE is allowed while Redis loads), and the INFO after it then fails in subscriber
      // mode; ioredis treats that as fatal, rejects the queued SUBSCRIBEs (failing their waiters'
      // jobs) or reconnects without them (losing their wake-ups). A pub/sub connection has
      // nothing to wait for: SUBSCRIBE works while Redis loads its data.
      return { ...common, maxRetriesPerRequest: null, enableReadyCheck: false };
    case 'producer':
      return { ...common, maxRetriesPerRequest: 2, enableOfflineQueue: true };
    case 'cache':
      // ioredis fails queued commands every (maxRetriesPerRequest + 1) reconnect attempts; with the
      // backoff above, 13 attempts take 100 + 200 + ... + 1300 ms = 9.1 s.
      return { ...common, maxRetriesPerRequest: CACHE_RETRIES_PER_REQUEST, enableOfflineQueue: true };
  }
}

/**
 * A connection to one Redis node. For code that works on one node only: a cluster URL is
 * refused with a clear error. Code that works on either uses `createRedisClient`.
 */
export function createRedis(url: string, role: RedisRole, tls: TlsSettings = {}): Redis {
  if (isClusterUrl(url)) throw new ConfigError(`this needs a single Redis, not the ${describeClusterUrl(url)}`);
  return new Redis(url, { ...redisOptionsFor(role), ...tlsOptionFor(url, tls) });
}

/** A client for `url`, one node or a cluster: a `Cluster` for a `redis+cluster://` URL, else a `Redis`. */
export function createRedisClient(url: string, role: RedisRole, tls: TlsSettings = {}): RedisClient {
  if (isClusterUrl(url)) return createCluster(url, role, redisOptionsFor(role), tls);
  return createRedis(url, role, tls);
}

/**
 * ioredis's `tls` option for a `rediss://` URL with the settings (a CA, a server name); nothing
 * for `redis://`, where any `tls` option would turn TLS on.
 */
function tlsOptionFor(url: string, tls: TlsSettings): RedisOptions {
  return usesTls(url) ? { tls: tlsConnectionOptions(tls) } : {};
}

/**
 * A new connection to the same Redis as `client`, for `role` (e.g. the guard's subscriber,
 * duplicated from the cache connection it was given).
 */
export function duplicateFor(client: RedisClient, role: RedisRole): RedisClient {
  return isCluster(client) ? duplicateClusterFor(client, role, redisOptionsFor(role)) : client.duplicate(redisOptionsFor(role));
}

/** `host:port` of a Redis URL, or `cluster host:port,...`, for messages (never the password). */
export function describeRedisUrl(url: string): string {
  if (isClusterUrl(url)) return describeClusterUrl(url);
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '6379'}`;
  } catch {
    return redactUrl(url);
  }
}

/**
 * Connect once, without retries, PING, and SELECT the URL's database: turns "Redis is not
 * there", "wrong password" or "no such database" into one clear error naming host and cause
 * within a few seconds, instead of a client that retries forever (or, for the database, goes on
 * in database 0). Call it at start-up before creating the long-lived clients. Resolves with
 * what is worth a warning line but no refusal: a cluster's nodes that do not answer while the
 * cluster is ok.
 */
export async function assertRedisReachable(url: string, tls: TlsSettings = {}, timeoutMs = CONNECT_TIMEOUT_MS): Promise<string[]> {
  if (isClusterUrl(url)) return assertClusterReachable(url, tls, timeoutMs, (err) => explainRedisError(err, url));
  const where = describeRedisUrl(url);
  const db = URL.canParse(url) ? urlDatabase('the Redis URL', new URL(url)) : 0;
  try {
    await probeRedis({ url, ...tlsOptionFor(url, tls) }, timeoutMs, async (probe) => {
      await refuseClusterNode(probe, where);
      await selectDatabase(probe, db, where);
    });
  } catch (cause) {
    if (cause instanceof RedisConnectionError) throw cause;
    throw new RedisConnectionError(`cannot use Redis at ${where}: ${explainRedisError(cause, url)}`, { cause });
  }
  return [];
}

/** A short human cause for the usual ways a connection to `url` fails. */
export function explainRedisError(err: unknown, url = ''): string {
  const e = err as { code?: string; message?: string };
  const message = e?.message ?? String(err);
  const tls = usesTls(url);
  if (e?.code === 'ECONNREFUSED') return 'connection refused (is redis-server running on that port?)';
  if (e?.code === 'ENOTFOUND' || e?.code === 'EAI_AGAIN') return 'unknown host';
  // A plain-text Redis never answers a TLS ClientHello (it waits for the end of an inline
  // command), so rediss:// to a plain port shows up as a timeout, not as a TLS error.
  if (e?.code === 'ETIMEDOUT' || /timed? ?out/i.test(message)) {
    return `connection timed out${tls ? ' (no TLS handshake: rediss:// to a plain-text port?)' : ''}`;
  }
  // And a TLS-only port drops a client that speaks plain text at once.
  // (node-redis says so as "Socket closed unexpectedly", without a code.)
  if (e?.code === 'ECONNRESET' || /^Socket closed unexpectedly/i.test(message)) {
    return `connection reset by the server${tls ? '' : ' (a TLS-only port? use rediss://)'}`;
  }
  if (/WRONGPASS|invalid password|invalid username-password/i.test(message)) {
    return 'wrong password (or user name, or the user is disabled)';
  }
  if (/NOAUTH/i.test(message)) return 'a password is required (put it in the URL: redis://[user]:password@host:port)';
  if (/without any password configured|no password is set/i.test(message)) return 'a password was given but the server has none';
  return explainTlsError(err) ?? redactUrl(message);
}
