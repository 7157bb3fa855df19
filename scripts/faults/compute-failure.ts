import { setTimeout as sleep } from 'node:timers/promises';
import { readEnvelope } from '../../src/cache/store.js';
import { cacheKeys } from '../../src/keys.js';
import type { BurstSummary } from '../burst/burst.js';
import { startRig, type Rig } from './harness.js';
import type { TailedRecord } from './log-tail.js';
import { leftoverLocks, lostJobs, ofRuns, recomputations, staleOverwrites, storedFence, unfinishedJobs } from './measure.js';
import { check, type Check, type FaultOptions, type FaultOutcome } from './types.js';
import { toPort } from '../../src/redis/adapt.js';

/** How one failing burst ended: who failed how, and how long anyone waited. */
export interface FailingBurstFacts {
  jobs: number;
  failed: number;
  /** Jobs whose own holder's computation failed (the holder's, and those sharing its flight). */
  direct: number;
  /** Jobs in other workers told by the holder's `failed:` notification ("failed in its holder: ..."). */
  relayed: number;
  /** Failure reasons that are neither: must be none. */
  other: Record<string, number>;
  /** Workers whose computation failed (`recompute.failed`). */
  holders: string[];
  recomputations: number;
  /** `wait.end` outcomes of the waiters in other workers. */
  waits: Record<string, number>;
  /** Longest a waiter waited (`wait.end`'s `waitedMs`). */
  longestWaitMs: number;
  /** Enqueue to the last job's end, as the producer saw it. */
  lastEndedMs: number;
  /** The holder's `recompute.failed` `durationMs` (the longest, if several). */
  computeFailedAfterMs: number;
}

export interface ComputeFailureFacts {
  throwing: FailingBurstFacts;
  hanging: FailingBurstFacts;
  /** The burst after the failures, on the same key and workers. */
  after: { jobs: number; completed: number; failed: number; recomputations: number; workers: string[] };
  /** Guard lock of the key right after each failing burst ended (must be gone: released at once). */
  lockAfterThrow: boolean;
  lockAfterHang: boolean;
  /** Fence of a value stored for the key after the failing bursts (none must be: failures write nothing). */
  storedAfterFailures: number | null;
  locksLeft: string[];
  leftInQueue: number;
  exits: Record<string, number | string>;
  /** The same throwing burst under FAILURE_POLICY stale, on a warm value past its fresh time. */
  stale: StalePolicyFacts;
}

export interface StalePolicyFacts {
  jobs: number;
  completed: number;
  failed: number;
  sources: BurstSummary['sources'];
  distinctValues: number;
  /** Both bursts: the warm-up's computation and the failing one(s). */
  recomputations: number;
  /** Of those, the throwing burst's. */
  failedRecomputations: number;
  /** `stale.served` lines with reason `compute-failed` (one per process that fell back). */
  servedForFailure: number;
  lastEndedMs: number;
  /** The warm value's fence before the burst, and the fence stored after it: unchanged. */
  fenceBefore: number | null;
  fenceAfter: number | null;
  locksLeft: string[];
}

const WORKERS = 3;
const JOBS = 30;
const COMPUTE_TIMEOUT_MS = 1500;
/** Long on purpose: a waiter that learned of the failure by waiting out the lock would take this. */
const LOCK_TTL_MS = 30_000;
/** "Well before the lock TTL": every failing job must end within this. */
const TOLD_WITHIN_MS = LOCK_TTL_MS / 2;
const THROW_AFTER_MS = 1000;
const KEY_PREFIX = 'failing';
const KEY = `${KEY_PREFIX}-1`;
const STALE_JOBS = 20;
/** Fresh time of the warm value in the stale part: short, so it is stale a moment later. */
const STALE_VALUE_TTL_MS = 500;

