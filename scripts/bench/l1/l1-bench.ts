import type { Redis } from 'ioredis';
import { createGuard } from '../../../src/cache/guard.js';
import { ascending, percentileOfSorted } from '../../report/percentile.js';
import { createRedis } from '../../redis/connection.js';
import { benchFile, expectType, spawnChild } from '../child-process.js';
import type { CommandMeter } from '../command-stats.js';
import type { Rows } from '../rows.js';
import type { L1ReaderConfig } from './reader-child.js';

/**
 * Scenario: the L1 tier. Two measurements:
 * - Redis commands per hit: the same reads of a warm key (50 callers x 200 reads) with and
 *   without the tier, INFO commandstats around each;
 * - how long a write takes to reach another process's tier: this process sets or deletes the
 *   key, a reader process (reading in a loop) reports when it sees the change; alternating sets
 *   and deletes, the time from the write's call to the reader's first read of the new value.
 */
export const L1 = 'l1';
const CALLERS = 50;
const READS = 200;

export async function runL1Bench(
  redisUrl: string,
  meter: CommandMeter,
  admin: Redis,
  rows: Rows,
  progress: (line: string) => void,
  changes: number,
): Promise<void> {
  progress(`l1: ${CALLERS} callers x ${READS} reads of a warm key, with and without the L1 tier`);
  for (const [system, l1] of [
    ['redis hits', false],
    ['l1 hits', true],
  ] as const) {
    rows.add(L1, system, 'redis.commands/read', await commandsPerRead(redisUrl, meter, l1), 'commands (INFO commandstats)');
  }
  progress(`l1: ${changes} sets and deletes reaching another process's tier`);
  const delays = await propagation(redisUrl, changes);
  const sorted = [...delays].sort(ascending);
  rows.add(L1, 'write to other process', 'delay.p50', percentileOfSorted(sorted, 50) ?? Number.NaN, 'ms');
  rows.add(L1, 'write to other process', 'delay.p99', percentileOfSorted(sorted, 99) ?? Number.NaN, 'ms');
  rows.add(L1, 'write to other process', 'delay.max', sorted.at(-1) ?? Number.NaN, 'ms');
  await admin.flushall();
}

async function commandsPerRead(redisUrl: string, meter: CommandMeter, l1: boolean): Promise<number> {
  const redis = createRedis(redisUrl, 'cache');
  const subscriber = createRedis(redisUrl, 'subscriber');
  const guard = createGuard({
    redis,
    subscriber,
    keyPrefix: `bench-l1-${l1}`,
    valueTtlMs: 600_000,
    ...(l1 && { l1: { maxEntries: 100 } }),
  });
  try {
    await guard.getOrCompute('warm', async () => 'value');
    // Let the tier's bus subscription settle outside the window.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stop = await meter.start();
    await Promise.all(
      Array.from({ length: CALLERS }, async () => {
        for (let i = 0; i < READS; i++) await guard.getOrCompute('warm', async () => 'value');
      }),
    );
    const server = await stop();
    return server.total / (CALLERS * READS);
  } finally {
    await guard.close();
    await Promise.all([redis.quit(), subscriber.quit()]);
  }
}

async function propagation(redisUrl: string, changes: number): Promise<number[]> {
  const prefix = 'bench-l1-propagation';
  const key = 'k';
  const redis = createRedis(redisUrl, 'cache');
  const subscriber = createRedis(redisUrl, 'subscriber');
  const writer = createGuard({ redis, subscriber, keyPrefix: prefix, l1: { maxEntries: 10 }, valueTtlMs: 600_000 });
  await writer.set(key, 'v0');
  const config: L1ReaderConfig = { redisUrl, prefix, key };
  const reader = spawnChild(benchFile('./l1/reader-child.ts'), { env: { BENCH_L1: JSON.stringify(config) } });
  const delays: number[] = [];
  try {
    expectType(await reader.next(60_000), 'ready', reader);
    await new Promise((resolve) => setTimeout(resolve, 200)); // its tier holds v0 by now
    for (let i = 1; i <= changes; i++) {
      // A delete makes the reader recompute ('computed-by-the-reader'); a set brings a new value.
      const deleting = i % 2 === 0;
      const started = performance.timeOrigin + performance.now();
      if (deleting) await writer.delete(key);
      else await writer.set(key, `v${i}`);
      const seen = await reader.next<{ type: string; value: string; at: number }>(10_000);
      expectType(seen, 'changed', reader);
      delays.push(seen.at - started);
    }
  } finally {
    await reader.finish();
    await writer.close();
    await Promise.all([redis.quit(), subscriber.quit()]);
  }
  return delays;
}
