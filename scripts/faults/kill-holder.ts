import { SHORT_SETTINGS, startRig } from './harness.js';
import { lostJobs, recomputations, staleOverwrites } from './measure.js';
import { check, type FaultOptions, type FaultOutcome } from './types.js';

export interface KillHolderFacts {
  holder: string;
  holderPid: number;
  holderFence: number;
  /** Workers that wrote the value after the kill, with their fences. */
  takeovers: { workerId: string; fence: number }[];
  stalledJobs: number;
  exits: Record<string, number | string>;
}

const JOBS = 60;

/**
 * Fault 1: SIGKILL the lock holder mid-computation. The holder is found by its
 * `recompute.start` line and killed at once. Its lock expires (LOCK_TTL_MS), a waiter in another
 * worker takes it over and recomputes; the killed worker's own jobs come back through BullMQ's
 * stalled-job check and complete from the cache.
 * Must hold: every job completes, at most one extra recomputation, 0 lost.
 */
export async function killHolder(options: FaultOptions = {}): Promise<FaultOutcome<KillHolderFacts>> {
  const say = options.say ?? (() => {});
  const rig = await startRig('kill-holder', { workers: 3, concurrency: 20, computeMs: 1000, ...SHORT_SETTINGS }, options);
  try {
    const runId = rig.runId('main');
    const burst = rig.burst('main', { jobs: JOBS, keys: 1 });
    const start = await rig.tail.waitFor('recompute.start', (r) => r.event === 'recompute.start' && r.runId === runId);
    const holderPid = start.pid as number;
    rig.signal(holderPid, 'SIGKILL');
    const injectedAt = Date.now();
    say(`kill-holder: SIGKILL ${start.workerId} (pid ${holderPid}) at recompute.start, fence ${start.fence}`);

    const summary = await burst;
    const recoveryMs = rig.recoveryMs(injectedAt);
    await rig.stopFleet();
    const records = rig.tail.records;
    const recomputes = recomputations(records, [runId]);
    const stale = await staleOverwrites(records, rig.admin, rig.keyPrefix, [runId]);
    const writes = records.filter((r) => r.event === 'cache.write' && r.runId === runId);
    const exits = Object.fromEntries(rig.exits());
    const facts: KillHolderFacts = {
      holder: String(start.workerId),
      holderPid,
      holderFence: start.fence as number,
      takeovers: writes.map((w) => ({ workerId: String(w.workerId), fence: w.fence as number })),
      stalledJobs: rig.stalled.length,
      exits,
    };
    const others = Object.entries(exits).filter(([name]) => name !== facts.holder);
    return {
      row: {
        fault: '1 kill-holder',
        jobs: summary.jobs,
        completed: summary.completed,
        failed: summary.failed,
        lost: lostJobs(summary),
        recomputations: recomputes,
        staleOverwrites: stale.count,
        recoveryMs,
        notes: [
          `SIGKILL ${facts.holder} at its recompute.start (fence ${facts.holderFence}); ` +
            `${facts.takeovers.map((t) => `${t.workerId} took over (fence ${t.fence})`).join(', ') || 'nobody took over'}; ` +
            `${facts.stalledJobs} of its jobs re-queued by BullMQ's stalled check`,
        ],
      },
      checks: [
        check(
          'the holder was killed before writing',
          !writes.some((w) => w.pid === holderPid),
          writes.map((w) => w.workerId),
        ),
        check(
          'another worker took over and wrote a newer value',
          writes.some((w) => w.pid !== holderPid && (w.fence as number) > facts.holderFence),
          facts.takeovers,
        ),
        check('every job completed', summary.completed === JOBS && !summary.timedOut, `${summary.completed}/${JOBS}`),
        check('0 jobs failed', summary.failed === 0, summary.failures),
        check('0 jobs lost', lostJobs(summary) === 0, lostJobs(summary)),
        check('at most one extra recomputation', recomputes >= 1 && recomputes <= 2, recomputes),
        check('0 stale overwrites', stale.count === 0, stale.keys),
        check('the killed worker died of SIGKILL', exits[facts.holder] === 'SIGKILL', exits[facts.holder] ?? 'still running'),
        check('the other workers kept serving and stopped cleanly', others.length === 2 && others.every(([, code]) => code === 0), others),
      ],
      facts,
    };
  } finally {
    await rig.close();
  }
}
