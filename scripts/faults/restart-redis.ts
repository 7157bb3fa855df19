import type { BurstSummary } from '../burst/burst.js';
import { SHORT_SETTINGS, startRig } from './harness.js';
import { lostJobs, recomputations, staleOverwrites, unfinishedJobs } from './measure.js';
import { check, type FaultOptions, type FaultOutcome } from './types.js';

export interface RestartRedisFacts {
  /** Completions seen in the logs when Redis was shut down. */
  completedBeforeRestart: number;
  downMs: number;
  oldPid: number;
  newPid: number;
  /** The burst a producer tried to send while Redis was down. */
  duringOutage: Pick<BurstSummary, 'jobs' | 'enqueued' | 'notEnqueued' | 'enqueueFailures'>;
  /** A burst sent after the restart, to the same (reconnected) workers. */
  afterRestart: Pick<BurstSummary, 'jobs' | 'completed' | 'failed'>;
  exits: Record<string, number | string>;
  /** `[ioredis] Unhandled error event` lines in the fleet's output (a connection without an error listener). */
  unhandledErrorLines: number;
  /** job.failed and job.retry lines in the workers' logs (attempts that failed, even if BullMQ re-ran the job). */
  failedAttempts: number;
  /** job.completed lines beyond the completions BullMQ recorded: jobs run twice. */
  reruns: number;
}

const JOBS = 120;
// One key per job: every job recomputes, so computations go on in waves until the burst ends and
// the fault always finds a holder mid-computation, however late the log tail reads.
const KEYS = JOBS;
const DURING = 20;
const AFTER = 20;
/** The shortest outage: the fault is injected at an event, this is how long the fault lasts. */
const DOWNTIME_MS = 1500;

/**
 * Fault 3: restart redis-server mid-burst. When a tenth of the burst has completed, at the next
 * `recompute.start` (so a holder's write will meet the outage), Redis is shut down (SHUTDOWN: the AOF is flushed) and, while it is down, a producer tries to enqueue
 * another burst; once every worker has noticed and at least 1.5 s have passed, redis-server starts
 * again on the same port with the same AOF file.
 * Must hold: the workers reconnect by themselves and every enqueued job completes (the waiting
 * ones survive in the AOF); the producer reports what it could not enqueue instead of crashing.
 */
