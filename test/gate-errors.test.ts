/**
 * Which failures of a Redis step mean "Redis is unavailable" (the breaker opens, onRedisDown
 * applies) and which are the command's own (they fail the call as before): real errors from a
 * real client and server, not made-up ones.
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidKeyError } from '../src/errors.js';
import { meansUnavailable } from '../src/redis/gate.js';
import { closeAll, connect } from './support/redis.js';

const redis = connect();
afterAll(() => closeAll(redis));

async function errorOf(step: () => Promise<unknown>): Promise<unknown> {
  return step().then(
    () => null,
    (err: unknown) => err,
  );
}

describe('meansUnavailable', () => {
  it("counts the connection's failures: refused, a client that gave up, a write to a closed stream", async () => {
    const refused = new Redis('redis://127.0.0.1:1', { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
    refused.on('error', () => {});
    const offline = new Redis('redis://127.0.0.1:1', { enableOfflineQueue: false, lazyConnect: true });
    try {
      expect(meansUnavailable(await errorOf(() => refused.connect()))).toBe(true); // ECONNREFUSED
      expect(meansUnavailable(await errorOf(() => refused.get('k')))).toBe(true); // Connection is closed / retries exhausted
      expect(meansUnavailable(await errorOf(() => offline.get('k')))).toBe(true); // Stream isn't writeable
    } finally {
      refused.disconnect();
      offline.disconnect();
    }
  });

  it("does not count the command's own errors, the guard's, or a bug", async () => {
    expect(meansUnavailable(await errorOf(() => redis.call('NO-SUCH-COMMAND')))).toBe(false); // ERR unknown command
    expect(meansUnavailable(await errorOf(() => redis.eval("return redis.error_reply('ERR mine')", 0)))).toBe(false);
    expect(meansUnavailable(await errorOf(() => redis.evalsha('0'.repeat(40), 0)))).toBe(false); // NOSCRIPT
    expect(meansUnavailable(new InvalidKeyError('bad key'))).toBe(false);
    expect(meansUnavailable(new TypeError('x is not a function'))).toBe(false);
  });

  it('counts the replies of a Redis that cannot serve now (LOADING, BUSY, ...)', async () => {
    const busy = await errorOf(() => redis.eval("return redis.error_reply('BUSY Redis is busy running a script')", 0));
    const loading = await errorOf(() => redis.eval("return redis.error_reply('LOADING Redis is loading the dataset in memory')", 0));
    expect(meansUnavailable(busy)).toBe(true);
    expect(meansUnavailable(loading)).toBe(true);
  });
});
