/**
 * Waiting is notified, not polled. This file runs its own redis-server: INFO commandstats
 * counts every client of a server, so only a server no other test file uses gives exact counts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createGuard } from '../src/cache/guard.js';
import { startEmbeddedRedis, type EmbeddedRedis } from '../scripts/redis/redis-server.js';
import { captureLogger } from './support/log-capture.js';
import { closeAll, commandCounts } from './support/redis.js';
import { deferred, sleep, waitUntil } from './support/wait.js';

let server: EmbeddedRedis;
let observer: Redis;

beforeAll(async () => {
  server = await startEmbeddedRedis();
  observer = new Redis(server.url, { maxRetriesPerRequest: 2 });
});
afterAll(async () => {
  await closeAll(observer);
  await server?.stop();
});

/** Commands the server ran, by name, without the observer's own INFO calls. */
async function counts(): Promise<Map<string, number>> {
  const all = await commandCounts(observer);
  all.delete('info');
  return all;
}

function delta(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, calls] of after) {
    const d = calls - (before.get(name) ?? 0);
    if (d !== 0) out[name] = d;
  }
  return out;
}

/**
 * Process A computes `key` for `holdMs` after process B's caller has started waiting for it.
 * Returns the commands the server ran for the whole operation, and those it ran while B waited.
 */
async function holderAndWaiter(key: string, holdMs: number) {
  const redisA = new Redis(server.url);
  const redisB = new Redis(server.url);
  const subscriberB = new Redis(server.url);
  await Promise.all([redisA.ping(), redisB.ping(), subscriberB.ping()]);
  const logB = captureLogger();
  const guardA = createGuard({ redis: redisA, keyPrefix: 'wait', lockTtlMs: 30_000 });
  const guardB = createGuard({
    redis: redisB,
    subscriber: subscriberB,
    keyPrefix: 'wait',
    lockTtlMs: 30_000,
    logger: logB.logger,
  });

  const before = await counts();
  const computing = deferred();
  const finish = deferred<string>();
  const callA = guardA.getOrCompute(key, async () => {
    computing.resolve();
    return finish.promise;
  });
  await computing.promise;

  const readsBefore = (await counts()).get('hmget') ?? 0;
  let waiterComputed = false;
  const callB = guardB.getOrCompute(key, async () => {
    waiterComputed = true;
    return 'the waiter computed';
  });
  // B is waiting once Redis has served its two reads: the miss, and the re-read after its
  // SUBSCRIBE was confirmed. (Its failed acquire reads nothing.)
  await waitUntil('the waiter is waiting', async () => ((await counts()).get('hmget') ?? 0) >= readsBefore + 2);

  const waitStarted = await counts();
  await sleep(holdMs);
  const waitEnded = await counts();
  finish.resolve(`value after ${holdMs} ms`);
  const [a, b] = await Promise.all([callA, callB]);

  await Promise.all([guardA.close(), guardB.close()]);
  // QUIT is answered after everything sent before it on that connection (B's UNSUBSCRIBE too).
  await closeAll(redisA, redisB, subscriberB);
  const after = await counts();
  return {
    a,
    b,
    holdMs,
    waiterComputed,
    whole: delta(before, after),
    duringWait: delta(waitStarted, waitEnded),
    waitEnd: logB.lines.find((l) => l.event === 'wait.end'),
  };
}

describe('a waiter in another process', () => {
  it("sends no commands while it waits but the gate's probe: a 200 ms and a 2000 ms computation cost the same other commands", async () => {
    // Warm up: the first run on a fresh server also loads the Lua scripts (EVAL after NOSCRIPT).
    await holderAndWaiter('warm-up', 0);

    const short = await holderAndWaiter('short', 200);
    const long = await holderAndWaiter('long', 2000);

    for (const run of [short, long]) {
      expect(run.b.value).toBe(run.a.value);
      expect(run.a.source).toBe('computed');
      expect(run.b.source).toBe('waited');
      expect(run.waiterComputed).toBe(false);
      expect(run.waitEnd?.outcome).toBe('value');
      // Only the gate's liveness probe (gate.ts): one HEXISTS per half redisTimeoutMs (500 ms) per
      // process with a call in a wait (here only B; a holder is not probed), not one per waiter.
      const { hexists: probes = 0, ...others } = run.duringWait;
      expect(others).toEqual({});
      expect(probes).toBeLessThanOrEqual(Math.ceil(run.holdMs / 500) + 1);
      // Sanity: the counts did see the operation (one subscription, lock scripts, reads).
      expect(run.whole.subscribe).toBe(1);
      expect(run.whole.evalsha).toBeGreaterThanOrEqual(3);
      expect(run.whole.hmget).toBeGreaterThanOrEqual(4);
    }
    const { hexists: longProbes = 0, ...longOthers } = long.whole;
    const { hexists: shortProbes = 0, ...shortOthers } = short.whole;
    expect(longOthers).toEqual(shortOthers);
    expect(longProbes).toBeGreaterThan(shortProbes); // the probe did run while B waited 2 s
    // B really waited the whole 2 s without a command (timers may fire a hair early).
    expect(long.waitEnd?.waitedMs as number).toBeGreaterThanOrEqual(1950);
  }, 60_000);
});
