/**
 * The get-value processor's own CPU per cache hit, in one process per mode: every job an L1 hit
 * (no Redis command, no BullMQ), log lines built and serialized by the worker's pino setup into
 * a null destination (no file I/O). What is left is the code a hit runs, so the difference
 * between two modes is their cost, steady where jobs/s through BullMQ on a shared machine is
 * not. One mode per process, as in a worker: a subscription that comes and goes would change
 * how V8 optimizes the guard's steps. Modes (processor-cost.ts): `silent`, `logger`, `events`,
 * `metrics`, and `events` with spans (`tracing: openTelemetry()`): `tracing-api` with no SDK
 * registered (the API's non-recording spans), `tracing-sdk` with an SDK that records, batches and
 * drops them (noop-otel-sdk.ts). Env BENCH_PROCESSOR_COST (JSON). On `run <n>` it runs n jobs and
 * reports its CPU.
 */
import type { Job } from 'bullmq';
import { createProcessor } from '../../../src/bullmq/processor.js';
import { createGuard } from '../../../src/cache/guard.js';
import { subscribeEvents } from '../../../src/events.js';
import { openTelemetry } from '../../../src/otel/index.js';
import { createLogger } from '../../common/logging.js';
import { observeGuardEvents } from '../../../workers/guard-events.js';
import { createGuardMetrics } from '../../../workers/metrics/guard-metrics.js';
import { createRedis } from '../../redis/connection.js';
import { commands, failChild, runRequests, say } from '../child-protocol.js';
import type { ProcessorCostConfig, ProcessorCostReport } from './processor-cost.js';

try {
  const config = JSON.parse(process.env.BENCH_PROCESSOR_COST ?? '') as ProcessorCostConfig;
  const { mode } = config;
  const redis = createRedis(config.redisUrl, 'cache');
  const nullLogger = createLogger({ level: 'info', destination: { write: () => {} }, base: { workerId: 'bench' } });
  const logger = mode === 'logger' ? nullLogger : undefined;
  const stopObserving =
    mode === 'silent' || mode === 'logger'
      ? undefined
      : observeGuardEvents(nullLogger, mode === 'metrics' ? createGuardMetrics() : undefined);
  // Before the tracer is taken: with no SDK, the API's tracer hands out non-recording spans.
  const stopSdk = mode === 'tracing-sdk' ? (await import('./noop-otel-sdk.js')).registerNoopSdk() : undefined;
  const tracing = mode === 'tracing-api' || mode === 'tracing-sdk' ? openTelemetry() : undefined;
  const guard = createGuard({
    redis,
    keyPrefix: `${config.keyPrefix}-${mode}`,
    l1: { maxEntries: 10 },
    ...(logger && { logger }),
    ...(tracing && { tracing }),
  });
  const processor = createProcessor({ guard, ...(logger && { logger }), workerId: 'bench', compute: () => async () => 'hot' });
  const job = (i: number) =>
    ({ id: String(i), data: { key: 'hot', strategy: 'redis-lock', runId: 'bench' }, timestamp: Date.now() }) as Job;

  // Warm up (JIT) until the jobs are L1 hits: the tier answers once its bus is subscribed.
  let l1Hit = false;
  const stopWatching = subscribeEvents((e) => {
    if (e.event === 'cache.hit' && e.fields.tier === 'l1') l1Hit = true;
  });
  const giveUpAt = Date.now() + 10_000;
  for (let i = 0; !l1Hit; i++) {
    if (Date.now() > giveUpAt) throw new Error('no L1 hit after 10 s');
    await processor(job(i));
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  stopWatching();
  for (let i = 0; i < 5000; i++) await processor(job(i));

  const lines = commands();
  say({ type: 'ready' });
  for await (const jobs of runRequests(lines)) {
    const cpu = process.cpuUsage();
    for (let i = 0; i < jobs; i++) await processor(job(i));
    const { user, system } = process.cpuUsage(cpu);
    say({ type: 'report', cpuUsPerJob: (user + system) / jobs } satisfies ProcessorCostReport);
  }
  stopObserving?.();
  // The SDK saw every hit's span: a mode that exported none would measure nothing.
  if (stopSdk && (await stopSdk()) === 0) throw new Error('tracing-sdk: no span exported');
  await guard.close();
  await redis.quit();
  process.exit(0);
} catch (err) {
  failChild(err);
}
