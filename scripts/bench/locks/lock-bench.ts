import type { Redis } from 'ioredis';
import { ascending, percentileOfSorted } from '../../report/percentile.js';
import { rotate, type BenchOptions } from '../options.js';
import { median, type Rows } from '../rows.js';
import type { LockAdapter, LockAdapterFactory } from './adapter.js';

/**
 * Scenario 2: acquire + release operations per second, three ways:
 * - `distinct-serial`: a fresh key each time, one operation at a time (pure round-trip cost);
 * - `distinct-parallel`: fresh keys, N operations in flight (throughput of one connection);
 * - `contended`: N contenders on one key, each acquiring and releasing in a loop (handoff
 *   throughput, and how long a contender waits: p50/p99 of acquire time).
 *
 * Runs in this process, one connection per system. On a shared machine the throughput drifts
 * by the second, so the systems take turns in short slices (A B C, B C A, C A B, ...) and a
 * ratio is the median of the per-cycle ratios: each compares runs a few hundred ms apart.
 * A slice counts the operations completed inside its window; operations under way at its end
 * finish untimed, except that a contender still waiting then is recorded with its wait so
 * far (a starved contender must not drop out of the p99).
 */
export const LOCK_CASES = ['distinct-serial', 'distinct-parallel', 'contended'] as const;
export type LockCase = (typeof LOCK_CASES)[number];

export interface LockSystem {
  id: string;
  label: string;
  load: () => Promise<{ create: LockAdapterFactory }>;
}

export const LOCK_SYSTEMS: LockSystem[] = [
  { id: 'cache-stampede', label: 'cache-stampede guard.lock', load: () => import('./project.js') },
  { id: 'cache-stampede-raw', label: 'cache-stampede acquireLock/releaseLock', load: () => import('./project-raw.js') },
  { id: 'redlock', label: 'redlock 5 acquire/release', load: () => import('./redlock.js') },
  { id: 'redis-semaphore', label: 'redis-semaphore Mutex', load: () => import('./redis-semaphore.js') },
];

export const lockScenario = (c: LockCase) => `locks/${c}`;

/** Slice length: contended slices are longer, as each ends with a tail of waiting contenders. */
export const SLICE_MS: Record<LockCase, number> = { 'distinct-serial': 250, 'distinct-parallel': 250, contended: 1000 };

export function slicesFor(lockCase: LockCase, options: BenchOptions): number {
  return Math.max(1, Math.round(options.lockRunMs / SLICE_MS[lockCase]));
}

interface Slice {
  opsPerSec: number;
  /** Acquire times for `contended`, acquire + release times otherwise, ms. */
  times: number[];
}

export async function runLockBench(
  options: BenchOptions,
  redisUrl: string,
  admin: Redis,
  rows: Rows,
  progress: (line: string) => void,
): Promise<void> {
  for (const lockCase of LOCK_CASES) {
    const slices = slicesFor(lockCase, options);
    progress(`locks: ${lockCase}, ${LOCK_SYSTEMS.length} systems x ${slices} slices of ${SLICE_MS[lockCase]} ms`);
    const adapters = new Map<string, LockAdapter>();
    const results = new Map<string, Slice[]>(LOCK_SYSTEMS.map((s) => [s.id, []]));
    try {
      for (const system of LOCK_SYSTEMS) {
        const adapter = await (await system.load()).create({ redisUrl, prefix: `bench-lock-${system.id}`, ttlMs: 10_000 });
        adapters.set(system.id, adapter);
        await warmUp(adapter);
      }
      for (let s = 0; s < slices; s++) {
        for (const system of rotate(LOCK_SYSTEMS, s)) {
          results.get(system.id)!.push(await runSlice(adapters.get(system.id)!, lockCase, options, `s${s}`));
        }
        // Fence counters and stale keys from fresh-key slices: do not let the keyspace grow.
        if (lockCase !== 'contended') await admin.flushall();
      }
    } finally {
      for (const adapter of adapters.values()) await adapter.close();
      await admin.flushall();
    }
    addRows(rows, lockCase, results);
  }
}

function addRows(rows: Rows, lockCase: LockCase, results: Map<string, Slice[]>): void {
  const scenario = lockScenario(lockCase);
  const timeName = lockCase === 'contended' ? 'wait' : 'op';
  for (const system of LOCK_SYSTEMS) {
    const slices = results.get(system.id)!;
    const times = slices.flatMap((r) => r.times).sort(ascending);
    rows.add(scenario, system.id, 'ops/s', median(slices.map((r) => r.opsPerSec)), 'acquire+release per second (median of slices)');
    rows.add(scenario, system.id, `${timeName}.p50`, percentileOfSorted(times, 50) ?? Number.NaN, 'ms');
    rows.add(scenario, system.id, `${timeName}.p99`, percentileOfSorted(times, 99) ?? Number.NaN, 'ms');
    for (const peer of ['redlock', 'redis-semaphore']) {
      if (peer === system.id) continue;
      const theirs = results.get(peer)!;
      rows.add(
        scenario,
        system.id,
        `ops/s vs ${peer}`,
        median(slices.map((r, i) => r.opsPerSec / theirs[i]!.opsPerSec)),
        'ratio (median of per-cycle ratios)',
      );
    }
  }
}

async function warmUp(adapter: LockAdapter): Promise<void> {
  for (let i = 0; i < 50; i++) await (await adapter.acquire(`warm-up-${i}`))();
}

async function runSlice(adapter: LockAdapter, lockCase: LockCase, options: BenchOptions, tag: string): Promise<Slice> {
  const times: number[] = [];
  const started = performance.now();
  const deadline = started + SLICE_MS[lockCase];
  let ops = 0;
  let next = 0;
  const waiting = new Set<number>();

  const loop = async (keyOf: () => string) => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      waiting.add(t0);
      const release = await adapter.acquire(keyOf());
      waiting.delete(t0);
      const acquired = performance.now();
      await release();
      const end = performance.now();
      if (end <= deadline) {
        times.push(lockCase === 'contended' ? acquired - t0 : end - t0);
        ops += 1;
      }
    }
  };
  const freshKey = () => `${tag}-k${next++}`;
  const runners =
    lockCase === 'distinct-serial'
      ? [loop(freshKey)]
      : Array.from({ length: options.lockParallelism }, () => loop(lockCase === 'contended' ? () => `${tag}-contended` : freshKey));
  const all = Promise.all(runners);
  await Promise.race([all, new Promise((resolve) => setTimeout(resolve, Math.max(0, deadline - performance.now())))]);
  if (lockCase === 'contended') for (const t0 of waiting) times.push(deadline - t0);
  await all;
  return { opsPerSec: ops / ((deadline - started) / 1000), times };
}
