import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { strategyLabel } from '../../src/bullmq/job-data.js';
import type { GuardEvent } from '../../src/events.js';

/**
 * A worker's Prometheus metrics, counted from the guard's events (one event, one step of the log
 * contract), with prom-client's default process metrics. Each counter counts the same event the
 * log report counts, so the sum over a fleet's workers equals the report's figure (docs/metrics.md
 * says which event feeds which metric).
 *
 * Labels take a handful of values each: a strategy a producer made up is `invalid` (strategyLabel,
 * the rule the processor's lines and the log report follow too), and no metric is labelled by
 * key, job or run, whose values grow without bound.
 */
export interface GuardMetrics {
  readonly registry: Registry;
  record(event: GuardEvent): void;
}

/** Seconds, from a cache hit through BullMQ (milliseconds) to a slow recomputation (a minute). */
const SECONDS_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export function createGuardMetrics(): GuardMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Counter<L>({ name: `cache_stampede_${name}`, help, labelNames, registers });
  const histogram = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Histogram<L>({ name: `cache_stampede_${name}`, help, labelNames, buckets: SECONDS_BUCKETS, registers });

  const recomputations = counter('recomputations_total', 'Recomputations (recompute.start events)', ['strategy']);
  const recomputeFailures = counter('recompute_failures_total', 'Recomputations that threw, timed out or were abandoned', ['strategy']);
  const recomputeSeconds = histogram('recompute_duration_seconds', 'Duration of recomputations that ended with a value', ['strategy']);
  const hits = counter('cache_hits_total', 'Reads answered from the cache (cache.hit events), by the tier that answered', [
    'strategy',
    'tier',
  ]);
  const misses = counter('cache_misses_total', 'Reads that found no fresh value (cache.miss events)', ['strategy']);
  const waits = counter('waits_total', 'Waits for another holder, counted when they end, by how they ended', ['strategy', 'outcome']);
  const waitSeconds = histogram('wait_duration_seconds', 'How long waits for another holder lasted', ['strategy', 'outcome']);
  const staleServed = counter('stale_served_total', 'Values served past their fresh time, by why', ['strategy', 'reason']);
  const lockLost = counter('lock_lost_total', 'Redis locks found taken away from their holder', []);
  const writeRejected = counter('write_rejected_total', 'Writes rejected because a newer value was stored (fencing)', []);
  const jobs = counter('jobs_total', 'get-value jobs finished, by where the value came from (failed: the job failed)', [
    'strategy',
    'source',
  ]);
  const jobRetries = counter('job_retries_total', 'get-value job attempts that failed and are tried again (Redis out of reach)', [
    'strategy',
  ]);
  const jobSeconds = histogram('job_latency_seconds', 'Completed get-value jobs, from enqueue to completion', ['strategy']);
  // Issue 24. One gauge without labels: 0 while any node of the cache's Redis is unavailable to
  // the worker's guard (on a cluster, one breaker per master: a `node` label would add a series
  // per failover, under an address nobody serves after it; the node is in the redis.unavailable line).
  const redisUp = new Gauge({
    name: 'cache_stampede_redis_up',
    help: "1 while the guard's Redis answers, 0 from redis.unavailable until redis.available (every node)",
    registers,
  });
  redisUp.set(1);
  const downNodes = new Set<string>();
  const degradedRecomputations = counter(
    'degraded_recomputations_total',
    'Recomputations made while Redis was unavailable (recompute.start with degraded), in this process, written nowhere',
    ['strategy'],
  );
  const degradedCalls = counter('degraded_calls_total', 'Calls that found Redis unavailable and followed onRedisDown (cache.degraded)', [
    'strategy',
    'policy',
  ]);

  return {
    registry,
    record(e) {
      // The log report counts a job under the same label (scripts/report/summarize.ts).
      const strategy = strategyLabel(e.strategy);
      switch (e.event) {
        case 'recompute.start':
          if (e.fields.degraded) degradedRecomputations.inc({ strategy });
          return recomputations.inc({ strategy });
        case 'recompute.end':
          return recomputeSeconds.observe({ strategy }, e.fields.durationMs / 1000);
        case 'recompute.failed':
          return recomputeFailures.inc({ strategy });
        case 'cache.hit':
          return hits.inc({ strategy, tier: e.fields.tier ?? 'redis' });
        case 'cache.miss':
          return misses.inc({ strategy });
        case 'wait.end':
          waits.inc({ strategy, outcome: e.fields.outcome });
          return waitSeconds.observe({ strategy, outcome: e.fields.outcome }, e.fields.waitedMs / 1000);
        case 'stale.served':
          // A caller that shared another's flight has no reason of its own.
          return staleServed.inc({ strategy, reason: e.fields.reason ?? 'coalesced' });
        case 'lock.lost':
          return lockLost.inc();
        case 'cache.write.rejected':
          return writeRejected.inc();
        case 'job.completed':
          jobs.inc({ strategy, source: e.fields.source });
          return jobSeconds.observe({ strategy }, e.fields.latencyMs / 1000);
        case 'job.failed':
          return jobs.inc({ strategy, source: 'failed' });
        case 'job.retry':
          return jobRetries.inc({ strategy });
        case 'redis.unavailable':
          downNodes.add(e.fields.node);
          return redisUp.set(0);
        case 'redis.available':
          downNodes.delete(e.fields.node);
          return redisUp.set(downNodes.size === 0 ? 1 : 0);
        case 'cache.degraded':
          return degradedCalls.inc({ strategy, policy: e.fields.policy });
      }
    },
  };
}
