import { startRig } from './harness.js';
import { lostJobs, recomputations } from './measure.js';
import { check, type FaultOptions, type FaultOutcome } from './types.js';

export interface EvictingPolicyFacts {
  /** The `warning: ...` line each worker printed at start. */
  printed: string[];
  /** The `redis.warning` log lines' text. */
  logged: string[];
}

const POLICY = 'allkeys-lru';
const JOBS = 10;

/**
 * Fault 6: the queue's Redis runs an evicting `maxmemory-policy`, which lets Redis delete
 * BullMQ's job keys under memory pressure. Each worker must say so at start, naming the fix,
 * on its output and as a `redis.warning` log event, and still serve.
 */
export async function evictingPolicy(options: FaultOptions = {}): Promise<FaultOutcome<EvictingPolicyFacts>> {
  const rig = await startRig(
    'evicting-policy',
    {
      workers: 2,
      concurrency: 5,
      computeMs: 50,
      lockTtlMs: 2000,
      lockDurationMs: 2000,
      stalledIntervalMs: 1000,
      redisArgs: ['--maxmemory-policy', POLICY],
    },
    options,
  );
  try {
    const summary = await rig.burst('main', { jobs: JOBS, keys: 1 });
    await rig.stopFleet();
    const printed = rig
      .output()
      .split('\n')
      .filter((line) => /\bwarning: /.test(line));
    const logged = rig.tail.records.filter((r) => r.event === 'redis.warning').map((r) => String(r.warning));
    const names = (text: string) =>
      text.includes(POLICY) && text.includes('noeviction') && /fix: CONFIG SET maxmemory-policy noeviction/.test(text);
    const facts: EvictingPolicyFacts = { printed, logged };
    return {
      row: {
        fault: '6 evicting-policy',
        jobs: summary.jobs,
        completed: summary.completed,
        failed: summary.failed,
        lost: lostJobs(summary),
        recomputations: recomputations(rig.tail.records, [rig.runId('main')]),
        staleOverwrites: 0,
        recoveryMs: null,
        notes: [
          `maxmemory-policy ${POLICY}: ${printed.length} workers printed and ${logged.length} logged the warning: ${(printed[0] ?? '').replace(/^\[[^\]]+\]\s*/, '')}`,
        ],
      },
      checks: [
        check('every worker printed a warning naming the policy and the fix', printed.length === 2 && printed.every(names), printed),
        check('every worker logged redis.warning', logged.length === 2 && logged.every(names), logged),
        check('the workers still served the burst', summary.completed === JOBS && lostJobs(summary) === 0, `${summary.completed}/${JOBS}`),
      ],
      facts,
    };
  } finally {
    await rig.close();
  }
}
