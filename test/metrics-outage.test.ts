/**
 * The worker's metrics of issue 24 (Redis unavailable), counted from real events: a guard on a
 * private redis-server that is killed and brought back, its events observed as the worker
 * observes them (workers/guard-events.ts: one subscriber counts the metric and writes the line),
 * and the registry read as Prometheus reads it.
 *
 * - `cache_stampede_redis_up` is 1 before, 0 from `redis.unavailable`, 1 again from `redis.available`;
 * - `cache_stampede_degraded_calls_total{strategy,policy}` counts `cache.degraded`;
 * - `cache_stampede_degraded_recomputations_total{strategy}` counts `recompute.start` with `degraded`.
 */
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGuard } from '../src/cache/guard.js';
import type { Strategy } from '../src/cache/strategy.js';
import { subscribeEvents, type GuardEvent } from '../src/events.js';
import { observeGuardEvents } from '../workers/guard-events.js';
import { createGuardMetrics, type GuardMetrics } from '../workers/metrics/guard-metrics.js';
import { startOutageRig, type OutageRig } from './support/outage-rig.js';
import { parsePrometheus, total, type Sample } from './support/prometheus.js';
import { uniquePrefix } from './support/redis.js';
import { sleep, waitUntil } from './support/wait.js';

const M = 'cache_stampede_';
const DEADLINE_MS = 300;
const STRATEGIES_HERE: Strategy[] = ['redis-lock', 'local-lock', 'swr'];
const KEYS = 3;
const CALLS_PER_KEY = 4;

describe("the worker's outage metrics agree with the guard's events", () => {
  let rig: OutageRig;
  let metrics: GuardMetrics;
  let stopObserving: () => void;
  let stopCounting: () => void;
  const seen: GuardEvent[] = [];
  const read = async (): Promise<Sample[]> => parsePrometheus(await metrics.registry.metrics());

  beforeAll(async () => {
    rig = await startOutageRig('killed');
    metrics = createGuardMetrics();
    stopObserving = observeGuardEvents(pino({ level: 'silent' }), metrics);
    stopCounting = subscribeEvents((e) => seen.push(e));
  });
  afterAll(async () => {
    stopCounting();
    stopObserving();
    await rig.stop();
  });

  it('redis_up goes 1, 0, 1 with the breaker; degraded calls and recomputations equal the events, by strategy and policy', async () => {
    const prefix = uniquePrefix('metrics-outage');
    const clients = [new Redis(rig.url, { maxRetriesPerRequest: null }), new Redis(rig.url, { maxRetriesPerRequest: null })];
    for (const c of clients) c.on('error', () => {});
    const compute = createGuard({ redis: clients[0]!, keyPrefix: prefix, redisTimeoutMs: DEADLINE_MS });
    const error = createGuard({ redis: clients[1]!, keyPrefix: prefix, redisTimeoutMs: DEADLINE_MS, onRedisDown: 'error' });
    try {
      await compute.getOrCompute('warm', async () => 'warm');
      await error.getOrCompute('warm', async () => 'warm');
      const before = await read();
      expect(total(before, `${M}redis_up`)).toBe(1);
      expect(total(before, `${M}degraded_calls_total`)).toBe(0);
      expect(total(before, `${M}degraded_recomputations_total`)).toBe(0);

      const from = seen.length;
      await rig.down();
      // Concurrent calls per strategy and key under `compute`, and as many under `error`.
      const calls = STRATEGIES_HERE.flatMap((strategy) =>
        Array.from({ length: KEYS * CALLS_PER_KEY }, (_, i) => {
          const key = `${strategy}-${i % KEYS}`;
          const fn = async () => {
            await sleep(20);
            return key;
          };
          return [
            compute.getOrCompute(key, fn, { strategy }).then(
              () => 'ok',
              (err: { code?: string }) => err.code,
            ),
            error.getOrCompute(key, fn, { strategy }).then(
              () => 'ok',
              (err: { code?: string }) => err.code,
            ),
          ];
        }),
      );
      const outcomes = await Promise.all(calls.flat());
      const during = await read();
      const events = seen.slice(from);
      expect(total(during, `${M}redis_up`)).toBe(0);
      expect(events.filter((e) => e.event === 'redis.unavailable').length).toBeGreaterThanOrEqual(1);

      // Both guards' breakers opened: every `error` call rejected, every `compute` call answered.
      expect(outcomes.filter((o) => o === 'ok')).toHaveLength(outcomes.length / 2);
      expect(outcomes.filter((o) => o === 'E_REDIS_UNAVAILABLE')).toHaveLength(outcomes.length / 2);
      for (const strategy of STRATEGIES_HERE) {
        for (const policy of ['compute', 'error'] as const) {
          const degraded = events.filter((e) => e.event === 'cache.degraded' && e.strategy === strategy && e.fields.policy === policy);
          expect(degraded.length, `${strategy} ${policy}`).toBeGreaterThanOrEqual(1);
          expect(total(during, `${M}degraded_calls_total`, { strategy, policy }), `${strategy} ${policy}`).toBe(degraded.length);
        }
        const recomputed = events.filter((e) => e.event === 'recompute.start' && e.strategy === strategy && e.fields.degraded);
        // One computation per key in the process (the `error` guard computes nothing).
        expect(recomputed.length, strategy).toBe(KEYS);
        expect(total(during, `${M}degraded_recomputations_total`, { strategy }), strategy).toBe(recomputed.length);
      }

      await rig.up();
      await waitUntil('both guards saw Redis again', () => seen.slice(from).filter((e) => e.event === 'redis.available').length >= 2, {
        timeoutMs: 10_000,
      });
      const after = await read();
      expect(total(after, `${M}redis_up`)).toBe(1);
      // A call after recovery is not degraded: the counters stay where they were.
      await compute.getOrCompute('after', async () => 'after');
      expect(total(await read(), `${M}degraded_calls_total`)).toBe(total(during, `${M}degraded_calls_total`));
    } finally {
      await compute.close();
      await error.close();
      for (const c of clients) c.disconnect();
    }
  }, 60_000);
});
