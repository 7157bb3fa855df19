/**
 * The fault suite, fault 7: a computation that throws, and one that hangs past the compute
 * timeout, asked for through the queue contract (`simulate`), on real worker processes with a
 * 30 s lock TTL. See faults.test.ts for how the scenarios work. The timing bound is "well before
 * the lock TTL" (15 s), never tighter: a waiter told only when the lock ran out would take 30 s.
 */
import { describe, expect, it } from 'vitest';
import { computeFailure } from '../scripts/faults/compute-failure.js';
import { failedChecks } from '../scripts/faults/index.js';

const SCENARIO_TIMEOUT_MS = 150_000;

describe('faults: the computation fails', () => {
  it(
    '7. a computation that throws, and one that hangs past its timeout: jobs end with the reason, waiters are told at once, the workers keep serving',
    async () => {
      const outcome = await computeFailure();
      expect(failedChecks(outcome), JSON.stringify(outcome.row)).toEqual([]);
      const { row, facts } = outcome;
      // 30 throwing + 30 hanging (all fail, as they must), 30 normal; 1 warm-up + 20 under `stale`.
      expect(row).toMatchObject({ jobs: 111, completed: 51, failed: 60, lost: 0, staleOverwrites: 0 });

      for (const burst of [facts.throwing, facts.hanging]) {
        expect(burst.failed).toBe(30);
        expect(burst.direct + burst.relayed).toBe(30);
        expect(burst.other).toEqual({});
        // Waiters in other workers learned of the failure from the holder, not from the lock TTL.
        expect(burst.relayed).toBeGreaterThan(0);
        expect(burst.waits.timeout).toBeUndefined();
        expect(burst.lastEndedMs).toBeLessThan(15_000);
        expect(burst.longestWaitMs).toBeLessThan(15_000);
      }
      // The hang ended at the compute timeout, not before and not at the lock TTL.
      expect(facts.hanging.computeFailedAfterMs).toBeGreaterThanOrEqual(1450);
      expect(facts.hanging.computeFailedAfterMs).toBeLessThan(15_000);
      expect(facts.lockAfterThrow).toBe(false);
      expect(facts.lockAfterHang).toBe(false);
      expect(facts.storedAfterFailures).toBeNull();

      expect(facts.after).toEqual({ jobs: 30, completed: 30, failed: 0, recomputations: 1, workers: ['worker-1', 'worker-2', 'worker-3'] });
      expect(facts.locksLeft).toEqual([]);
      expect(facts.leftInQueue).toBe(0);
      expect(Object.values(facts.exits)).toEqual([0, 0, 0]);
      expect(row.recoveryMs).not.toBeNull();

      // FAILURE_POLICY stale: every job of a throwing burst got the stale value.
      expect(facts.stale).toMatchObject({ completed: 21, failed: 0, distinctValues: 1, locksLeft: [] });
      expect(facts.stale.sources).toEqual({ cache: 0, computed: 0, waited: 0, stale: 20 });
      expect(facts.stale.failedRecomputations).toBeGreaterThanOrEqual(1);
      expect(facts.stale.fenceAfter).toBe(facts.stale.fenceBefore);
      expect(facts.stale.lastEndedMs).toBeLessThan(15_000);
    },
    SCENARIO_TIMEOUT_MS,
  );
});
