import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { Backend } from '../../examples/http-backend/backend.js';
import type { createGetValueClient } from '../../src/bullmq/client.js';
import { createQueue } from '../../src/bullmq/queue.js';
import { createLabClient } from '../tracing/lab-client.js';
import type { Strategy } from '../../src/cache/strategy.js';
import { commandCounts, diff, total } from '../bench/command-stats.js';
import type { Config } from '../common/config.js';
import { fleetEnv } from '../demo/fleet-env.js';
import { onFreshFleet } from '../fleet/fresh-fleet.js';
import { clearCacheKeys } from '../redis/clear.js';
import { createRedisClient } from '../redis/connection.js';
import { readLogs, summarizeAsync, type GroupSummary } from '../report/index.js';
import { outcomeStats, staleAges, type OutcomeStats } from './load-stats.js';
import { play, type Played } from './play.js';
import type { TrafficSpec } from './traffic-options.js';
import { keyName } from './traffic.js';
import { createInvalidator } from '../invalidate/invalidator.js';
import { errorMessage } from '../../src/errors.js';
import { invalidationStats, type InvalidationStats } from './invalidation-stats.js';
import { tagsOfRank } from './tag-groups.js';

export interface LoadRunOptions {
  config: Config;
  traffic: TrafficSpec;
  strategies: readonly Strategy[];
  workers: number;
  /**
   * The origin every worker's computation asks, which counts its own requests: the example HTTP
   * backend. Absent with your own compute module: its requests are counted from the logs.
   */
  backend?: Backend;
  /** The compute module every worker runs (absolute path): the example backend's, or yours. */
  computeModule: string;
  /** This run's logs: one directory per strategy. */
  logDir: string;
  say: (line: string) => void;
  onProgress?: (strategy: Strategy, sent: number, done: number) => void;
}

/** What reached the origin during one strategy's run, counted by the origin itself. */
export interface OriginStats {
  requests: number;
  perSecond: { mean: number; peak: number };
  peakInFlight: number;
  bins: Array<{ second: number; requests: number; peakInFlight: number }>;
  /** `origin`: the example backend counted them itself; `logs`: your module's, from the logs. */
  countedBy: 'origin' | 'logs';
}

export interface LoadRow extends OutcomeStats {
  strategy: Strategy;
  runId: string;
  origin: OriginStats;
  /**
   * Commands the cache's Redis ran per job (INFO commandstats, a script's own commands included);
   * null when the cache shares its Redis with the queue (BullMQ's commands would count too).
   */
  commandsPerJob: number | null;
  /** The timeline's events, ms from the start. */
  events: Played['events'];
  /** How late the generator sent jobs against their schedule: its own limit shows here. */
  lagMs: { p99: number; max: number };
  elapsedMs: number;
  /** What the workers logged for this run (`npm run logs` accounting). */
  logs: GroupSummary | undefined;
  /** How old the stale values served were, from the workers' `stale.served` lines. */
  staleAgeMs: { p50: number | null; p99: number | null };
  /** What followed the timeline's invalidation, when it has one (`--invalidate-at`). */
  invalidation?: InvalidationStats;
}

/** The producer's, the logs' and the origin's counts of one row disagree: one of them is wrong. */
export function countsDisagree(row: LoadRow): string | null {
  if (row.logs === undefined) return 'no log lines for the run';
  if (row.logs.completed !== row.completed) return `the producer saw ${row.completed} completed, the logs ${row.logs.completed}`;
  if (row.logs.recomputations !== row.origin.requests)
    return `the origin counted ${row.origin.requests} requests, the logs ${row.logs.recomputations} recomputations`;
  return null;
}

/**
 * The load lab: the same seeded traffic for every strategy, one after another, each from an
 * empty cache and a fresh fleet of the same size, against the same origin. Per strategy, what
 * the producer saw (latency from each job's scheduled arrival), what the origin counted (its
 * requests and concurrency, second by second), what the workers logged, and the cache's Redis
 * commands per job.
 */