/**
 * Fault 7: a computation that throws, and one that hangs past the compute timeout. Jobs ask for
 * it through the queue contract (`simulate: "throw" | "hang"`); the workers run with
 * COMPUTE_TIMEOUT_MS 1500, FAILURE_POLICY error and a 30 s lock TTL. On one cold key, a burst
 * whose computation throws, then one whose computation hangs, then a normal burst.
 * Must hold: every failing job ends with a reason naming the failure (the holder's own, or
 * "failed in its holder: ..." for waiters in other workers), well before the lock TTL (waiters
 * are told by the holder's `failed:` notification, not by waiting the lock out); the lock is
 * released at once and nothing is cached; then the same workers serve a normal burst, with one
 * recomputation, and no lock is left. Then, on a second fleet with FAILURE_POLICY stale, a
 * throwing burst on a warm value past its fresh time: every job completes with that stale value.
 */
export async function computeFailure(options: FaultOptions = {}): Promise<FaultOutcome<ComputeFailureFacts>> {
  const failing = await errorPolicy(options);
  const stale = await stalePolicy(options);
  const row = failing.row;
  return {
    row: {
      ...row,
      jobs: row.jobs + stale.facts.jobs,
      completed: row.completed + stale.facts.completed,
      failed: row.failed + stale.facts.failed,
      lost: row.lost + stale.lost,
      recomputations: row.recomputations + stale.facts.recomputations,
      notes: [
        ...row.notes,
        `FAILURE_POLICY stale (second fleet, VALUE_TTL_MS ${STALE_VALUE_TTL_MS}): one warm-up job, then ${STALE_JOBS} jobs throwing on the value past its fresh time: ` +
          `${stale.facts.sources.stale} completed with source "stale" (${stale.facts.distinctValues} distinct value, ` +
          `${stale.facts.failedRecomputations} failed recomputation, the stored value unchanged), the last ${stale.facts.lastEndedMs} ms after enqueue`,
      ],
    },
    checks: [...failing.checks, ...stale.checks],
    facts: { ...failing.facts, stale: stale.facts },
  };
}

