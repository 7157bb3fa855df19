/**
 * npm run burst -- --jobs J --keys K --strategy S [--compute-ms M] [--params JSON] [--run-id R] [--batch N] [--tags T1,T2]
 * Send a burst of get-value jobs through the get-value client, show progress, wait for every
 * job, print a summary. `--batch N`: each job is a batch job of N keys (J x N key requests).
 */
import { randomBytes } from 'node:crypto';
import { STRATEGIES, type Strategy } from '../src/cache/strategy.js';
import { BATCH_STRATEGY, MAX_BATCH_KEYS, MAX_COMPUTE_MS, type JobParams } from '../src/bullmq/job-data.js';
import { createGetManyClient } from '../src/bullmq/client.js';
import { UserError } from './common/errors.js';
import { loadConfig } from './common/config.js';
import { createProgress } from './common/progress.js';
import { assertRedisReachable } from './redis/connection.js';
import { clientKindFor, REDIS_CLIENT_HELP } from './redis/client-kind.js';
import { closeRedis, createLabQueue, openRedis } from './redis/lab-redis.js';
import { runBurst } from './burst/burst.js';
import { createLabClient } from './tracing/lab-client.js';
import { consumerCheck } from './burst/consumers.js';
import { formatBurstSummary } from './burst/format-burst.js';
import { parseParams, parseRunId, parseTags } from './burst/params-arg.js';
import { EXIT_FAILED, intArg, newCommand, oneOf, runCli } from './common/cli.js';

await runCli(async () => {
  const opts = newCommand('burst', 'Send a burst of get-value jobs through the get-value client and wait for all of them.')
    .option('--jobs <n>', 'jobs to enqueue', intArg(1, 1_000_000), 200)
    .option('--keys <n>', 'distinct cache keys, jobs spread round-robin', intArg(1, 100_000), 1)
    .option('--strategy <s>', `one of ${STRATEGIES.join(', ')} (env STRATEGY, default redis-lock)`, oneOf(STRATEGIES))
    .option(
      '--compute-ms <ms>',
      "simulated computation time (default: the worker's; refused by workers running --compute)",
      intArg(0, MAX_COMPUTE_MS),
    )
    .option('--params <json>', 'params for a compute module, a JSON object like \'{"region":"eu"}\'', parseParams)
    .option('--run-id <id>', 'label of this burst in the logs, 1 to 128 characters (default: random)', parseRunId)
    .option(
      '--batch <n>',
      `keys per job: each job asks for N keys (the next N of the round-robin, at most --keys) in one batch job, computed under redis-lock; J jobs are J x N key requests (1 to ${MAX_BATCH_KEYS})`,
      intArg(1, MAX_BATCH_KEYS),
    )
    .option(
      '--tags <list>',
      "tags on every job's value, comma-separated like user:42,catalogue (npm run invalidate -- --tags reaches them)",
      parseTags,
    )
    .option('--timeout <s>', 'give up waiting after this many seconds', intArg(1, 86_400), 600)
    .option('--json', 'print the summary as JSON')
    .addHelpText('after', REDIS_CLIENT_HELP)
    .parse()
    .opts<{
      jobs: number;
      keys: number;
      strategy?: Strategy;
      computeMs?: number;
      params?: JobParams;
      runId?: string;
      batch?: number;
      tags?: string[];
      timeout: number;
      json?: boolean;
    }>();

  // STRATEGY (checked here, with the rest of the environment) is the strategy when --strategy is not given.
  const config = loadConfig();
  const strategy = opts.strategy ?? config.strategy;
  const clientKind = clientKindFor(config);
  if (opts.batch !== undefined) {
    if (opts.batch > opts.keys) {
      throw new UserError(
        'E_USAGE',
        `--batch ${opts.batch} asks for more keys per job than --keys ${opts.keys}: a batch job names each key once`,
      );
    }
    if (strategy !== BATCH_STRATEGY) {
      throw new UserError(
        'E_USAGE',
        `--batch jobs are computed under ${BATCH_STRATEGY} only, got ${opts.strategy ? '--strategy' : 'STRATEGY'} ${strategy}`,
      );
    }
  }
  for (const warning of await assertRedisReachable(config.queueRedisUrl, config.tls)) process.stderr.write(`warning: ${warning}\n`);
  const producer = await openRedis(clientKind, config.queueRedisUrl, 'producer', config.tls);
  const queue = createLabQueue(config.queueName, producer);
  // Batch jobs go through the plain client: the lab's traced client wraps single gets only.
  const client =
    opts.batch === undefined
      ? createLabClient({ connection: producer, queueName: config.queueName, logDir: config.logDir })
      : createGetManyClient({ connection: producer, queueName: config.queueName });
  const runId = opts.runId ?? `burst-${randomBytes(3).toString('hex')}`;
  const progress = createProgress(`${runId} ${strategy}`);
  try {
    const check = await consumerCheck(queue, config.queueName);
    if (check) process.stderr.write(`${check}\n`);
    const summary = await runBurst(
      client,
      {
        jobs: opts.jobs,
        keys: opts.keys,
        strategy,
        runId,
        ...(opts.computeMs !== undefined && { computeMs: opts.computeMs }),
        ...(opts.params !== undefined && { params: opts.params }),
        ...(opts.batch !== undefined && { batch: opts.batch }),
        ...(opts.tags !== undefined && { tags: opts.tags }),
      },
      { onProgress: (done, total) => progress.update(done, total), timeoutMs: opts.timeout * 1000 },
    );
    progress.stop();
    process.stdout.write(opts.json ? `${JSON.stringify(summary)}\n` : `${formatBurstSummary(summary)}\n`);
    return summary.failed > 0 || summary.notEnqueued > 0 || summary.timedOut ? EXIT_FAILED : 0;
  } finally {
    progress.stop();
    await client.close();
    await queue.close();
    await closeRedis(producer);
  }
});
