/**
 * The fault suite, Redis faults: a restart mid-burst (same port, same AOF), SCRIPT FLUSH
 * mid-burst, an evicting maxmemory-policy; and the faults table. See faults.test.ts for how the
 * scenarios work.
 */
import { describe, expect, it } from 'vitest';
import { evictingPolicy } from '../scripts/faults/evicting-policy.js';
import { FAULTS, failedChecks, formatFaultTable, runFault, selectFaults } from '../scripts/faults/index.js';
import { restartRedis } from '../scripts/faults/restart-redis.js';
import { scriptFlush } from '../scripts/faults/script-flush.js';

const SCENARIO_TIMEOUT_MS = 150_000;

describe('faults: Redis', () => {
  it(
    '3. restart redis-server mid-burst: workers reconnect by themselves, every job completes, the producer reports what it could not enqueue',
    async () => {
      const outcome = await restartRedis();
      expect(failedChecks(outcome), JSON.stringify(outcome.row)).toEqual([]);
      const { row, facts } = outcome;
      expect(row).toMatchObject({ failed: 0, lost: 0, staleOverwrites: 0 });
      expect(facts.newPid).not.toBe(facts.oldPid);
      expect(facts.completedBeforeRestart).toBeLessThan(120);
      // Nothing was silently dropped: every job of the outage burst is accounted as not enqueued.
      expect(facts.duringOutage).toMatchObject({ jobs: 20, enqueued: 0, notEnqueued: 20 });
      expect(Object.values(facts.duringOutage.enqueueFailures)).toEqual([20]);
      expect(facts.afterRestart).toEqual({ jobs: 20, completed: 20, failed: 0 });
      expect(row.completed).toBe(140);
    },
    SCENARIO_TIMEOUT_MS,
  );

  it(
    '4. SCRIPT FLUSH mid-burst: 0 failed jobs, and the guard says it re-sent its scripts',
    async () => {
      const outcome = await scriptFlush();
      expect(failedChecks(outcome), JSON.stringify(outcome.row)).toEqual([]);
      expect(outcome.row).toMatchObject({ jobs: 120, completed: 120, failed: 0, lost: 0, staleOverwrites: 0 });
      // One computation per key: the flush cost no recomputation.
      expect(outcome.row.recomputations).toBe(12);
      expect(outcome.facts.notCachedWarnings).toBeGreaterThanOrEqual(1);
      expect(outcome.facts.scripts).toContain('cache.fenced-write');
    },
    SCENARIO_TIMEOUT_MS,
  );

  it(
    "6. an evicting maxmemory-policy on the queue's Redis: every worker warns at start, naming the fix",
    async () => {
      const outcome = await evictingPolicy();
      expect(failedChecks(outcome), JSON.stringify(outcome.row)).toEqual([]);
      for (const line of outcome.facts.printed) {
        expect(line).toMatch(
          /warning: the queue's Redis has maxmemory-policy allkeys-lru; .*\(fix: CONFIG SET maxmemory-policy noeviction/,
        );
      }
      expect(outcome.facts.logged).toHaveLength(2);
    },
    SCENARIO_TIMEOUT_MS,
  );
});

describe('the faults table', () => {
  it('lists every fault of the issue in order, each with a scenario', () => {
    expect(FAULTS.map((f) => f.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(FAULTS.filter((f) => !f.run).map((f) => f.name)).toEqual([]);
    expect(selectFaults(['compute-failure']).map((f) => f.id)).toEqual([7]);
  });

  it('shows a scenario still waiting for its feature as a pending row of dashes', async () => {
    const report = await runFault({ id: 10, name: 'future', title: 'a fault still to come', pending: 'waits for its feature' });
    expect(report.status).toBe('pending');
    const table = formatFaultTable([report]);
    expect(table.split('\n')[0]).toMatch(/^fault +jobs +completed +failed +lost +recomputations +stale overwrites +recovery +holds$/);
    expect(table).toMatch(/10 future +- +- +- +- +- +- +- +pending/);
  });

  it('selects by name or number and refuses unknown names', () => {
    expect(selectFaults(['1', 'restart-redis']).map((f) => f.name)).toEqual(['kill-holder', 'restart-redis']);
    expect(() => selectFaults(['nope'])).toThrow(/unknown fault\(s\) "nope"; choose from 1 kill-holder/);
  });
});