export async function runLoad(options: LoadRunOptions): Promise<LoadRow[]> {
  const { config, say } = options;
  const cache = createRedisClient(config.cacheRedisUrl, 'producer', config.tls);
  const producer = createRedisClient(config.queueRedisUrl, 'producer', config.tls);
  const queue = createQueue(config.queueName, producer);
  const client = createLabClient({ connection: producer, queueName: config.queueName, timeoutMs: 600_000, logDir: options.logDir });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  // Only a timeline that invalidates a tag needs a guard here (and its connections).
  const invalidator = options.traffic.events.some((e) => e.kind === 'invalidate') ? createInvalidator(cache, config.keyPrefix) : undefined;
  const rows: LoadRow[] = [];
  try {
    for (const strategy of options.strategies) {
      const logDir = join(options.logDir, strategy);
      await mkdir(logDir, { recursive: true });
      say(`${strategy}: starting ${options.workers} workers`);
      const runId = `load-${stamp}-${strategy}`;
      let commandsPerJob: number | null = null;
      const fleet = {
        workers: options.workers,
        concurrency: config.concurrency,
        env: { ...fleetEnv(config, logDir), ...(options.backend && { BACKEND_URL: options.backend.url }) },
        computeModule: options.computeModule,
      };
      const played = await onFreshFleet({ cache, keyPrefix: config.keyPrefix, queue, logDir, fleet }, async () => {
        if (options.traffic.start === 'warm') await warmUp(client, options.traffic, `${runId}-warm-up`);
        options.backend?.reset();
        // Only a cache on a Redis of its own shows the guard's commands alone (INFO is server-wide).
        const ownCache = config.cacheRedisUrl !== config.queueRedisUrl;
        const before = ownCache ? await commandCounts(cache as Redis).catch(() => null) : null;
        say(`${strategy}: playing ${options.traffic.durationMs / 1000} s of traffic`);
        const played = await play({
          client,
          spec: options.traffic,
          strategy,
          runId,
          flush: () => clearCacheKeys(cache, config.keyPrefix),
          ...(invalidator && {
            invalidate: (tags: string[]) =>
              invalidator.invalidate({ tags }).catch((err: unknown) => {
                say(`warning: ${strategy}: the invalidation of ${tags.join(', ')} failed: ${errorMessage(err)}`);
                throw err;
              }),
          }),
          jobTimeoutMs: 120_000,
          onProgress: (sent, done) => options.onProgress?.(strategy, sent, done),
        });
        const after = before && (await commandCounts(cache as Redis).catch(() => null));
        if (before && after) commandsPerJob = total(diff(before, after)) / Math.max(1, played.outcomes.length);
        return played;
      });
      // After the fleet stopped: background refreshes (swr, xfetch) have reached the origin too.
      const origin = options.backend
        ? originStats(options.backend.timeline(), 'origin')
        : originStats(await computationsPerSecond(readLogs([logDir]), runId, played.startedAtMs), 'logs');
      const report = await summarizeAsync(readLogs([logDir]), { runId });
      const ages = await staleAges(readLogs([logDir]), runId);
      const invalidation = await invalidationStats(readLogs([logDir]), runId, options.traffic, played.startedAtMs);
      const row: LoadRow = {
        strategy,
        runId,
        ...outcomeStats(played.outcomes),
        origin,
        commandsPerJob,
        events: played.events,
        lagMs: { p99: Math.round(played.lagP99Ms), max: Math.round(played.maxLagMs) },
        elapsedMs: Math.round(played.elapsedMs),
        logs: report.strategies.find((s) => s.strategy === strategy),
        staleAgeMs: { p50: ages.p50, p99: ages.p99 },
        ...(invalidation && { invalidation }),
      };
      rows.push(row);
      say(
        `${strategy}: ${row.completed}/${row.jobs} completed, ${row.origin.requests} origin requests (peak ${row.origin.perSecond.peak}/s, ${row.origin.peakInFlight} at once), p99 ${row.latencyMs.p99} ms`,
      );
      if (invalidation)
        say(
          `${strategy}: from the invalidation of ${invalidation.tag} on, ${invalidation.recomputed} computations of its ${invalidation.groupKeys} keys (other groups: ${invalidation.otherGroupsMean ?? '-'} each)`,
        );
    }
    return rows;
  } finally {
    await invalidator?.close();
    await client.close();
    await queue.close();
    await Promise.all([cache, producer].map((c) => c.quit().catch(() => c.disconnect())));
  }
}

/** `warm` start: one job per key (not measured), so the run starts from a full cache. */
async function warmUp(client: ReturnType<typeof createGetValueClient>, spec: TrafficSpec, runId: string): Promise<void> {
  const gets: Promise<unknown>[] = [];
  for (let rank = 1; rank <= spec.keys; rank++) {
    const tags = tagsOfRank(spec, rank);
    gets.push(
      client.request({ key: keyName(spec, rank), strategy: 'redis-lock', runId, params: { ms: 0 }, ...(tags && { tags }) }).catch(() => {}),
    );
  }
  await Promise.all(gets);
}

/**
 * Without the example backend, what the logs say reached the origin: each `recompute.start` of
 * the run is one request, and a computation runs from its `recompute.end` (or
 * `recompute.failed`) time minus its `durationMs` to that time; per second of the traffic, the
 * requests started and the most running at once.
 */
async function computationsPerSecond(
  records: AsyncIterable<Readonly<Record<string, unknown>>>,
  runId: string,
  startedAtMs: number,
): Promise<OriginStats['bins']> {
  const starts: number[] = [];
  const intervals: Array<[number, number]> = [];
  for await (const r of records) {
    if (r.runId !== runId || typeof r.time !== 'number') continue;
    if (r.event === 'recompute.start') starts.push(r.time - startedAtMs);
    else if ((r.event === 'recompute.end' || r.event === 'recompute.failed') && typeof r.durationMs === 'number')
      intervals.push([r.time - startedAtMs - r.durationMs, r.time - startedAtMs]);
  }
  const last = Math.max(0, ...starts.map((t) => Math.floor(t / 1000)));
  const bins = Array.from({ length: last + 1 }, (_, second) => ({ second, requests: 0, peakInFlight: 0 }));
  for (const t of starts) {
    const bin = bins[Math.max(0, Math.floor(t / 1000))];
    if (bin) bin.requests += 1;
  }
  // The most running at once in each second: a sweep over the computations' starts and ends.
  const edges = intervals.flatMap(([from, to]) => [
    [from, 1],
    [to, -1],
  ]) as Array<[number, number]>;
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let running = 0;
  for (const [at, step] of edges) {
    running += step;
    const bin = bins[Math.max(0, Math.floor(at / 1000))];
    if (bin) bin.peakInFlight = Math.max(bin.peakInFlight, running);
  }
  return bins;
}

function originStats(bins: OriginStats['bins'], countedBy: OriginStats['countedBy']): OriginStats {
  const requests = bins.reduce((sum, b) => sum + b.requests, 0);
  return {
    requests,
    perSecond: {
      mean: bins.length === 0 ? 0 : Math.round((requests / bins.length) * 10) / 10,
      peak: Math.max(0, ...bins.map((b) => b.requests)),
    },
    peakInFlight: Math.max(0, ...bins.map((b) => b.peakInFlight)),
    bins,
    countedBy,
  };
}