export async function restartRedis(options: FaultOptions = {}): Promise<FaultOutcome<RestartRedisFacts>> {
  const say = options.say ?? (() => {});
  const rig = await startRig('restart-redis', { workers: 2, concurrency: 10, computeMs: 500, ...SHORT_SETTINGS }, options);
  try {
    const runId = rig.runId('main');
    const burst = rig.burst('main', { jobs: JOBS, keys: KEYS });
    await rig.tail.waitForCount('job.completed', (r) => r.event === 'job.completed' && r.runId === runId, JOBS / 10);
    // Mid-burst, and with a holder mid-computation: its write and release will meet the outage.
    const seen = rig.tail.records.length;
    const holder = await rig.tail.waitFor(
      'a recompute.start after the first completions',
      (r) => r.event === 'recompute.start' && r.runId === runId && rig.tail.records.indexOf(r) >= seen,
    );
    const completedBeforeRestart = rig.tail.count((r) => r.event === 'job.completed' && r.runId === runId);
    const oldPid = rig.redis.pid;
    const injectedAt = Date.now();
    await rig.redis.shutdown();
    const downAt = Date.now();
    say(
      `restart-redis: redis-server shut down after ${completedBeforeRestart} completions, ${holder.workerId} computing ${holder.key}; enqueueing ${DURING} jobs while it is down`,
    );

    // The producer fails fast while Redis is down: it must count what it could not enqueue.
    const during = await rig.burst('during', { jobs: DURING, keys: 1 }, 30_000);
    // And every worker has noticed (its connections log the refused reconnects) before Redis returns.
    const workerPids = [rig.pidOf('worker-1'), rig.pidOf('worker-2')];
    for (const pid of workerPids) {
      await rig.tail.waitFor(
        `a connection error logged by pid ${pid}`,
        (r) => r.pid === pid && r.event === 'redis.error' && (r.time ?? 0) >= injectedAt,
        20_000,
      );
    }
    // A real restart (loading data, a failover) takes a while: stay down at least DOWNTIME_MS, longer
    // than a fail-fast client would wait (ioredis fails queued commands after 3 reconnects, ~0.3 s).
    const remaining = DOWNTIME_MS - (Date.now() - injectedAt);
    if (remaining > 0) await new Promise((resolve) => setTimeout(resolve, remaining));
    await rig.redis.start();
    const downMs = Date.now() - injectedAt;
    say(`restart-redis: redis-server back on port ${rig.redis.port} after ${downMs} ms (pid ${rig.redis.pid})`);

    const summary = await burst;
    // From SHUTDOWN to the first completion Redis recorded once it was back (jobs that completed
    // while the SHUTDOWN was on its way do not count as recovered).
    const firstBack = rig.firstCompletionAt(downAt);
    const recoveryMs = firstBack === null ? null : firstBack - injectedAt;
    const after = await rig.burst('after', { jobs: AFTER, keys: 2 }, 60_000);
    const leftInQueue = await unfinishedJobs(rig.queue);
    await rig.stopFleet();
    const runIds = [runId, rig.runId('during'), rig.runId('after')];
    const records = rig.tail.records;
    const stale = await staleOverwrites(records, rig.admin, rig.keyPrefix, runIds);
    const exits = Object.fromEntries(rig.exits());
    const all = [summary, during, after];
    const sum = (f: (s: BurstSummary) => number) => all.reduce((n, s) => n + f(s), 0);
    const lost = sum(lostJobs);
    // A job whose attempt failed in the outage and that BullMQ then re-ran (its lock expired too)
    // completes in the end; the worker's job.failed line still shows the attempt was lost.
    const failedAttempts = records.filter(
      (r) => (r.event === 'job.failed' || r.event === 'job.retry') && runIds.includes(String(r.runId)),
    ).length;
    const reruns = records.filter((r) => r.event === 'job.completed' && runIds.includes(String(r.runId))).length - sum((s) => s.completed);
    const facts: RestartRedisFacts = {
      completedBeforeRestart,
      downMs,
      oldPid,
      newPid: rig.redis.pid,
      duringOutage: {
        jobs: during.jobs,
        enqueued: during.enqueued,
        notEnqueued: during.notEnqueued,
        enqueueFailures: during.enqueueFailures,
      },
      afterRestart: { jobs: after.jobs, completed: after.completed, failed: after.failed },
      exits,
      unhandledErrorLines: rig
        .output()
        .split('\n')
        .filter((l) => l.includes('Unhandled error event')).length,
      failedAttempts,
      reruns,
    };
    return {
      row: {
        fault: '3 restart-redis',
        jobs: sum((s) => s.jobs),
        completed: sum((s) => s.completed),
        failed: sum((s) => s.failed),
        lost,
        recomputations: recomputations(records, runIds),
        staleOverwrites: stale.count,
        recoveryMs,
        notes: [
          `redis down ${downMs} ms after ${completedBeforeRestart}/${JOBS} completions; ` +
            `producer during the outage: ${during.notEnqueued}/${DURING} not enqueued (reported: ${Object.keys(during.enqueueFailures).join('; ') || 'none'}); ` +
            `after the restart: ${after.completed}/${AFTER} completed; ` +
            `${reruns} jobs ran twice (their BullMQ lock expired during the outage)`,
        ],
      },
      checks: [
        check('every job of the burst completed', summary.completed === JOBS && !summary.timedOut, `${summary.completed}/${JOBS}`),
        check(
          '0 jobs failed',
          sum((s) => s.failed) === 0,
          all.map((s) => s.failures),
        ),
        check('no attempt failed in a worker either (the guard waited for Redis)', failedAttempts === 0, failedAttempts),
        check('0 jobs lost', lost === 0 && leftInQueue === 0, { lost, leftInQueue }),
        check(
          'the producer reported every job it could not enqueue',
          during.notEnqueued + during.enqueued === DURING && during.notEnqueued > 0 && Object.keys(during.enqueueFailures).length > 0,
          facts.duringOutage,
        ),
        check('the workers reconnected by themselves: a new burst completed', after.completed === AFTER, facts.afterRestart),
        check(
          'no worker exited during the outage; all stopped cleanly',
          Object.values(exits).every((c) => c === 0),
          exits,
        ),
        check('0 stale overwrites', stale.count === 0, stale.keys),
      ],
      facts,
    };
  } finally {
    await rig.close();
  }
}