async function errorPolicy(options: FaultOptions): Promise<FaultOutcome<Omit<ComputeFailureFacts, 'stale'>>> {
  const say = options.say ?? (() => {});
  const rig = await startRig(
    'compute-failure',
    {
      workers: WORKERS,
      // 3 x 10 slots for 30 jobs: every worker takes jobs of each burst at once, so each
      // failing burst has waiters in the workers that are not its holder.
      concurrency: JOBS / WORKERS,
      computeMs: 500,
      lockTtlMs: LOCK_TTL_MS,
      lockDurationMs: 2000,
      stalledIntervalMs: 1000,
      env: { COMPUTE_TIMEOUT_MS: String(COMPUTE_TIMEOUT_MS), FAILURE_POLICY: 'error' },
    },
    options,
  );
  try {
    const lockKey = cacheKeys(rig.keyPrefix, KEY).lock;
    const spec = { jobs: JOBS, keys: 1, keyPrefix: KEY_PREFIX };

    say(`compute-failure: ${JOBS} jobs on "${KEY}" whose computation throws after ${THROW_AFTER_MS} ms`);
    const throwing = await rig.burst('throw', { ...spec, computeMs: THROW_AFTER_MS, simulate: 'throw' }, 60_000);
    const lockAfterThrow = (await rig.admin.exists(lockKey)) === 1;

    say(`compute-failure: ${JOBS} jobs on "${KEY}" whose computation hangs (compute timeout ${COMPUTE_TIMEOUT_MS} ms)`);
    const hangStartedAt = Date.now();
    const hanging = await rig.burst('hang', { ...spec, simulate: 'hang' }, 60_000);
    const lockAfterHang = (await rig.admin.exists(lockKey)) === 1;
    const storedAfterFailures = await storedFence(rig.admin, rig.keyPrefix, KEY);

    say(`compute-failure: a normal burst of ${JOBS} jobs on the same key and workers`);
    const after = await rig.burst('after', spec, 60_000);
    const recoveryMs = rig.recoveryMs(hangStartedAt);
    const locksLeft = await leftoverLocks(rig.admin, rig.keyPrefix, rig.queueName);
    const leftInQueue = await unfinishedJobs(rig.queue);
    const runningBeforeStop = rig.exits().size === 0;
    await rig.stopFleet();

    const records = rig.tail.records;
    const quoted = JSON.stringify(KEY).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const throwFacts = failingBurst(rig, records, 'throw', throwing, {
      direct: /^simulated failure in worker-\d+ after \d+ ms$/,
      relayed: new RegExp(`^the computation of ${quoted} failed in its holder: simulated failure in worker-\\d+ after \\d+ ms$`),
    });
    const tookLonger = `computation of ${quoted} took longer than ${COMPUTE_TIMEOUT_MS} ms`;
    const hangFacts = failingBurst(rig, records, 'hang', hanging, {
      direct: new RegExp(`^${tookLonger}$`),
      relayed: new RegExp(`^the computation of ${quoted} failed in its holder: ${tookLonger}$`),
    });
    const afterRun = rig.runId('after');
    const afterWorkers = [
      ...new Set(records.filter((r) => r.event === 'job.completed' && r.runId === afterRun).map((r) => String(r.workerId))),
    ].sort();
    const runIds = ['throw', 'hang', 'after'].map((label) => rig.runId(label));
    const stale = await staleOverwrites(records, rig.admin, rig.keyPrefix, runIds);
    const exits = Object.fromEntries(rig.exits());
    const facts: Omit<ComputeFailureFacts, 'stale'> = {
      throwing: throwFacts,
      hanging: hangFacts,
      after: {
        jobs: after.jobs,
        completed: after.completed,
        failed: after.failed,
        recomputations: recomputations(records, [afterRun]),
        workers: afterWorkers,
      },
      lockAfterThrow,
      lockAfterHang,
      storedAfterFailures,
      locksLeft,
      leftInQueue,
      exits,
    };
    const bursts = [throwing, hanging, after];
    const lost = bursts.reduce((n, b) => n + lostJobs(b), 0);
    const describeBurst = (name: string, f: FailingBurstFacts) =>
      `${name}: ${f.failed}/${f.jobs} failed (${f.direct} in the holder's flight, ${f.relayed} told by its notification), ` +
      `the last ${f.lastEndedMs} ms after enqueue, longest wait ${f.longestWaitMs} ms (lock TTL ${LOCK_TTL_MS} ms)`;
    return {
      row: {
        fault: '7 compute-failure',
        jobs: bursts.reduce((n, b) => n + b.jobs, 0),
        completed: bursts.reduce((n, b) => n + b.completed, 0),
        failed: bursts.reduce((n, b) => n + b.failed, 0),
        lost,
        recomputations: recomputations(records, runIds),
        staleOverwrites: stale.count,
        recoveryMs,
        notes: [
          `COMPUTE_TIMEOUT_MS ${COMPUTE_TIMEOUT_MS}, FAILURE_POLICY error, LOCK_TTL_MS ${LOCK_TTL_MS}; ${describeBurst('throw', throwFacts)}; ` +
            `${describeBurst('hang', hangFacts)} (holder gave up after ${hangFacts.computeFailedAfterMs} ms); ` +
            `then ${after.completed}/${after.jobs} completed on ${afterWorkers.join(', ')} with ${facts.after.recomputations} recomputation(s); ` +
            `locks left: ${locksLeft.length}; the ${throwing.failed + hanging.failed} failed jobs are the expected ones`,
        ],
      },
      checks: [
        ...failingChecks('throw', throwFacts),
        ...failingChecks('hang', hangFacts),
        check(
          'the hanging computation was abandoned at the compute timeout',
          hangFacts.computeFailedAfterMs >= COMPUTE_TIMEOUT_MS - 50 && hangFacts.computeFailedAfterMs < TOLD_WITHIN_MS,
          hangFacts.computeFailedAfterMs,
        ),
        check('a failing holder released its lock at once', !lockAfterThrow && !lockAfterHang, { lockAfterThrow, lockAfterHang }),
        check('a failed computation cached nothing', storedAfterFailures === null, storedAfterFailures),
        check(
          'the same workers then served a normal burst: every job completed',
          after.completed === JOBS && after.failed === 0 && !after.timedOut,
          {
            completed: after.completed,
            failed: after.failures,
          },
        ),
        check('the normal burst recomputed once', facts.after.recomputations === 1, facts.after.recomputations),
        check('every worker kept serving', runningBeforeStop && afterWorkers.length === WORKERS, {
          afterWorkers,
          exitedEarly: !runningBeforeStop,
        }),
        check('no lock left (guard or BullMQ), no job left in the queue', locksLeft.length === 0 && leftInQueue === 0, {
          locksLeft,
          leftInQueue,
        }),
        check('0 jobs lost', lost === 0, lost),
        check(
          'every worker stopped cleanly',
          Object.keys(exits).length === WORKERS && Object.values(exits).every((code) => code === 0),
          exits,
        ),
      ],
      facts,
    };
  } finally {
    await rig.close();
  }
}

