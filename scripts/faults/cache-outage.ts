import { setTimeout as delay } from 'node:timers/promises';
import type { GetValueClient } from '../../src/bullmq/client.js';
import { EnqueueError, JobFailedError, JobTimeoutError, errorMessage } from '../../src/errors.js';
import { cacheKeys } from '../../src/keys.js';
import { createRedis } from '../redis/connection.js';
import { percentile } from '../report/percentile.js';
import { startFaultRedis } from './fault-redis.js';
import { SHORT_SETTINGS, startRig } from './harness.js';
import type { TailedRecord } from './log-tail.js';
import { ofRuns, staleOverwrites, unfinishedJobs } from './measure.js';
import { check, type FaultOptions, type FaultOutcome } from './types.js';

const WORKERS = 3;
const CONCURRENCY = 20;
/** The simulated computation of every job. */
const COMPUTE_MS = 250;
/** The keys of the steady stream (every worker may compute each once during the outage). */
const KEYS = 10;
/** The steady stream: 3 jobs every 100 ms. */
const TICK_MS = 100;
const PER_TICK = 3;
/** The guard's deadline on each Redis step (REDIS_TIMEOUT_MS; the library's default). */
const REDIS_TIMEOUT_MS = 1000;
/** The cache's Redis is paused (SIGSTOP) this long, then killed (SIGKILL) and kept down this long. */
const PAUSED_MS = 5000;
const KILLED_MS = 5000;
/** Stream before the outage, and after every worker saw the cache's Redis again. */
const BEFORE_MS = 3000;
const AFTER_MS = 3000;
/**
 * What a loaded 2-core machine adds to a job's time beyond the deadline and the computation: the
 * enqueue, BullMQ handing the job to a worker, the completion coming back through the queue's
 * event stream (a few ms each when idle), and 3 workers, 2 redis-servers and the producer
 * sharing 2 cores (the scheduling and the GC of the busiest moment, when every worker computes
 * its keys at once).
 */
const SLACK_MS = 750;
/** The queue's Redis is down at least this long (SIGKILL, then redis-server on its AOF). */
const QUEUE_DOWN_MS = 2000;
const JOB_TIMEOUT_MS = 120_000;

type Outcome = 'completed' | 'failed' | 'not-enqueued' | 'timed-out' | 'error';

/** One job of a stream, as its producer saw it. */
export interface SentJob {
  key: string;
  sentAt: number;
  endedAt: number;
  outcome: Outcome;
  source?: string;
  workerId?: string;
  /** Why it failed, was not enqueued, or threw. */
  reason?: string;
}

export interface OutageFigures {
  /** Jobs enqueued while the cache's Redis was away (paused or killed). */
  jobs: number;
  completed: number;
  failed: number;
  /** Producer-side, from enqueue to the result, ms. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Jobs that took longer than the computation + 250 ms: those that met the deadline (in flight, or sent before their worker's breaker opened). */
  slow: number;
}

export interface CacheOutageFacts {
  /** From SIGSTOP to SIGKILL, and from SIGKILL to the restart (ms). */
  pausedMs: number;
  killedMs: number;
  /** From the restart to the last worker's `redis.available` (ms). */
  recoveredAfterMs: number;
  duringOutage: OutageFigures;
  /** The latency bound the outage's p99 is held to: deadline + computation + slack. */
  boundMs: number;
  recomputations: { beforeOutage: number; degraded: number; duringOutageNotDegraded: number; afterRecovery: number };
  /** Most degraded recomputations of one key in one worker. */
  mostPerWorkerAndKey: number;
  degradedCalls: number;
  /** `redis.unavailable` / `redis.available` lines, per worker. */
  transitions: Record<string, { unavailable: number; available: number }>;
  /** The burst on the same keys after recovery, their values deleted. */
  freshBurst: { jobs: number; completed: number; failed: number; recomputations: number; keysRecomputedOnce: number };
  queueOutage: {
    downMs: number;
    jobs: number;
    enqueued: number;
    notEnqueued: number;
    completed: number;
    failed: number;
    lost: number;
    /** Jobs enqueued after the queue's Redis came back, and which workers completed some. */
    afterRestart: number;
    workersServingAfterRestart: string[];
    /** job.completed lines beyond the completions the producer saw: jobs run twice (a stalled lock). */
    reruns: number;
  };
  leftInQueue: number;
  exits: Record<string, number | string>;
  /** job.failed and job.retry lines (attempts that failed, even if BullMQ ran the job again). */
  failedAttempts: number;
  /** Scraped from the workers' /metrics: redis_up per worker during the outage and after it; the degraded counters summed at the end. */
  metrics: {
    redisUpDuring: Record<string, number>;
    redisUpAfter: Record<string, number>;
    degradedRecomputations: number;
    degradedCalls: number;
  };
}

