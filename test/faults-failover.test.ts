/**
 * The fault suite, fault 9: Redis Cluster failovers mid-burst (issue 17), on a private cluster of
 * 3 masters and 3 replicas with a fleet of 3 workers: the queue's master killed, a cache master
 * killed, a planned switch-over, then a new `npm run burst` while the killed nodes are still
 * named as seeds. See faults.test.ts for how the scenarios work.
 */
import { expect, it } from 'vitest';
import { failover } from '../scripts/faults/failover.js';
import { failedChecks } from '../scripts/faults/index.js';

it('9. failovers mid-burst: every job completes, none fails, one recomputation per key, nobody waits out the lock; a new burst starts with dead seeds', async () => {
  const outcome = await failover();
  expect(failedChecks(outcome), JSON.stringify(outcome.row)).toEqual([]);
  const { row, facts } = outcome;
  // The workers ride the failovers out (REDIS_TIMEOUT_MS above a failover's time): one per key.
  expect(row).toMatchObject({ jobs: 3000, completed: 3000, failed: 0, lost: 0, recomputations: 300, staleOverwrites: 0 });
  expect(facts.bursts.map((b) => b.label)).toEqual(['baseline', 'kill-queue', 'kill-cache', 'planned', 'dead-seed']);
  expect(facts.deadSeedWarning).toMatch(
    /^warning: Redis cluster nodes 127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+ do not answer \(connection (refused|reset)\)/,
  );
}, 300_000);
