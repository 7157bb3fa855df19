import { SHORT_SETTINGS, startRig } from './harness.js';
import { lostJobs, recomputations, staleOverwrites } from './measure.js';
import { check, type FaultOptions, type FaultOutcome } from './types.js';

export interface ScriptFlushFacts {
  /** `script.not-cached` warnings: the guard's scripts were sent again with EVAL. */
  notCachedWarnings: number;
  scripts: string[];
  /** Holders computing when the script cache was emptied. */
  holdersComputing: number;
  /** A burst enqueued after the flush (BullMQ's own scripts must come back too). */
  afterFlush: { jobs: number; completed: number; failed: number; notEnqueued: number };
}

const JOBS = 100;
const KEYS = 10;
const AFTER = 20;

/**
 * Fault 4: `SCRIPT FLUSH` mid-burst, while holders are computing: their fenced writes and
 * releases, and every waiter's next acquire, find their script gone (NOSCRIPT) and must send
 * it again with EVAL; BullMQ's own scripts (moving jobs, adding jobs) must recover the same way.
 * Must hold: 0 failed jobs.
 */
export async function scriptFlush(options: FaultOptions = {}): Promise<FaultOutcome<ScriptFlushFacts>> {
  const say = options.say ?? (() => {});
  const rig = await startRig('script-flush', { workers: 2, concurrency: 20, computeMs: 800, ...SHORT_SETTINGS }, options);
  try {
    const runId = rig.runId('main');
    const burst = rig.burst('main', { jobs: JOBS, keys: KEYS });
    await rig.tail.waitFor('recompute.start', (r) => r.event === 'recompute.start' && r.runId === runId);
    await rig.admin.script('FLUSH');
    const injectedAt = Date.now();
    const holdersComputing = rig.tail.count((r) => r.event === 'recompute.start' && r.runId === runId);
    say(`script-flush: SCRIPT FLUSH with ${holdersComputing} holder(s) computing`);

    const summary = await burst;
    const recoveryMs = rig.recoveryMs(injectedAt);
    // Flush again, then enqueue: the producer's own scripts (BullMQ's add-job) are gone too.
    await rig.admin.script('FLUSH');
    const after = await rig.burst('after', { jobs: AFTER, keys: 2 });
    await rig.stopFleet();
    const runIds = [runId, rig.runId('after')];
    const records = rig.tail.records;
    const stale = await staleOverwrites(records, rig.admin, rig.keyPrefix, runIds);
    const notCached = records.filter((r) => r.event === 'script.not-cached');
    const facts: ScriptFlushFacts = {
      notCachedWarnings: notCached.length,
      scripts: [...new Set(notCached.map((r) => String(r.script)))].sort(),
      holdersComputing,
      afterFlush: { jobs: after.jobs, completed: after.completed, failed: after.failed, notEnqueued: after.notEnqueued },
    };
    const failed = summary.failed + after.failed;
    const lost = lostJobs(summary) + lostJobs(after);
    return {
      row: {
        fault: '4 script-flush',
        jobs: summary.jobs + after.jobs,
        completed: summary.completed + after.completed,
        failed,
        lost,
        recomputations: recomputations(records, runIds),
        staleOverwrites: stale.count,
        recoveryMs,
        notes: [
          `SCRIPT FLUSH with ${holdersComputing} holder(s) computing, again before a ${AFTER}-job burst; ` +
            `script.not-cached x${facts.notCachedWarnings} (${facts.scripts.join(', ') || 'none'})`,
        ],
      },
      checks: [
        check('0 jobs failed', failed === 0, [summary.failures, after.failures]),
        check(
          'every job completed',
          summary.completed === JOBS && after.completed === AFTER,
          `${summary.completed}/${JOBS}, ${after.completed}/${AFTER}`,
        ),
        check('every job could be enqueued after the flush', after.notEnqueued === 0, after.enqueueFailures),
        check('0 jobs lost', lost === 0, lost),
        check('the guard noticed and logged script.not-cached', facts.notCachedWarnings >= 1, facts.notCachedWarnings),
        check('0 stale overwrites', stale.count === 0, stale.keys),
      ],
      facts,
    };
  } finally {
    await rig.close();
  }
}
