/**
 * One rule for a job's strategy in the logs and the metrics (issue 23, finding 9): a job whose
 * strategy is not one of the library's counts under `invalid` in its log lines, in
 * `npm run logs` and in the worker's Prometheus metrics alike; its `runId` and `key` are its own
 * when they are non-empty strings, else the documented placeholders (`none`, `invalid`).
 *
 * The jobs run through the real processor, and the worker's own subscriber (observeGuardEvents)
 * writes the lines and counts the metrics, as in a worker process.
 */
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { summarize } from '../scripts/report/summarize.js';
import { createProcessor } from '../src/bullmq/processor.js';
import { createGuard, type StampedeGuard } from '../src/cache/guard.js';
import { observeGuardEvents } from '../workers/guard-events.js';
import { createGuardMetrics, type GuardMetrics } from '../workers/metrics/guard-metrics.js';
import { captureLogger, type CapturedLine } from './support/log-capture.js';
import { parsePrometheus, total } from './support/prometheus.js';
import { closeAll, connect, uniquePrefix } from './support/redis.js';

let redis: Redis;
let guard: StampedeGuard;
let metrics: GuardMetrics;
let lines: CapturedLine[];
let stopObserving: () => void;

const JOBS: Array<{ id: string; data: unknown }> = [
  { id: 'made-up', data: { key: 'k1', strategy: 'nope', runId: 'r1' } },
  { id: 'no-strategy', data: { key: 'k2', runId: 'r1' } },
  { id: 'numeric-strategy', data: { key: 'k3', strategy: 7 } },
  { id: 'no-key', data: { strategy: 'redis-lock', runId: 'r1' } },
  { id: 'empty-run', data: { key: 'k4', strategy: 'nope', runId: '' } },
  { id: 'null-data', data: null },
  { id: 'valid', data: { key: 'k5', strategy: 'none', runId: 'r1' } },
];

beforeAll(async () => {
  redis = connect();
  guard = createGuard({ redis, keyPrefix: uniquePrefix('invalid-labels') });
  metrics = createGuardMetrics();
  const capture = captureLogger('info');
  lines = capture.lines;
  stopObserving = observeGuardEvents(capture.logger, metrics);
  const processor = createProcessor({ guard, workerId: 'w1', compute: () => async () => 'v' });
  for (const { id, data } of JOBS) {
    const job = { id, data, timestamp: Date.now(), attemptsMade: 0, opts: { attempts: 3 } } as unknown as Job;
    await processor(job).catch(() => {});
  }
});

afterAll(async () => {
  stopObserving?.();
  await guard?.close();
  await closeAll(redis);
});

describe("a job whose strategy is not the library's", () => {
  it('is logged under strategy "invalid", with its own runId and key, or the placeholders', () => {
    const failed = Object.fromEntries(lines.filter((l) => l.event === 'job.failed').map((l) => [l.jobId, l]));
    expect(failed['made-up']).toMatchObject({ strategy: 'invalid', key: 'k1', runId: 'r1', reason: expect.stringContaining('got "nope"') });
    expect(failed['no-strategy']).toMatchObject({ strategy: 'invalid', key: 'k2', runId: 'r1' });
    expect(failed['numeric-strategy']).toMatchObject({ strategy: 'invalid', key: 'k3', runId: 'none' });
    expect(failed['no-key']).toMatchObject({ strategy: 'redis-lock', key: 'invalid', runId: 'r1' });
    expect(failed['empty-run']).toMatchObject({ strategy: 'invalid', key: 'k4', runId: 'none' });
    expect(failed['null-data']).toMatchObject({ strategy: 'invalid', key: 'invalid', runId: 'none' });
    expect(Object.keys(failed)).toHaveLength(JOBS.length - 1);
  });

  it('counts the same in npm run logs and in the metrics, strategy by strategy', async () => {
    const report = summarize(lines);
    const fromLogs = Object.fromEntries(report.strategies.map((s) => [s.strategy, { jobs: s.jobs, failed: s.failed }]));
    const samples = parsePrometheus(await metrics.registry.metrics());
    const jobs = samples.filter((s) => s.name === 'cache_stampede_jobs_total');
    const fromMetrics = Object.fromEntries(
      [...new Set(jobs.map((s) => s.labels.strategy!))].map((strategy) => [
        strategy,
        {
          jobs: total(samples, 'cache_stampede_jobs_total', { strategy }),
          failed: total(samples, 'cache_stampede_jobs_total', { strategy, source: 'failed' }),
        },
      ]),
    );
    expect(fromLogs).toEqual({ invalid: { jobs: 5, failed: 5 }, 'redis-lock': { jobs: 1, failed: 1 }, none: { jobs: 1, failed: 0 } });
    expect(fromMetrics).toEqual(fromLogs);
  });

  it('a log written before the rule (a made-up strategy on its lines) is counted under "invalid" by the report too', () => {
    const old = [
      { event: 'job.failed', strategy: 'nope', key: 'k', runId: 'r', jobId: '1', pid: 1 },
      { event: 'job.failed', strategy: 's'.repeat(32), key: 'k', runId: 'r', jobId: '2', pid: 1 },
    ];
    expect(summarize(old).strategies.map((s) => [s.strategy, s.failed])).toEqual([['invalid', 2]]);
  });
});