/**
 * FAILURE_POLICY stale: a warm value, let go stale (its grace keeps it in Redis), then a burst
 * whose computation throws. The holder and every waiter fall back on the stale value.
 */
async function stalePolicy(options: FaultOptions): Promise<{ facts: StalePolicyFacts; checks: Check[]; lost: number }> {
  const say = options.say ?? (() => {});
  const rig = await startRig(
    'compute-failure-stale',
    {
      workers: 2,
      concurrency: STALE_JOBS / 2,
      computeMs: 100,
      lockTtlMs: LOCK_TTL_MS,
      lockDurationMs: 2000,
      stalledIntervalMs: 1000,
      env: {
        COMPUTE_TIMEOUT_MS: String(COMPUTE_TIMEOUT_MS),
        FAILURE_POLICY: 'stale',
        VALUE_TTL_MS: String(STALE_VALUE_TTL_MS),
        GRACE_MS: '300000',
      },
    },
    options,
  );
  try {
    const keys = cacheKeys(rig.keyPrefix, KEY);
    const spec = { keys: 1, keyPrefix: KEY_PREFIX };
    const warm = await rig.burst('warm', { ...spec, jobs: 1 }, 60_000);
    const envelope = await readEnvelope(toPort(rig.admin), keys);
    // Wait out the value's fresh time (same clock: the workers run on this machine).
    if (envelope) await sleep(Math.max(0, envelope.freshUntil - Date.now()) + 50);
    const fenceBefore = await storedFence(rig.admin, rig.keyPrefix, KEY);
    say(`compute-failure: FAILURE_POLICY stale: ${STALE_JOBS} jobs whose computation throws, on a value past its fresh time`);
    const burst = await rig.burst('stale', { ...spec, jobs: STALE_JOBS, computeMs: THROW_AFTER_MS, simulate: 'throw' }, 60_000);
    const fenceAfter = await storedFence(rig.admin, rig.keyPrefix, KEY);
    const locksLeft = await leftoverLocks(rig.admin, rig.keyPrefix, rig.queueName);
    await rig.stopFleet();
    const runId = rig.runId('stale');
    const records = rig.tail.records;
    const facts: StalePolicyFacts = {
      jobs: warm.jobs + burst.jobs,
      completed: warm.completed + burst.completed,
      failed: warm.failed + burst.failed,
      sources: burst.sources,
      distinctValues: burst.distinctValues,
      recomputations: recomputations(records, [rig.runId('warm'), runId]),
      failedRecomputations: recomputations(records, [runId]),
      servedForFailure: records.filter((r) => r.event === 'stale.served' && r.runId === runId && r.reason === 'compute-failed').length,
      lastEndedMs: burst.latencyMs.max,
      fenceBefore,
      fenceAfter,
      locksLeft,
    };
    const staleRecomputes = facts.failedRecomputations;
    return {
      facts,
      lost: lostJobs(warm) + lostJobs(burst),
      checks: [
        check('stale: the value was warm, then past its fresh time', warm.completed === 1 && envelope !== null && fenceBefore !== null, {
          warm: warm.completed,
          fenceBefore,
        }),
        check(
          `stale: every job completed with the stale value (source "stale")`,
          burst.completed === STALE_JOBS && burst.sources.stale === STALE_JOBS && burst.distinctValues === 1,
          {
            completed: burst.completed,
            sources: burst.sources,
            failures: burst.failures,
            distinctValues: burst.distinctValues,
          },
        ),
        check(
          'stale: the failing computation ran, and fell back (stale.served, reason compute-failed)',
          staleRecomputes >= 1 && facts.servedForFailure >= 1,
          {
            recomputations: staleRecomputes,
            servedForFailure: facts.servedForFailure,
          },
        ),
        check('stale: the stale value stayed stored, unchanged', fenceAfter === fenceBefore, { fenceBefore, fenceAfter }),
        check(`stale: every job ended well before the ${LOCK_TTL_MS} ms lock TTL`, facts.lastEndedMs < TOLD_WITHIN_MS, facts.lastEndedMs),
        check('stale: no lock left', locksLeft.length === 0, locksLeft),
      ],
    };
  } finally {
    await rig.close();
  }
}

