/**
 * Lua scripts run with EVALSHA and fall back to EVAL on NOSCRIPT, logging `script.not-cached`
 * once. This file runs its own redis-server: it empties the script cache (SCRIPT FLUSH), which
 * must not disturb other test files, and counts warnings no other file's flush may add to.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createGuard, type StampedeGuard } from '../src/cache/guard.js';
import { cacheKeys } from '../src/keys.js';
import { acquireLock, extendLock, releaseLock } from '../src/lock/redis-lock.js';
import { LuaScript } from '../src/redis/script.js';
import { startEmbeddedRedis, type EmbeddedRedis } from '../scripts/redis/redis-server.js';
import { captureLogger } from './support/log-capture.js';
import { closeAll } from './support/redis.js';
import { toPort } from '../src/redis/adapt.js';

let server: EmbeddedRedis;
let redis: Redis;
let guard: StampedeGuard;
const prefix = 'scripts';

beforeAll(async () => {
  server = await startEmbeddedRedis();
  redis = new Redis(server.url, { maxRetriesPerRequest: 2 });
  guard = createGuard({ redis, keyPrefix: prefix });
});
afterAll(async () => {
  await guard?.close();
  await closeAll(redis);
  await server?.stop();
});

let counter = 0;
const coldKey = () => `cold-${++counter}`;

/** One redis-lock miss on a key nobody has computed: runs cache.claim and cache.fenced-write. */
async function coldCall(target: StampedeGuard = guard) {
  const capture = captureLogger();
  const key = coldKey();
  const result = await target.getOrCompute(key, async () => `value of ${key}`, { logger: capture.logger });
  expect(result).toEqual({ value: `value of ${key}`, source: 'computed' });
  return notCached(capture.lines);
}

/** The `script` field of each script.not-cached line, sorted. */
function notCached(lines: { event?: string; [field: string]: unknown }[]): string[] {
  return lines
    .filter((l) => l.event === 'script.not-cached')
    .map((l) => {
      expect(l.level).toBe(40); // a warning
      return String(l.script);
    })
    .sort();
}