/**
 * Fault 10: the cache's Redis unavailable (issue 24), on a fleet whose queue is on another Redis.
 * 3 workers (REDIS_TIMEOUT_MS 1000, ON_REDIS_DOWN compute) serve a steady stream of `redis-lock`
 * jobs (30/s over 10 keys, computing 250 ms), enqueued before, during and after the outage:
 * 1. 3 s of stream (each key computed once by the fleet);
 * 2. the cache's Redis SIGSTOPped for 5 s (no answer), then SIGKILLed (refused) and restarted
 *    on the same port after 5 s more; the stream goes on until 3 s after every worker logged
 *    `redis.available`;
 * 3. the keys' values deleted (as their expiry would), a burst of 60 jobs on the same keys;
 * 4. the queue's Redis SIGKILLed under a stream of jobs that compute (a new key each), restarted
 *    on its AOF 2 s later, the stream going on for 3 s.
 * Must hold: 0 failed and 0 lost jobs; the jobs enqueued during the cache's outage answered
 * within the deadline plus the computation (plus slack); at most workers x keys recomputations
 * during it; one recomputation per key in the burst after recovery; through the queue's outage no
 * job lost, no worker exited, every worker serving again.
 */
export async function cacheOutage(options: FaultOptions = {}): Promise<FaultOutcome<CacheOutageFacts>> {
  const say = options.say ?? (() => {});
  const cache = await startFaultRedis({ log: say });
  const cacheAdmin = createRedis(cache.url, 'producer');
  cacheAdmin.on('error', () => {});
  try {
    const rig = await startRig(
      'cache-outage',
      {
        workers: WORKERS,
        concurrency: CONCURRENCY,
        computeMs: COMPUTE_MS,
        ...SHORT_SETTINGS,
        metrics: true,
        env: { CACHE_REDIS_URL: cache.url, REDIS_TIMEOUT_MS: String(REDIS_TIMEOUT_MS), ON_REDIS_DOWN: 'compute' },
      },
      options,
    );
    try {
      say(`cache-outage: the cache on its own redis-server (port ${cache.port}), the queue on port ${rig.redis.port}`);
      const keyOf = (n: number) => `outage-key-${n % KEYS}`;
      const cacheRun = rig.runId('cache');
      const stream = startStream(rig.client, cacheRun, keyOf);
      // Every key computed once by the fleet, and a steady state, before the outage.
      await rig.tail.waitForCount('a value written for every key', (r) => r.event === 'cache.write' && r.runId === cacheRun, KEYS, 60_000);
      await delay(BEFORE_MS);

      const workerIds = Array.from({ length: WORKERS }, (_, i) => `worker-${i + 1}`);
      const pausedAt = Date.now();
      cache.pause();
      say(`cache-outage: cache redis-server SIGSTOPped after ${stream.sent} jobs`);
      // Every worker's breaker opened: its metrics say so while the outage lasts.
      for (const workerId of workerIds) {
        await rig.tail.waitFor(
          `${workerId}: redis.unavailable`,
          (r) => r.event === 'redis.unavailable' && r.workerId === workerId && (r.time ?? 0) >= pausedAt,
          30_000,
        );
      }
      const upDuring = await scrapeEach(rig.metricsUrls(), `${M}redis_up`);
      await delay(Math.max(0, PAUSED_MS - (Date.now() - pausedAt)));
      const killedAt = Date.now();
      await cache.kill();
      say(`cache-outage: cache redis-server SIGKILLed after ${killedAt - pausedAt} ms paused`);
      await delay(Math.max(0, KILLED_MS - (Date.now() - killedAt)));
      const restartedAt = Date.now();
      await cache.start();
      say(`cache-outage: cache redis-server restarted on port ${cache.port} after ${restartedAt - pausedAt} ms away`);
      for (const workerId of workerIds) {
        await rig.tail.waitFor(
          `${workerId}: redis.available after the restart`,
          (r) => r.event === 'redis.available' && r.workerId === workerId && (r.time ?? 0) >= restartedAt,
          30_000,
        );
      }
      const lastAvailableAt = Math.max(
        ...rig.tail.records.filter((r) => r.event === 'redis.available' && (r.time ?? 0) >= restartedAt).map((r) => r.time ?? 0),
      );
      const upAfter = await scrapeEach(rig.metricsUrls(), `${M}redis_up`);
      await delay(AFTER_MS);
      const cacheJobs = await stream.stop();
      say(`cache-outage: ${cacheJobs.length} jobs in the stream; deleting the keys' values for a fresh burst`);

      // The same keys, their values gone as after their expiry: each worker computed them apart
      // from the fleet during the outage; now the fleet computes each once again.
      await cacheAdmin.del(...Array.from({ length: KEYS }, (_, i) => cacheKeys(rig.keyPrefix, keyOf(i)).value));
      const freshRun = rig.runId('fresh');
      const fresh = await sendAll(rig.client, freshRun, KEYS * 6, keyOf);

      // The queue's Redis: SIGKILL under jobs that compute, restart on its AOF.
      const queueRun = rig.runId('queue');
      const queueStream = startStream(rig.client, queueRun, (n) => `queue-key-${n}`);
      await delay(2000);
      const queueKilledAt = Date.now();
      await rig.redis.kill();
      say(`cache-outage: queue redis-server SIGKILLed after ${queueStream.sent} jobs of its stream`);
      for (const workerId of workerIds) {
        const pid = rig.pidOf(workerId);
        await rig.tail.waitFor(
          `${workerId}: a queue connection error`,
          (r) => r.pid === pid && r.event === 'redis.error' && (r.time ?? 0) >= queueKilledAt,
          20_000,
        );
      }
      await delay(Math.max(0, QUEUE_DOWN_MS - (Date.now() - queueKilledAt)));
      await rig.redis.start();
      const queueRestartedAt = Date.now();
      say(`cache-outage: queue redis-server restarted on its AOF after ${queueRestartedAt - queueKilledAt} ms`);
      await delay(3000);
      const queueJobs = await queueStream.stop();
      const leftInQueue = await unfinishedJobs(rig.queue);
      const degradedRecomputations = sum(await scrapeEach(rig.metricsUrls(), `${M}degraded_recomputations_total`));
      const degradedCallsCounted = sum(await scrapeEach(rig.metricsUrls(), `${M}degraded_calls_total`));
      await rig.stopFleet();

      const records = rig.tail.records;
      const runIds = [cacheRun, freshRun, queueRun];
      const exits = Object.fromEntries(rig.exits());
      const facts = measure({
        records,
        cacheRun,
        freshRun,
        queueRun,
        cacheJobs,
        fresh,
        queueJobs,
        pausedAt,
        killedAt,
        restartedAt,
        lastAvailableAt,
        queueKilledAt,
        queueRestartedAt,
        leftInQueue,
        exits,
      });
      facts.metrics = {
        redisUpDuring: upDuring,
        redisUpAfter: upAfter,
        degradedRecomputations,
        degradedCalls: degradedCallsCounted,
      };
      facts.failedAttempts = records.filter((r) => (r.event === 'job.failed' || r.event === 'job.retry') && ofRuns(runIds)(r)).length;
      const degradedLines = records.filter((r) => r.event === 'cache.degraded').length;
      const degradedStarts = records.filter((r) => r.event === 'recompute.start' && r.degraded === true).length;
      const stale = await staleOverwrites(records, cacheAdmin, rig.keyPrefix, runIds);
      const all = [...cacheJobs, ...fresh, ...queueJobs];
      const count = (o: Outcome) => all.filter((j) => j.outcome === o).length;
      const lost = count('timed-out') + count('error');
      const firstAnswer = cacheJobs
        .filter((j) => j.outcome === 'completed' && j.endedAt >= pausedAt && j.sentAt >= pausedAt)
        .reduce((m, j) => Math.min(m, j.endedAt), Number.POSITIVE_INFINITY);
      const d = facts.duringOutage;
      const q = facts.queueOutage;
      return {
        row: {
          fault: '10 cache-outage',
          jobs: all.length,
          completed: count('completed'),
          failed: count('failed'),
          lost,
          recomputations: records.filter((r) => r.event === 'recompute.start' && ofRuns(runIds)(r)).length,
          staleOverwrites: stale.count,
          recoveryMs: Number.isFinite(firstAnswer) ? firstAnswer - pausedAt : null,
          notes: [
            `cache Redis paused ${facts.pausedMs} ms then killed ${facts.killedMs} ms (REDIS_TIMEOUT_MS ${REDIS_TIMEOUT_MS}, computation ${COMPUTE_MS} ms): ` +
              `${d.jobs} jobs enqueued during the outage, answered ${d.completed} / failed ${d.failed}, p50 ${d.p50Ms} ms / p99 ${d.p99Ms} ms (bound ${facts.boundMs} ms), ${d.slow} over ${COMPUTE_MS + 250} ms (they met the deadline), ` +
              `${facts.recomputations.degraded} degraded recomputations (at most ${WORKERS} workers x ${KEYS} keys), ${facts.degradedCalls} degraded calls; ` +
              `every worker saw it again ${facts.recoveredAfterMs} ms after the restart, ${facts.recomputations.afterRecovery} recomputations after; ` +
              `fresh burst on the same keys: ${facts.freshBurst.recomputations} recomputations for ${KEYS} keys`,
            `queue Redis killed ${q.downMs} ms: ${q.jobs} jobs, ${q.notEnqueued} not enqueued (reported), ${q.completed}/${q.enqueued} completed, ${q.failed} failed, ${q.lost} lost, ` +
              `${q.reruns} ran twice, ${facts.failedAttempts} attempts failed in a worker over the whole scenario; after the restart ${q.afterRestart} jobs served by ${q.workersServingAfterRestart.join(', ') || 'no worker'}`,
          ],
        },
        checks: [
          check('0 failed jobs', count('failed') === 0, all.filter((j) => j.outcome === 'failed').slice(0, 5)),
          check('0 lost jobs (every enqueued job answered, none left in the queue)', lost === 0 && leftInQueue === 0, {
            lost,
            leftInQueue,
            examples: all.filter((j) => j.outcome === 'timed-out' || j.outcome === 'error').slice(0, 5),
          }),
          check(
            'every job of the cache stream was enqueued and completed',
            cacheJobs.every((j) => j.outcome === 'completed'),
            cacheJobs.filter((j) => j.outcome !== 'completed').slice(0, 5),
          ),
          check(
            `the jobs enqueued during the cache's outage answered within the deadline + the computation + ${SLACK_MS} ms (p99)`,
            d.jobs > 0 && d.completed === d.jobs && d.p99Ms <= facts.boundMs,
            d,
          ),
          check(
            `at most one recomputation per worker and key during the outage (${WORKERS} x ${KEYS})`,
            facts.recomputations.degraded + facts.recomputations.duringOutageNotDegraded <= WORKERS * KEYS &&
              facts.mostPerWorkerAndKey <= 1,
            { ...facts.recomputations, mostPerWorkerAndKey: facts.mostPerWorkerAndKey },
          ),
          check('one recomputation per key before the outage', facts.recomputations.beforeOutage === KEYS, facts.recomputations),
          check(
            'every worker logged the cache Redis unavailable, then available again',
            Object.values(facts.transitions).every((t) => t.unavailable >= 1 && t.available >= 1) &&
              Object.keys(facts.transitions).length === WORKERS,
            facts.transitions,
          ),
          check(
            'after recovery, a burst on the same keys (values deleted) recomputed once per key',
            facts.freshBurst.completed === facts.freshBurst.jobs &&
              facts.freshBurst.recomputations === KEYS &&
              facts.freshBurst.keysRecomputedOnce === KEYS,
            facts.freshBurst,
          ),
          check(
            "the queue's Redis killed and restarted: no job lost or failed, every enqueued one completed (what could not be enqueued was reported), every worker serving again",
            q.lost === 0 &&
              q.failed === 0 &&
              q.completed === q.enqueued &&
              q.afterRestart > 0 &&
              q.workersServingAfterRestart.length === WORKERS,
            q,
          ),
          check('no attempt failed in a worker either (no job.failed or job.retry line)', facts.failedAttempts === 0, facts.failedAttempts),
          check(
            'no worker exited during the outages; all stopped cleanly',
            Object.keys(exits).length === WORKERS && Object.values(exits).every((c) => c === 0),
            exits,
          ),
          check(
            "the workers' metrics: cache_stampede_redis_up 0 on every worker during the outage, 1 after; the degraded counters equal the log's lines",
            Object.keys(upDuring).length === WORKERS &&
              Object.values(upDuring).every((v) => v === 0) &&
              Object.keys(upAfter).length === WORKERS &&
              Object.values(upAfter).every((v) => v === 1) &&
              degradedRecomputations === degradedStarts &&
              degradedCallsCounted === degradedLines,
            { ...facts.metrics, degradedStartLines: degradedStarts, degradedLines },
          ),
          check('0 stale overwrites', stale.count === 0, stale.keys),
        ],
        facts,
      };
    } finally {
      await rig.close();
    }
  } finally {
    cacheAdmin.disconnect();
    await cache.stop();
  }
}