function failingBurst(
  rig: Rig,
  records: readonly TailedRecord[],
  label: string,
  summary: BurstSummary,
  reasons: { direct: RegExp; relayed: RegExp },
): FailingBurstFacts {
  const inRun = ofRuns([rig.runId(label)]);
  const mine = records.filter(inRun);
  let direct = 0;
  let relayed = 0;
  const other: Record<string, number> = {};
  for (const [reason, n] of Object.entries(summary.failures)) {
    if (reasons.direct.test(reason)) direct += n;
    else if (reasons.relayed.test(reason)) relayed += n;
    else other[reason] = n;
  }
  const waits: Record<string, number> = {};
  let longestWaitMs = 0;
  for (const r of mine.filter((r) => r.event === 'wait.end')) {
    waits[String(r.outcome)] = (waits[String(r.outcome)] ?? 0) + 1;
    longestWaitMs = Math.max(longestWaitMs, Number(r.waitedMs) || 0);
  }
  const failures = mine.filter((r) => r.event === 'recompute.failed');
  return {
    jobs: summary.jobs,
    failed: summary.failed,
    direct,
    relayed,
    other,
    holders: [...new Set(failures.map((r) => String(r.workerId)))].sort(),
    recomputations: recomputations(records, [rig.runId(label)]),
    waits,
    longestWaitMs: Math.round(longestWaitMs),
    lastEndedMs: summary.latencyMs.max,
    computeFailedAfterMs: Math.round(Math.max(0, ...failures.map((r) => Number(r.durationMs) || 0))),
  };
}

function failingChecks(label: string, f: FailingBurstFacts): Check[] {
  return [
    check(`${label}: every job failed, none completed`, f.failed === f.jobs, { failed: f.failed, jobs: f.jobs }),
    check(
      `${label}: every reason names the failure (the holder's, or "failed in its holder: ...")`,
      f.direct + f.relayed === f.jobs && Object.keys(f.other).length === 0,
      f,
    ),
    check(`${label}: waiters in other workers were told by the holder`, f.relayed > 0 && (f.waits.failed ?? 0) > 0, {
      relayed: f.relayed,
      waits: f.waits,
    }),
    check(`${label}: no waiter waited the lock out`, !f.waits.timeout && f.longestWaitMs < TOLD_WITHIN_MS, {
      waits: f.waits,
      longestWaitMs: f.longestWaitMs,
    }),
    check(`${label}: every job ended well before the ${LOCK_TTL_MS} ms lock TTL`, f.lastEndedMs < TOLD_WITHIN_MS, f.lastEndedMs),
    check(`${label}: the computation ran and failed`, f.recomputations >= 1 && f.holders.length >= 1, {
      recomputations: f.recomputations,
      holders: f.holders,
    }),
  ];
}
