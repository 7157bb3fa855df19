import { SHORT_SETTINGS, startRig } from './harness.js';
import { leftoverLocks, lostJobs, recomputations, staleOverwrites, unfinishedJobs } from './measure.js';
import { check, type FaultOptions, type FaultOutcome } from './types.js';

export interface SigtermWorkerFacts {
  stopped: string;
  stoppedPid: number;
  exitCode: number | string | null;
  /** Jobs the stopped worker had started: each must have completed there. */
  inFlight: number;
  completedThere: number;
  lastEvent: string | null;
  locksLeft: string[];
  /** Workers that completed the jobs of the burst sent after the stop. */
  nextBurstWorkers: string[];
}

const JOBS = 40;
const NEXT = 20;

/**
 * Fault 5: SIGTERM to a worker with jobs in flight: the lock holder, at its `recompute.start`.
 * It takes no new job, finishes the ones it has (writing the value and releasing the lock),
 * flushes its log and exits 0; the other worker serves the next burst alone.
 * Must hold: its jobs complete, no lock is left, exit 0; the second worker takes over new jobs.
 */
export async function sigtermWorker(options: FaultOptions = {}): Promise<FaultOutcome<SigtermWorkerFacts>> {
  const say = options.say ?? (() => {});
  const rig = await startRig('sigterm-worker', { workers: 2, concurrency: 20, computeMs: 1000, ...SHORT_SETTINGS }, options);
  try {
    const runId = rig.runId('main');
    const burst = rig.burst('main', { jobs: JOBS, keys: 1 });
    const start = await rig.tail.waitFor('recompute.start', (r) => r.event === 'recompute.start' && r.runId === runId);
    const pid = start.pid as number;
    const stopped = String(start.workerId);
    rig.signal(pid, 'SIGTERM');
    const injectedAt = Date.now();
    say(`sigterm-worker: SIGTERM ${stopped} (pid ${pid}) while it computes`);

    const summary = await burst;
    const recoveryMs = rig.recoveryMs(injectedAt);
    await rig.tail.waitFor(`worker.stopped from ${stopped}`, (r) => r.pid === pid && r.event === 'worker.stopped', 30_000);
    const command = rig.fleet.commands.find((c) => c.name === stopped);
    const exit = await new Promise<number | string>((resolve) => {
      const known = rig.exits().get(stopped);
      if (known !== undefined) resolve(known);
      else command?.close.subscribe((event) => resolve(event.exitCode));
    });
    const next = await rig.burst('next', { jobs: NEXT, keys: 1 });
    const locksLeft = await leftoverLocks(rig.admin, rig.keyPrefix, rig.queueName);
    const leftInQueue = await unfinishedJobs(rig.queue);
    await rig.stopFleet();

    const records = rig.tail.records;
    const mine = records.filter((r) => r.pid === pid);
    const stoppingAt = mine.findIndex((r) => r.event === 'worker.stopping');
    const started = new Set(mine.filter((r) => r.runId === runId && typeof r.jobId === 'string').map((r) => r.jobId));
    const completedThere = new Set(mine.filter((r) => r.event === 'job.completed' && r.runId === runId).map((r) => r.jobId));
    const nextWorkers = [
      ...new Set(records.filter((r) => r.event === 'job.completed' && r.runId === rig.runId('next')).map((r) => String(r.workerId))),
    ];
    const facts: SigtermWorkerFacts = {
      stopped,
      stoppedPid: pid,
      exitCode: exit,
      inFlight: started.size,
      completedThere: completedThere.size,
      lastEvent: (mine.at(-1)?.event as string | undefined) ?? null,
      locksLeft,
      nextBurstWorkers: nextWorkers,
    };
    const runIds = [runId, rig.runId('next')];
    const stale = await staleOverwrites(records, rig.admin, rig.keyPrefix, runIds);
    const lost = lostJobs(summary) + lostJobs(next);
    const completedAfterStop = mine.slice(stoppingAt).filter((r) => r.event === 'job.completed').length;
    return {
      row: {
        fault: '5 sigterm-worker',
        jobs: summary.jobs + next.jobs,
        completed: summary.completed + next.completed,
        failed: summary.failed + next.failed,
        lost,
        recomputations: recomputations(records, runIds),
        staleOverwrites: stale.count,
        recoveryMs,
        notes: [
          `SIGTERM ${stopped} (the holder) with ${started.size} jobs in flight: ${completedThere.size} completed there ` +
            `(${completedAfterStop} after worker.stopping), exit ${exit}; locks left: ${locksLeft.length}; ` +
            `next burst served by ${nextWorkers.join(', ') || 'nobody'}`,
        ],
      },
      checks: [
        check('the stopped worker exited 0', exit === 0, exit),
        check('its log ends with worker.stopped', facts.lastEvent === 'worker.stopped', facts.lastEvent),
        check('its jobs in flight completed there', started.size > 0 && completedThere.size === started.size, {
          started: started.size,
          completed: completedThere.size,
        }),
        check('it was really mid-work when stopped', stoppingAt >= 0 && completedAfterStop > 0, { completedAfterStop }),
        check('no lock left (guard or BullMQ)', locksLeft.length === 0, locksLeft),
        check(
          'every job completed, 0 failed, 0 lost',
          summary.completed === JOBS && next.completed === NEXT && lost === 0 && leftInQueue === 0,
          {
            main: summary.completed,
            next: next.completed,
            lost,
            leftInQueue,
          },
        ),
        check('the second worker took over the new jobs', nextWorkers.length === 1 && nextWorkers[0] !== stopped, nextWorkers),
        check('0 stale overwrites', stale.count === 0, stale.keys),
      ],
      facts,
    };
  } finally {
    await rig.close();
  }
}
