/**
 * The fault suite, guard and worker faults: real worker processes on a private redis-server
 * (AOF on), each fault injected when a given event appears in the workers' logs (never after a
 * fixed sleep). Each scenario returns the checks of what the faults issue says must hold; the
 * tests assert those and the numbers behind them.
 * Other files: faults-redis.test.ts (Redis faults), faults-input.test.ts (bad input).
 */
import { describe, expect, it } from 'vitest';
import { failedChecks } from '../scripts/faults/index.js';
import { killHolder } from '../scripts/faults/kill-holder.js';
import { pauseHolder } from '../scripts/faults/pause-holder.js';
import { sigtermWorker } from '../scripts/faults/sigterm-worker.js';

const SCENARIO_TIMEOUT_MS = 150_000;

describe('faults: the lock holder and the workers', () => {
  it(
    '1. SIGKILL the lock holder mid-computation: every job completes, at most one extra recomputation, 0 lost',
    async () => {
      const outcome = await killHolder();
      expect(failedChecks(outcome), JSON.stringify(outcome.row)).toEqual([]);
      const { row, facts } = outcome;
      expect(row).toMatchObject({ jobs: 60, completed: 60, failed: 0, lost: 0, staleOverwrites: 0 });
      // The killed holder's computation, plus one takeover: never more.
      expect(row.recomputations).toBe(2);
      expect(facts.exits[facts.holder]).toBe('SIGKILL');
      expect(facts.takeovers).toHaveLength(1);
      expect(facts.takeovers[0]!.workerId).not.toBe(facts.holder);
      expect(facts.takeovers[0]!.fence).toBeGreaterThan(facts.holderFence);
      // The killed worker's own jobs came back through BullMQ's stalled-job check.
      expect(facts.stalledJobs).toBeGreaterThan(0);
      expect(row.recoveryMs).not.toBeNull();
    },
    SCENARIO_TIMEOUT_MS,
  );

  it(
    '2. SIGSTOP the holder past its lock TTL, a newer write, SIGCONT: the old write is rejected, the newer value stays',
    async () => {
      const outcome = await pauseHolder();
      expect(failedChecks(outcome), JSON.stringify(outcome.row)).toEqual([]);
      const { row, facts } = outcome;
      expect(row).toMatchObject({ jobs: 40, completed: 40, failed: 0, lost: 0, staleOverwrites: 0 });
      expect(facts.oldHolderWrite).toEqual({ event: 'cache.write.rejected', fence: facts.holderFence, storedFence: facts.newer.fence });
      expect(facts.newer.fence).toBeGreaterThan(facts.holderFence);
      expect(facts.newer.workerId).not.toBe(facts.holder);
      expect(facts.stored).toEqual({ fence: facts.newer.fence, computedBy: facts.newer.workerId });
      // Paused past the 2 s lock TTL: the newer holder could only get the lock after it expired.
      expect(facts.pausedMs).toBeGreaterThanOrEqual(2000);
    },
    SCENARIO_TIMEOUT_MS,
  );

  it(
    '5. SIGTERM a worker with jobs in flight: they complete, no lock is left, exit 0; the other worker takes the new jobs',
    async () => {
      const outcome = await sigtermWorker();
      expect(failedChecks(outcome), JSON.stringify(outcome.row)).toEqual([]);
      const { row, facts } = outcome;
      expect(row).toMatchObject({ jobs: 60, completed: 60, failed: 0, lost: 0, staleOverwrites: 0 });
      expect(facts.exitCode).toBe(0);
      expect(facts.lastEvent).toBe('worker.stopped');
      expect(facts.inFlight).toBeGreaterThan(0);
      expect(facts.completedThere).toBe(facts.inFlight);
      expect(facts.locksLeft).toEqual([]);
      expect(facts.nextBurstWorkers).toHaveLength(1);
      expect(facts.nextBurstWorkers[0]).not.toBe(facts.stopped);
      // One computation per burst: the stopped holder finished and wrote before it exited.
      expect(row.recomputations).toBe(2);
    },
    SCENARIO_TIMEOUT_MS,
  );
});
