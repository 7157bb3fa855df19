/**
 * The other process of the L1 scenario. Env BENCH_L1 (JSON): redisUrl, prefix, key. A guard
 * with an L1 tier reads `key` in a loop, yielding to the event loop between reads as a server
 * handling requests does, and reports each change of value with the time it saw it
 * (performance.timeOrigin + now: comparable across processes on one machine, to the µs).
 * Says `ready` once its tier answers; exits when stdin closes.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { createGuard } from '../../../src/cache/guard.js';
import { redisOptionsFor } from '../../redis/connection.js';
import { commands, failChild, say, untilClosed } from '../child-protocol.js';

export interface L1ReaderConfig {
  redisUrl: string;
  prefix: string;
  key: string;
}

try {
  const config = JSON.parse(process.env.BENCH_L1 ?? '') as L1ReaderConfig;
  const redis = new Redis(config.redisUrl, redisOptionsFor('cache'));
  const subscriber = new Redis(config.redisUrl, redisOptionsFor('subscriber'));
  const guard = createGuard({ redis, subscriber, keyPrefix: config.prefix, l1: { maxEntries: 1000 }, valueTtlMs: 600_000 });
  const read = async () => (await guard.getOrCompute(config.key, async () => 'computed-by-the-reader')).value;
  let last = await read();
  say({ type: 'ready' });
  let running = true;
  const loop = (async () => {
    while (running) {
      const value = await read();
      if (value !== last) {
        last = value;
        say({ type: 'changed', value, at: performance.timeOrigin + performance.now() });
      }
      await yieldToLoop();
    }
  })();
  await untilClosed(commands());
  running = false;
  await loop;
  await guard.close();
  await Promise.all([redis.quit(), subscriber.quit()]);
} catch (err) {
  failChild(err);
}
