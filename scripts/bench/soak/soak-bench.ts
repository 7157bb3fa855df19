import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { scanKeys } from '../../redis/scan.js';
import { benchFile, expectType, spawnChild } from '../child-process.js';
import type { BenchOptions } from '../options.js';
import type { Rows } from '../rows.js';
import type { SoakChildConfig, SoakSample } from './soak-child.js';

/**
 * Scenario 5, on request (`--scenarios soak`): a long run of one worker process. At least
 * `soakRecomputations` recomputations of 50 KB values with every strategy, two guards asking
 * for each key (one computes, the other waits or coalesces), never closing the guards. Heap and
 * RSS after a full GC at the start and at every tenth; then, once every value's fresh time,
 * grace and lock TTL have passed, how many of the project's keys are left in Redis.
 */
export const SOAK = 'soak';
export const SOAK_SYSTEM = 'worker (all strategies)';
const TIMINGS = { valueTtlMs: 1000, graceMs: 1000, lockTtlMs: 2000 };

export async function runSoakBench(
  options: BenchOptions,
  redisUrl: string,
  admin: Redis,
  rows: Rows,
  progress: (line: string) => void,
): Promise<void> {
  const prefix = `bench-soak-${randomBytes(3).toString('hex')}`;
  const config: SoakChildConfig = {
    redisUrl,
    prefix,
    recomputations: options.soakRecomputations,
    valueBytes: options.soakValueBytes,
    ...TIMINGS,
  };
  progress(`soak: one process, ${config.recomputations} recomputations of ${config.valueBytes / 1000} KB values, every strategy`);
  const child = spawnChild(benchFile('./soak/soak-child.ts'), { nodeArgs: ['--expose-gc'], env: { BENCH_SOAK: JSON.stringify(config) } });
  try {
    expectType(await child.next(120_000), 'ready', child);
    child.send('go');
    const samples: SoakSample[] = [];
    for (;;) {
      const message = await child.next<Record<string, unknown>>(600_000);
      if (message.type === 'sample') {
        const s = message as unknown as SoakSample;
        samples.push(s);
        progress(`soak: ${s.recomputations} recomputations, heap ${s.heapMb.toFixed(1)} MB, RSS ${s.rssMb.toFixed(0)} MB`);
        continue;
      }
      expectType(message, 'done', child);
      rows.add(SOAK, SOAK_SYSTEM, 'recomputations', message.recomputations as number, 'count');
      rows.add(SOAK, SOAK_SYSTEM, 'recomputations/s', (message.recomputations as number) / ((message.elapsedMs as number) / 1000), 'per s');
      break;
    }
    const first = samples[0]!;
    const last = samples.at(-1)!;
    rows.add(SOAK, SOAK_SYSTEM, 'heap.start', first.heapMb, 'MB after GC');
    rows.add(SOAK, SOAK_SYSTEM, 'heap.growth', last.heapMb - first.heapMb, 'MB after GC, start to end');
    rows.add(SOAK, SOAK_SYSTEM, 'heap.growth.max', Math.max(...samples.map((s) => s.heapMb - first.heapMb)), 'MB after GC, largest sample');
    rows.add(SOAK, SOAK_SYSTEM, 'rss.growth', last.rssMb - first.rssMb, 'MB, start to end');
    // RSS first grows to the working set (new-space, malloc arenas), then should stay flat.
    const tenth = samples[1] ?? first;
    rows.add(SOAK, SOAK_SYSTEM, 'rss.growth.after-first-tenth', last.rssMb - tenth.rssMb, 'MB, first tenth to end');

    // Everything the guard wrote lives at most a value's fresh time + grace, or a lock TTL.
    const lifetime = TIMINGS.valueTtlMs + TIMINGS.graceMs + TIMINGS.lockTtlMs + 500;
    progress(`soak: waiting ${lifetime} ms for every key to expire`);
    await new Promise((resolve) => setTimeout(resolve, lifetime));
    rows.add(SOAK, SOAK_SYSTEM, 'keys.left', (await scanKeys(admin, `${prefix}:*`)).length, 'keys under the prefix');
  } finally {
    await child.finish(30_000);
  }
}