describe('script.not-cached', () => {
  it('on a fresh server, the first call warns once per script it ran, the next call not at all', async () => {
    expect(await coldCall()).toEqual(['cache.claim', 'cache.fenced-write']);
    expect(await coldCall()).toEqual([]);
  });

  it('after SCRIPT FLUSH: the next call succeeds and warns once per script, a further call not at all', async () => {
    await coldCall(); // warm
    expect(await redis.script('FLUSH')).toBe('OK');
    expect(await coldCall()).toEqual(['cache.claim', 'cache.fenced-write']);
    expect(await coldCall()).toEqual([]);
  });

  it('warns again for a flush right after the scripts were first loaded by EVAL', async () => {
    // Only EVAL has run since the last warning (no EVALSHA succeeded in between): a second
    // emptying of the cache is still a new event and must be reported.
    await redis.script('FLUSH');
    expect(await coldCall()).toEqual(['cache.claim', 'cache.fenced-write']);
    await redis.script('FLUSH');
    expect(await coldCall()).toEqual(['cache.claim', 'cache.fenced-write']);
    expect(await coldCall()).toEqual([]);
  });

  it('puts the script back in the cache: EVALSHA works again after the fallback', async () => {
    await redis.script('FLUSH');
    await coldCall();
    const before = await redis.info('commandstats');
    const evalCalls = (info: string) => Number(/^cmdstat_eval:calls=(\d+)/m.exec(info)?.[1] ?? 0);
    await coldCall();
    const after = await redis.info('commandstats');
    expect(evalCalls(after)).toBe(evalCalls(before));
  });

  it('covers the release and extend scripts too, each warning once', async () => {
    const capture = captureLogger();
    const keys = cacheKeys(prefix, coldKey());
    // Load and use each script once, so all three are warm.
    const warm = (await acquireLock(toPort(redis), keys, 30_000, capture.logger))!;
    await extendLock(toPort(redis), keys, warm, 30_000, capture.logger);
    await releaseLock(toPort(redis), keys, warm, capture.logger);
    await redis.script('FLUSH');
    capture.lines.length = 0;

    const lease = (await acquireLock(toPort(redis), keys, 30_000, capture.logger))!;
    expect(lease).not.toBeNull();
    expect(await extendLock(toPort(redis), keys, lease, 60_000, capture.logger)).toBe(true);
    expect(await redis.pttl(keys.lock)).toBeGreaterThan(30_000);
    expect(await releaseLock(toPort(redis), keys, lease, capture.logger)).toBe(true);
    expect(notCached(capture.lines)).toEqual(['lock.acquire', 'lock.extend', 'lock.release']);

    capture.lines.length = 0;
    const again = (await acquireLock(toPort(redis), keys, 30_000, capture.logger))!;
    await extendLock(toPort(redis), keys, again, 30_000, capture.logger);
    await releaseLock(toPort(redis), keys, again, capture.logger);
    expect(notCached(capture.lines)).toEqual([]);
  });

  it('concurrent calls after a flush, on one connection, warn once per script', async () => {
    await coldCall();
    for (let round = 0; round < 3; round++) {
      await redis.script('FLUSH');
      const capture = captureLogger();
      const results = await Promise.all(
        Array.from({ length: 25 }, (_, i) => guard.getOrCompute(`burst-${round}-${i}`, async () => i, { logger: capture.logger })),
      );
      expect(results.map((r) => r.value)).toEqual(Array.from({ length: 25 }, (_, i) => i));
      expect(notCached(capture.lines)).toEqual(['cache.claim', 'cache.fenced-write']);
    }
  });

  it('concurrent calls after a flush, from several connections of one process, warn at most once per script', async () => {
    const connections = [0, 1, 2].map(() => new Redis(server.url, { maxRetriesPerRequest: 2 }));
    const guards = connections.map((c) => createGuard({ redis: c, keyPrefix: prefix }));
    try {
      await Promise.all(connections.map((c) => c.ping()));
      await coldCall();
      for (let round = 0; round < 5; round++) {
        await redis.script('FLUSH');
        const capture = captureLogger();
        // Staggered starts: some calls are sent before the first EVAL is back, some after.
        await Promise.all(
          guards.flatMap((g, gi) =>
            Array.from({ length: 15 }, async (_, i) => {
              if (i % 3 === 1) await new Promise((resolve) => setImmediate(resolve));
              if (i % 3 === 2) await new Promise((resolve) => setTimeout(resolve, i));
              return g.getOrCompute(`multi-${round}-${gi}-${i}`, async () => i, { logger: capture.logger });
            }),
          ),
        );
        const warned = notCached(capture.lines);
        expect(warned).toEqual(['cache.claim', 'cache.fenced-write']);
      }
    } finally {
      await Promise.all(guards.map((g) => g.close()));
      await closeAll(...connections);
    }
  });
});

describe('LuaScript errors', () => {
  it("a script's own error is the caller's, never taken for NOSCRIPT (no warning, no EVAL), even when it names NOSCRIPT", async () => {
    const capture = captureLogger();
    const failing = new LuaScript('test.failing', "return redis.error_reply('refused: NOSCRIPT is in the text')", 0);
    await redis.eval('return 1', 0); // a round trip, so commandstats below start from here
    const evals = async () => Number(/cmdstat_eval:calls=(\d+)/.exec(await redis.info('commandstats'))?.[1] ?? 0);
    await expect(failing.run(toPort(redis), [], [], { log: capture.logger })).rejects.toThrow(/NOSCRIPT/); // not loaded yet: NOSCRIPT, then EVAL
    const before = await evals();
    await expect(failing.run(toPort(redis), [], [], { log: capture.logger })).rejects.toThrow('refused: NOSCRIPT is in the text');
    expect(await evals()).toBe(before);
    expect(capture.count('script.not-cached')).toBe(1);
  });

  it('refuses to run with the wrong number of keys, before sending anything', async () => {
    const script = new LuaScript('test.keys', 'return KEYS[1]', 1);
    await expect(script.run(toPort(redis), [], [])).rejects.toThrow('script test.keys takes 1 keys, got 0');
  });
});