interface Timeline {
  records: readonly TailedRecord[];
  cacheRun: string;
  freshRun: string;
  queueRun: string;
  cacheJobs: SentJob[];
  fresh: SentJob[];
  queueJobs: SentJob[];
  pausedAt: number;
  killedAt: number;
  restartedAt: number;
  lastAvailableAt: number;
  queueKilledAt: number;
  queueRestartedAt: number;
  leftInQueue: number;
  exits: Record<string, number | string>;
}

function measure(t: Timeline): CacheOutageFacts {
  const { records } = t;
  const at = (r: TailedRecord) => r.time ?? 0;
  const recomputes = (runId: string) => records.filter((r) => r.event === 'recompute.start' && r.runId === runId);
  const cacheRecomputes = recomputes(t.cacheRun);
  const degraded = cacheRecomputes.filter((r) => r.degraded === true);
  const perWorkerAndKey = new Map<string, number>();
  for (const r of degraded) {
    const id = `${String(r.workerId)} ${String(r.key)}`;
    perWorkerAndKey.set(id, (perWorkerAndKey.get(id) ?? 0) + 1);
  }
  const during = t.cacheJobs.filter((j) => j.sentAt >= t.pausedAt && j.sentAt < t.restartedAt);
  const latencies = during.filter((j) => j.outcome === 'completed').map((j) => j.endedAt - j.sentAt);
  const transitions: CacheOutageFacts['transitions'] = {};
  for (const r of records) {
    if ((r.event !== 'redis.unavailable' && r.event !== 'redis.available') || at(r) < t.pausedAt || at(r) >= t.queueKilledAt) continue;
    const entry = transitions[String(r.workerId)] ?? { unavailable: 0, available: 0 };
    transitions[String(r.workerId)] = entry;
    if (r.event === 'redis.unavailable') entry.unavailable += 1;
    else entry.available += 1;
  }
  const freshRecomputes = recomputes(t.freshRun);
  const perKey = new Map<string, number>();
  for (const r of freshRecomputes) perKey.set(String(r.key), (perKey.get(String(r.key)) ?? 0) + 1);

  const q = t.queueJobs;
  const enqueued = q.filter((j) => j.outcome !== 'not-enqueued');
  const qCompleted = q.filter((j) => j.outcome === 'completed');
  const afterRestart = q.filter((j) => j.sentAt >= t.queueRestartedAt && j.outcome !== 'not-enqueued');
  const completedLines = records.filter((r) => r.event === 'job.completed' && r.runId === t.queueRun).length;
  return {
    pausedMs: t.killedAt - t.pausedAt,
    killedMs: t.restartedAt - t.killedAt,
    recoveredAfterMs: t.lastAvailableAt - t.restartedAt,
    duringOutage: {
      jobs: during.length,
      completed: latencies.length,
      failed: during.filter((j) => j.outcome === 'failed').length,
      p50Ms: percentile(latencies, 50) ?? 0,
      p99Ms: percentile(latencies, 99) ?? 0,
      maxMs: latencies.reduce((m, v) => Math.max(m, v), 0),
      slow: latencies.filter((ms) => ms > COMPUTE_MS + 250).length,
    },
    boundMs: REDIS_TIMEOUT_MS + COMPUTE_MS + SLACK_MS,
    recomputations: {
      beforeOutage: cacheRecomputes.filter((r) => at(r) < t.pausedAt).length,
      degraded: degraded.length,
      duringOutageNotDegraded: cacheRecomputes.filter((r) => r.degraded !== true && at(r) >= t.pausedAt && at(r) <= t.lastAvailableAt)
        .length,
      afterRecovery: cacheRecomputes.filter((r) => r.degraded !== true && at(r) > t.lastAvailableAt).length,
    },
    mostPerWorkerAndKey: Math.max(0, ...perWorkerAndKey.values()),
    degradedCalls: records.filter((r) => r.event === 'cache.degraded' && r.runId === t.cacheRun).length,
    transitions,
    freshBurst: {
      jobs: t.fresh.length,
      completed: t.fresh.filter((j) => j.outcome === 'completed').length,
      failed: t.fresh.filter((j) => j.outcome === 'failed').length,
      recomputations: freshRecomputes.length,
      keysRecomputedOnce: [...perKey.values()].filter((n) => n === 1).length,
    },
    queueOutage: {
      downMs: t.queueRestartedAt - t.queueKilledAt,
      jobs: q.length,
      enqueued: enqueued.length,
      notEnqueued: q.length - enqueued.length,
      completed: qCompleted.length,
      failed: q.filter((j) => j.outcome === 'failed').length,
      lost: q.filter((j) => j.outcome === 'timed-out' || j.outcome === 'error').length,
      afterRestart: afterRestart.length,
      workersServingAfterRestart: [...new Set(afterRestart.filter((j) => j.outcome === 'completed').map((j) => String(j.workerId)))].sort(),
      reruns: completedLines - qCompleted.length,
    },
    leftInQueue: t.leftInQueue,
    exits: t.exits,
    metrics: { redisUpDuring: {}, redisUpAfter: {}, degradedRecomputations: 0, degradedCalls: 0 },
    failedAttempts: 0,
  };
}

