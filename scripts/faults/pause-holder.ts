import { readEnvelope } from '../../src/cache/store.js';
import { cacheKeys } from '../../src/keys.js';
import { burstKey } from '../burst/producer.js';
import type { SimulatedValue } from '../../workers/simulated-compute.js';
import { SHORT_SETTINGS, startRig } from './harness.js';
import { lostJobs, recomputations, staleOverwrites } from './measure.js';
import { check, type FaultOptions, type FaultOutcome } from './types.js';
import { toPort } from '../../src/redis/adapt.js';

export interface PauseHolderFacts {
  holder: string;
  holderFence: number;
  /** The worker that took the expired lock over and wrote while the holder was stopped. */
  newer: { workerId: string; fence: number };
  /** What the old holder logged after SIGCONT: its write, rejected, with the stored fence. */
  oldHolderWrite: { event: string; fence: number; storedFence?: number } | null;
  stored: { fence: number | null; computedBy: string | null };
  pausedMs: number;
}

const JOBS = 40;

/**
 * Fault 2: SIGSTOP the lock holder past its lock TTL while another holder writes a newer
 * value, then SIGCONT. The holder is stopped at its `recompute.start`; its lock expires, a
 * waiter in the other worker takes it over with a higher fence and writes; only once that
 * `cache.write` is in the log does the old holder continue, finish its computation and try to
 * write. Must hold: the old write is rejected, the cache keeps the newer value, 0 stale overwrites.
 */
export async function pauseHolder(options: FaultOptions = {}): Promise<FaultOutcome<PauseHolderFacts>> {
  const say = options.say ?? (() => {});
  // Two workers: while one is stopped, exactly one other process can take the lock over.
  const rig = await startRig('pause-holder', { workers: 2, concurrency: 20, computeMs: 1000, ...SHORT_SETTINGS }, options);
  try {
    const runId = rig.runId('main');
    const key = burstKey({ jobs: JOBS, keys: 1, strategy: 'redis-lock', runId, keyPrefix: 'main' }, 0);
    const burst = rig.burst('main', { jobs: JOBS, keys: 1 });
    const start = await rig.tail.waitFor('recompute.start', (r) => r.event === 'recompute.start' && r.runId === runId);
    const holderPid = start.pid as number;
    const holderFence = start.fence as number;
    rig.signal(holderPid, 'SIGSTOP');
    const injectedAt = Date.now();
    say(`pause-holder: SIGSTOP ${start.workerId} at recompute.start (fence ${holderFence}); waiting for a newer write`);

    const newer = await rig.tail.waitFor(
      'a newer cache.write by another worker',
      (r) => r.event === 'cache.write' && r.runId === runId && r.pid !== holderPid && (r.fence as number) > holderFence,
      60_000,
    );
    const pausedMs = Date.now() - injectedAt;
    rig.signal(holderPid, 'SIGCONT');
    say(`pause-holder: ${newer.workerId} wrote fence ${newer.fence}; SIGCONT ${start.workerId} after ${pausedMs} ms`);
    const late = await rig.tail.waitFor(
      "the old holder's write",
      (r) => r.pid === holderPid && r.runId === runId && (r.event === 'cache.write' || r.event === 'cache.write.rejected'),
      30_000,
    );

    const summary = await burst;
    const recoveryMs = rig.recoveryMs(injectedAt);
    await rig.stopFleet();
    const records = rig.tail.records;
    const stale = await staleOverwrites(records, rig.admin, rig.keyPrefix, [runId]);
    const envelope = await readEnvelope<SimulatedValue>(toPort(rig.admin), cacheKeys(rig.keyPrefix, key));
    const fence = stale.keys[key]?.stored ?? null;
    const facts: PauseHolderFacts = {
      holder: String(start.workerId),
      holderFence,
      newer: { workerId: String(newer.workerId), fence: newer.fence as number },
      oldHolderWrite: {
        event: String(late.event),
        fence: late.fence as number,
        ...(typeof late.storedFence === 'number' && { storedFence: late.storedFence }),
      },
      stored: { fence, computedBy: envelope?.value.computedBy ?? null },
      pausedMs,
    };
    const recomputes = recomputations(records, [runId]);
    return {
      row: {
        fault: '2 pause-holder',
        jobs: summary.jobs,
        completed: summary.completed,
        failed: summary.failed,
        lost: lostJobs(summary),
        recomputations: recomputes,
        staleOverwrites: stale.count,
        recoveryMs,
        notes: [
          `SIGSTOP ${facts.holder} (fence ${holderFence}) for ${pausedMs} ms; ${facts.newer.workerId} wrote fence ${facts.newer.fence}; ` +
            `after SIGCONT the old write was ${late.event === 'cache.write.rejected' ? 'rejected' : 'ACCEPTED'}; ` +
            `stored: fence ${fence} by ${facts.stored.computedBy}`,
        ],
      },
      checks: [
        check("the old holder's write was rejected", late.event === 'cache.write.rejected', facts.oldHolderWrite),
        check('the rejection names the newer stored fence', late.storedFence === facts.newer.fence, facts.oldHolderWrite),
        check(
          'the cache keeps the newer value',
          fence === facts.newer.fence && facts.stored.computedBy === facts.newer.workerId,
          facts.stored,
        ),
        check('0 stale overwrites', stale.count === 0, stale.keys),
        check('every job completed', summary.completed === JOBS && !summary.timedOut, `${summary.completed}/${JOBS}`),
        check('0 jobs failed', summary.failed === 0, summary.failures),
        check('0 jobs lost', lostJobs(summary) === 0, lostJobs(summary)),
        check(
          'both workers stopped cleanly',
          [...rig.exits().values()].every((code) => code === 0),
          Object.fromEntries(rig.exits()),
        ),
      ],
      facts,
    };
  } finally {
    await rig.close();
  }
}
