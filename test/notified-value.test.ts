/**
 * The value travels in the holder's notification: a waiter in another process answers its
 * callers without reading Redis again. A value over the limit is announced, then read once.
 * The waiter's cache connection goes through a TCP proxy that counts what it sends.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createGuard, type StampedeGuard } from '../src/cache/guard.js';
import { NOTIFY_VALUE_MAX_BYTES } from '../src/cache/store.js';
import { createRedis } from '../scripts/redis/connection.js';
import { captureLogger } from './support/log-capture.js';
import { closeAll, redisUrl, uniquePrefix } from './support/redis.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { deferred, waitUntil } from './support/wait.js';

let proxy: TcpProxy;
const clients: Redis[] = [];
const guards: StampedeGuard[] = [];
beforeAll(async () => {
  const target = new URL(redisUrl());
  proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
});
afterAll(async () => {
  await Promise.all(guards.map((g) => g.close()));
  await closeAll(...clients);
  await proxy.close();
});

/** Requests the waiter's cache connection sent between the holder's write and the waiter's answer. */
async function requestsAfterTheWrite(value: string): Promise<{ result: unknown; requests: number }> {
  const prefix = uniquePrefix('notified');
  const holderRedis = new Redis(redisUrl());
  const waiterRedis = createRedis(proxy.url, 'cache');
  const waiterSubscriber = new Redis(redisUrl(), { enableReadyCheck: false }); // not through the proxy
  clients.push(holderRedis, waiterRedis, waiterSubscriber);
  const log = captureLogger();
  const holder = createGuard({ redis: holderRedis, keyPrefix: prefix, lockTtlMs: 30_000 });
  const waiter = createGuard({
    redis: waiterRedis,
    subscriber: waiterSubscriber,
    keyPrefix: prefix,
    lockTtlMs: 30_000,
    logger: log.logger,
  });
  guards.push(holder, waiter);

  await waiter.getOrCompute('warm', async () => 'loads the scripts');
  const computing = deferred();
  const gate = deferred<string>();
  const held = holder.getOrCompute('k', () => {
    computing.resolve();
    return gate.promise;
  });
  await computing.promise;
  const start = { requests: proxy.requests, replies: proxy.replies };
  const waited = waiter.getOrCompute('k', async () => 'the waiter computed');
  // Waiting: its first claim (busy), then SUBSCRIBE on its own connection, then a claim again,
  // answered (busy) before the holder writes.
  await waitUntil('both claims were answered', () => proxy.replies === start.replies + 2);
  expect(proxy.requests).toBe(start.requests + 2);
  const before = proxy.requests;
  gate.resolve(value);
  await held;
  const result = await waited;
  return { result, requests: proxy.requests - before };
}

describe('the value in the notification', () => {
  it('a small value reaches the waiter in the message: no read after the write', async () => {
    const { result, requests } = await requestsAfterTheWrite('small');
    expect(result).toEqual({ value: 'small', source: 'waited' });
    expect(requests).toBe(0);
  });

  it('a value over the limit is announced, then read once', async () => {
    const large = 'L'.repeat(NOTIFY_VALUE_MAX_BYTES + 100);
    const { result, requests } = await requestsAfterTheWrite(large);
    expect(result).toEqual({ value: large, source: 'waited' });
    expect(requests).toBe(1);
  });
});
