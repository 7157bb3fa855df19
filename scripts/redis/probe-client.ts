import { Redis, type RedisOptions } from 'ioredis';
import { RedisConnectionError } from '../common/errors.js';

/**
 * No retries, no offline queue: a probe answers now or fails now. No ready check either: it is
 * an INFO, which the probe's caller asks itself (startup-info.ts), saying what to do when an ACL
 * refuses it, where ioredis would print a warning of its own.
 */
const probeOptions = (timeoutMs: number): RedisOptions => ({
  lazyConnect: true,
  enableReadyCheck: false,
  connectTimeout: timeoutMs,
  maxRetriesPerRequest: 0,
  enableOfflineQueue: false,
  retryStrategy: () => null,
  reconnectOnError: () => false,
});

/**
 * Connect once to one Redis node, authenticate, PING, run `then` on the client, disconnect.
 * Throws the real cause of a failure: ioredis reports it (ECONNREFUSED, ENOTFOUND, WRONGPASS,
 * ...) only as an 'error' event, and connect() then rejects with a bare "Connection is closed.".
 */
export async function probeRedis<T>(
  target: RedisOptions & { url?: string },
  timeoutMs: number,
  then: (client: Redis) => Promise<T>,
): Promise<T> {
  const { url, ...options } = target;
  const client =
    url === undefined ? new Redis({ ...options, ...probeOptions(timeoutMs) }) : new Redis(url, { ...options, ...probeOptions(timeoutMs) });
  let firstError: unknown;
  client.on('error', (err: unknown) => {
    firstError ??= err;
  });
  try {
    await client.connect();
    // ioredis only prints a warning when the server has no password but one was given, and goes
    // on; a password the server ignores usually means the wrong server, so AUTH again and fail.
    const { username, password } = client.options;
    if (password) await client.call('AUTH', ...(username ? [username, password] : [password]));
    await client.ping();
    return await then(client);
  } catch (err) {
    throw err instanceof RedisConnectionError ? err : (firstError ?? err);
  } finally {
    client.disconnect();
  }
}
