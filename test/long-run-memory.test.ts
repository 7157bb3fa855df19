/**
 * A worker runs for months and never closes its guard: nothing of a finished call may stay in
 * memory. Each case runs a guard in its own process (node --expose-gc) and compares the heap
 * after a full GC before and after many recomputations.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { redisUrl, uniquePrefix } from './support/redis.js';

interface HeapReport {
  computations: number;
  heapGrowthMb: number;
  rssGrowthMb: number;
}

async function runHeapChild(env: Record<string, string>): Promise<HeapReport> {
  const file = fileURLToPath(new URL('./fixtures/heap-child.ts', import.meta.url));
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', file], {
    env: { ...process.env, REDIS_URL: redisUrl(), PREFIX: uniquePrefix('heap'), ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk) => (out += chunk));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  expect(code).toBe(0);
  return JSON.parse(out.trim().split('\n').at(-1)!) as HeapReport;
}

describe('memory over a long run', () => {
  it('600 recomputations of 80 KB values with every strategy leave the heap where it was', async () => {
    const report = await runHeapChild({ ROUNDS: '600', VALUE_BYTES: '80000' });
    expect(report.computations).toBe(600);
    // 600 x 80 KB is 48 MB of values: keeping even a tenth of them would show.
    expect(report.heapGrowthMb).toBeLessThan(5);
  });

  // The node-redis adapter keeps state of its own (the subscriber's channels and listeners, the
  // resend of a command whose node was dropped): the waited and the outage runs on it too.
  it.each(['ioredis', 'node-redis'])(
    'on %s: 2000 recomputations each waited for by another guard, both with the L1 tier, leave the heap where it was',
    async (client) => {
      const report = await runHeapChild({
        ROUNDS: '2000',
        VALUE_BYTES: '20000',
        STRATEGIES: 'redis-lock,swr,xfetch',
        WAITERS: '1',
        L1: '1',
        TEST_REDIS_CLIENT: client,
      });
      // One computation per key in the fleet; the other guard waited for it (or read it).
      expect(report.computations).toBe(2000);
      // 2000 x 20 KB is 40 MB of values; the L1 tiers keep at most 2 x 100 of them (4 MB).
      expect(report.heapGrowthMb).toBeLessThan(9);
    },
  );

  it('2000 traced recomputations each waited for by another traced guard leave the heap where it was: no span, link or context stays behind', async () => {
    const report = await runHeapChild({
      ROUNDS: '2000',
      VALUE_BYTES: '20000',
      STRATEGIES: 'redis-lock,swr,xfetch',
      WAITERS: '1',
      TRACED: '1',
    });
    expect(report.computations).toBe(2000);
    // 40 MB of values and 4000+ spans went through; keeping a tenth of either would show.
    expect(report.heapGrowthMb).toBeLessThan(4);
  });

  it.each(['ioredis', 'node-redis'])(
    'on %s: 20000 calls while Redis is unavailable, each strategy, two guards, leave the heap where it was: the copies an outage keeps are bounded',
    async (client) => {
      const report = await runHeapChild({ ROUNDS: '20000', VALUE_BYTES: '1000', WAITERS: '1', REDIS_DOWN: '1', TEST_REDIS_CLIENT: client });
      // Each guard computes each key once (onRedisDown compute: nothing to share across processes).
      expect(report.computations).toBe(40_000);
      // 40 MB of values went through; each guard keeps at most 1000 of them (2 MB in all).
      expect(report.heapGrowthMb).toBeLessThan(4);
    },
  );

  it('5000 small recomputations through the Redis lock leave the heap where it was', async () => {
    const report = await runHeapChild({ ROUNDS: '5000', VALUE_BYTES: '100', STRATEGIES: 'redis-lock,swr' });
    expect(report.computations).toBe(5000);
    expect(report.heapGrowthMb).toBeLessThan(2);
  });
});
