/**
 * The get-value processor's own CPU per cache hit, in one process: every job an L1 hit (no Redis
 * command, no BullMQ), log lines built and serialized by the worker's pino setup into a null
 * destination (no file I/O). What is left is the code a hit runs, so the difference between two
 * modes is their cost, steady where jobs/s through BullMQ on a shared machine is not. Modes:
 * - `silent`: no logger, nobody subscribed to the events;
 * - `logger`: the guard's and processor's `logger` option, nobody subscribed (a library user's pino);
 * - `events`: the lab worker's way, the lines written from the events;
 * - `metrics`: the same, also counting the Prometheus metrics (`--metrics-port`).
 * Env BENCH_PROCESSOR_COST (JSON). On `run`, the modes take turns slice by slice; the report
 * has each mode's CPU µs per job, slice by slice.
 */
import type { Job } from 'bullmq';
import { createProcessor } from '../../../src/bullmq/processor.js';
import { createGuard, type StampedeGuard } from '../../../src/cache/guard.js';
import { subscribeEvents } from '../../../src/events.js';
import { createLogger } from '../../common/logging.js';
import { observeGuardEvents } from '../../../workers/guard-events.js';
import { createGuardMetrics } from '../../../workers/metrics/guard-metrics.js';
import { createRedis } from '../../redis/connection.js';
import { commands, failChild, say, waitFor } from '../child-protocol.js';
import { rotate } from '../options.js';
import { PROCESSOR_COST_MODES, type ProcessorCostConfig, type ProcessorCostReport } from './processor-cost.js';

try {
  const config = JSON.parse(process.env.BENCH_PROCESSOR_COST ?? '') as ProcessorCostConfig;
  const redis = createRedis(config.redisUrl, 'cache');
  const nullLogger = createLogger({ level: 'info', destination: { write: () => {} }, base: { workerId: 'bench' } });
  const metrics = createGuardMetrics();
  const guards: StampedeGuard[] = [];
  const runners = PROCESSOR_COST_MODES.map((mode) => {
    const logger = mode === 'logger' ? nullLogger : undefined;
    const guard = createGuard({ redis, keyPrefix: `${config.keyPrefix}-${mode}`, l1: { maxEntries: 10 }, ...(logger && { logger }) });
    guards.push(guard);
    const processor = createProcessor({ guard, ...(logger && { logger }), workerId: 'bench', compute: () => async () => 'hot' });
    const observe = () =>
      mode === 'events' ? observeGuardEvents(nullLogger) : mode === 'metrics' ? observeGuardEvents(nullLogger, metrics) : () => {};
    return { mode, processor, observe, key: `hot-${mode}` };
  });
  const job = (key: string, i: number) =>
    ({ id: String(i), data: { key, strategy: 'redis-lock', runId: 'bench' }, timestamp: Date.now() }) as Job;

  // Warm up until every mode's jobs are L1 hits (its tier answers once its bus is subscribed).
  for (const { processor, key } of runners) {
    let l1Hit = false;
    const stop = subscribeEvents((e) => {
      if (e.key === key && e.event === 'cache.hit' && e.fields.tier === 'l1') l1Hit = true;
    });
    const giveUpAt = Date.now() + 10_000;
    for (let i = 0; !l1Hit || i < 2000; i++) {
      if (Date.now() > giveUpAt) throw new Error(`${key}: no L1 hit after 10 s`);
      await processor(job(key, i));
      if (!l1Hit) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    stop();
  }

  const lines = commands();
  say({ type: 'ready' });
  if (await waitFor(lines, 'run')) {
    const perJobUs = Object.fromEntries(PROCESSOR_COST_MODES.map((m) => [m, [] as number[]])) as ProcessorCostReport['perJobUs'];
    for (let slice = 0; slice < config.slices; slice++) {
      for (const { mode, processor, observe, key } of rotate(runners, slice)) {
        const stopObserving = observe();
        const cpu = process.cpuUsage();
        for (let i = 0; i < config.jobsPerSlice; i++) await processor(job(key, i));
        const { user, system } = process.cpuUsage(cpu);
        stopObserving();
        perJobUs[mode].push((user + system) / config.jobsPerSlice);
      }
    }
    say({ type: 'report', perJobUs } satisfies ProcessorCostReport);
  }
  await Promise.all(guards.map((g) => g.close()));
  await redis.quit();
  process.exit(0);
} catch (err) {
  failChild(err);
}
