/**
 * The fault suite, issue 24: fault 10, the cache's Redis away for 10 s (SIGSTOP 5 s, then SIGKILL
 * and a restart on the same port) under a steady stream of jobs, the queue on another Redis; then
 * the queue's Redis killed and restarted on its AOF. See faults.test.ts for how the scenarios work.
 */
import { describe, expect, it } from 'vitest';
import type { CacheOutageFacts } from '../scripts/faults/cache-outage.js';
import { FAULTS, formatFaultTable, runFault } from '../scripts/faults/index.js';

const SCENARIO_TIMEOUT_MS = 150_000;

describe('faults: the cache Redis unavailable', () => {
  it(
    '10. cache-outage: jobs keep completing through the outage within the deadline plus the computation, at most one computation per worker and key; one per key after recovery; the queue Redis restarted loses nothing',
    async () => {
      // As `npm run faults -- --only cache-outage` runs it: fault 10 of the table.
      const scenario = FAULTS.find((f) => f.id === 10);
      expect(scenario?.name).toBe('cache-outage');
      const report = await runFault(scenario!);
      expect(
        report.checks.filter((c) => !c.ok),
        JSON.stringify(report.row),
      ).toEqual([]);
      expect(report.status).toBe('held');
      const row = report.row!;
      const facts = report.facts as CacheOutageFacts;
      expect(formatFaultTable([report])).toMatch(/\n10 cache-outage +\d+ +\d+ +0 +0 +\d+ +0 +\d+ ms +yes\n/);
      expect(row).toMatchObject({ fault: '10 cache-outage', failed: 0, lost: 0, staleOverwrites: 0 });

      // The outage: 10 s away, 3 jobs per 100 ms enqueued meanwhile, every one answered.
      expect(facts.pausedMs).toBeGreaterThanOrEqual(4900); // a timer may fire a millisecond early
      expect(facts.killedMs).toBeGreaterThanOrEqual(4900);
      const d = facts.duringOutage;
      expect(d.jobs).toBeGreaterThanOrEqual(250);
      expect(d).toMatchObject({ completed: d.jobs, failed: 0 });
      // Most answered from what the worker computed in the outage; the slowest paid the deadline once.
      expect(d.p50Ms).toBeLessThan(250);
      expect(d.slow).toBeLessThan(d.jobs / 4);
      expect(d.p99Ms).toBeLessThanOrEqual(facts.boundMs);
      expect(facts.boundMs).toBe(1000 + 250 + 750);
      // Each worker computed each key at most once, apart from the fleet; nothing else recomputed.
      expect(facts.recomputations.beforeOutage).toBe(10);
      expect(facts.recomputations.degraded).toBeGreaterThanOrEqual(1);
      expect(facts.recomputations.degraded).toBeLessThanOrEqual(30);
      expect(facts.recomputations.duringOutageNotDegraded).toBe(0);
      expect(facts.mostPerWorkerAndKey).toBe(1);
      expect(facts.degradedCalls).toBeGreaterThanOrEqual(d.jobs);
      expect(Object.keys(facts.transitions).sort()).toEqual(['worker-1', 'worker-2', 'worker-3']);
      // Back to the fleet's one computation per key.
      expect(facts.recomputations.afterRecovery).toBe(0);
      expect(facts.freshBurst).toEqual({ jobs: 60, completed: 60, failed: 0, recomputations: 10, keysRecomputedOnce: 10 });

      // The queue's Redis: what could not be enqueued was reported, the rest completed.
      const q = facts.queueOutage;
      expect(q).toMatchObject({ failed: 0, lost: 0, completed: q.enqueued });
      expect(q.notEnqueued + q.enqueued).toBe(q.jobs);
      expect(q.workersServingAfterRestart).toEqual(['worker-1', 'worker-2', 'worker-3']);
      expect(facts.leftInQueue).toBe(0);
      expect(facts.failedAttempts).toBe(0);
      // The workers' own metrics, scraped: the gauge followed the breaker, the counters the log.
      expect(facts.metrics.redisUpDuring).toEqual({ 'worker-1': 0, 'worker-2': 0, 'worker-3': 0 });
      expect(facts.metrics.redisUpAfter).toEqual({ 'worker-1': 1, 'worker-2': 1, 'worker-3': 1 });
      expect(facts.metrics.degradedRecomputations).toBe(facts.recomputations.degraded);
      expect(facts.metrics.degradedCalls).toBeGreaterThanOrEqual(facts.degradedCalls);
      expect(facts.exits).toEqual({ 'worker-1': 0, 'worker-2': 0, 'worker-3': 0 });
      expect(row.notes[0]).toMatch(/jobs enqueued during the outage, answered \d+ \/ failed 0, p50 \d+ ms \/ p99 \d+ ms/);
    },
    SCENARIO_TIMEOUT_MS,
  );
});