const M = 'cache_stampede_';

/** Per worker, the sum of the samples of metric `name` its endpoint serves now. */
async function scrapeEach(urls: Map<string, string>, name: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [workerId, url] of urls) {
    const text = await (await fetch(url)).text();
    out[workerId] = sampleSum(text, name);
  }
  return out;
}

/** The sum of the samples named `name` (any labels) in a Prometheus text exposition. */
export function sampleSum(text: string, name: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (match?.[1] === name) total += Number(match[2]);
  }
  return total;
}

const sum = (values: Record<string, number>) => Object.values(values).reduce((n, v) => n + v, 0);

/** One get-value job, as its producer sees it end. */
async function send(client: GetValueClient, runId: string, key: string): Promise<SentJob> {
  const sentAt = Date.now();
  try {
    const result = await client.request({ key, strategy: 'redis-lock', computeMs: COMPUTE_MS, runId }, { timeoutMs: JOB_TIMEOUT_MS });
    return { key, sentAt, endedAt: Date.now(), outcome: 'completed', source: result.source, workerId: result.workerId };
  } catch (err) {
    const outcome: Outcome =
      err instanceof EnqueueError
        ? 'not-enqueued'
        : err instanceof JobFailedError
          ? 'failed'
          : err instanceof JobTimeoutError
            ? 'timed-out'
            : 'error';
    return { key, sentAt, endedAt: Date.now(), outcome, reason: errorMessage(err).slice(0, 300) };
  }
}

/** `jobs` jobs at once, job n on `keyOf(n)`. */
function sendAll(client: GetValueClient, runId: string, jobs: number, keyOf: (n: number) => string): Promise<SentJob[]> {
  return Promise.all(Array.from({ length: jobs }, (_, n) => send(client, runId, keyOf(n))));
}

/** PER_TICK jobs every TICK_MS (fixed-rate ticks) until stopped; `stop` resolves with every job, once all ended. */
function startStream(client: GetValueClient, runId: string, keyOf: (n: number) => string) {
  const jobs: Promise<SentJob>[] = [];
  let stopped = false;
  const loop = (async () => {
    let next = Date.now();
    while (!stopped) {
      for (let i = 0; i < PER_TICK; i++) jobs.push(send(client, runId, keyOf(jobs.length)));
      next += TICK_MS;
      await delay(Math.max(0, next - Date.now()));
    }
  })();
  return {
    get sent() {
      return jobs.length;
    },
    async stop(): Promise<SentJob[]> {
      stopped = true;
      await loop;
      return Promise.all(jobs);
    },
  };
}
