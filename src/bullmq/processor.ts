import { UnrecoverableError, type Job } from 'bullmq';
import type { StampedeGuard } from '../cache/guard.js';
import { InvalidJobDataError, errorMessage } from '../errors.js';
import { emitEvent, type EventSource } from '../events.js';
import { jobLogger, silentLogger, type Logger } from '../logger.js';
import type { Compute, ComputeMany } from '../cache/context.js';
import { checkLogger } from '../cache/options.js';
import { keyByKey } from './batch.js';
import { JobFailures } from './failures.js';
import {
  BATCH_STRATEGY,
  MAX_LABEL_LENGTH,
  isBatchJob,
  jobLabels,
  parseJobData,
  rejectSimulation,
  type GetManyData,
  type GetManyResult,
  type GetValueData,
  type GetValueResult,
  type JobData,
  type KeyResult,
} from './job-data.js';
import { JOB_NAME } from './names.js';

export interface ProcessorDeps {
  guard: StampedeGuard;
  /**
   * Where each job's lines go, through a child bound to its correlation fields. @default silent
   * (a worker that writes its lines from the events, `subscribeEvents`, passes none)
   */
  logger?: Logger;
  workerId: string;
  /** The computation a job runs on a miss, from its validated data (and the BullMQ job, for its id). */
  compute: (data: GetValueData, job: Job) => Compute<unknown>;
  /**
   * The computation of a batch job's held keys, in one call, when the worker's computation has a
   * batch form. Absent: `compute` of each held key, all at once (a key whose computation throws
   * fails alone).
   */
  computeMany?: (data: GetManyData, job: Job) => ComputeMany<unknown>;
  /**
   * The computation is the lab's simulation, which reads `computeMs` and `simulate`. Otherwise a
   * job carrying them fails as invalid: no producer may make a real computation hang or fail.
   * @default false
   */
  acceptsSimulation?: boolean;
}

/**
 * The BullMQ processor of `get-value` jobs: validate, bind a child logger to the job's
 * correlation fields, run the guard, report the outcome. Invalid data and a failed computation fail
 * the job for good (UnrecoverableError: BullMQ does not retry it); anything else, Redis out of
 * reach above all, is left to the job's attempts (failures.ts). The worker goes on.
 *
 * Every event of a job, the guard's and `job.completed`/`job.failed`/`job.retry`, carries the
 * job's `{ runId, jobId, workerId }` as its context, with the job's strategy and key.
 *
 * A batch job (`keys`) runs `guard.getManyOrCompute`: its job lines are written per key (each
 * key's `job.completed`, or `job.failed` for a key that failed alone, with `batch: true`), so
 * the log report counts a batch of N keys as N key requests, each under its own key.
 */
export function createProcessor(deps: ProcessorDeps) {
  const failures = new JobFailures();
  // Checked now, not at the first job: each job's lines go through `logger.child(...)`.
  const logger = deps.logger === undefined ? silentLogger : checkLogger(deps.logger, { child: true, label: "createProcessor's logger" });
  // The worker's logger usually binds its id already; a line must not carry it twice.
  const bindWorkerId = logger.bindings?.().workerId === undefined;
  return async (job: Job): Promise<GetValueResult | GetManyResult> => {
    // Bound before validation: these come from any producer, and every line of the job carries them.
    const { runId, key, strategy } = jobLabels(job.data);
    const jobId = job.id ?? 'unknown';
    const log =
      logger === silentLogger
        ? logger
        : jobLogger(logger, { runId, jobId, strategy, key, ...(bindWorkerId && { workerId: deps.workerId }) });
    const context = { runId, jobId, workerId: deps.workerId };
    const events: EventSource = { log, key, strategy, context };

    let data: JobData;
    try {
      // The contract names the job: another name on the queue is not a get-value with a typo to
      // guess at, nor a job for some other consumer to wait for: it fails at once, like bad data.
      // (BullMQ's jobs always have a name; a job object made by hand, to call the processor
      // directly, may have none and is taken as a get-value.)
      if (job.name !== undefined && job.name !== JOB_NAME) {
        throw new InvalidJobDataError(
          `the job's name must be "${JOB_NAME}" (the queue carries get-value jobs only), got ${JSON.stringify(String(job.name).slice(0, 64))}`,
        );
      }
      data = parseJobData(job.data);
      if (!deps.acceptsSimulation) rejectSimulation(data);
    } catch (err) {
      if (!(err instanceof InvalidJobDataError)) throw err;
      emitEvent(events, 'warn', 'job.failed', {
        reason: err.message,
        code: err.code,
        attempt: job.attemptsMade + 1,
        latencyMs: Date.now() - job.timestamp,
      });
      throw new UnrecoverableError(`invalid job data: ${err.message}`);
    }

    if (isBatchJob(data)) return processBatch(job, data, { runId, jobId });

    try {
      const compute = failures.watch(deps.compute(data, job));
      const { value, source } = await deps.guard.getOrCompute(data.key, compute, {
        strategy: data.strategy,
        logger: log,
        context,
        ...(data.tags !== undefined && { tags: data.tags }),
      });
      emitEvent(events, 'info', 'job.completed', { latencyMs: Date.now() - job.timestamp, source });
      return { key: data.key, value, source, strategy: data.strategy, workerId: deps.workerId };
    } catch (err) {
      const attempt = job.attemptsMade + 1;
      const final = failures.isFinal(err);
      const retried = !final && attempt < (job.opts.attempts ?? 1);
      emitEvent(events, retried ? 'warn' : 'error', retried ? 'job.retry' : 'job.failed', {
        err,
        attempt,
        latencyMs: Date.now() - job.timestamp,
      });
      // BullMQ records `err.message` as the job's failed reason: a thrown string or object must
      // still leave one.
      const message = errorMessage(err);
      if (final) throw new UnrecoverableError(message);
      throw err instanceof Error ? err : new Error(message);
    }
  };

  /** A batch job: one getManyOrCompute; each key answered, or failed alone, in the result and in its own job line. */
  async function processBatch(job: Job, data: GetManyData, { runId, jobId }: { runId: string; jobId: string }): Promise<GetManyResult> {
    const strategy = BATCH_STRATEGY;
    const context = { runId, jobId, workerId: deps.workerId };
    const bound = (key: string) =>
      logger === silentLogger
        ? logger
        : jobLogger(logger, { runId, jobId, strategy, key, ...(bindWorkerId && { workerId: deps.workerId }) });
    // The job's lines, per key. (The guard's own lines of a batch go to one logger, bound to the
    // keys joined: only the events, which a worker writes its lines from, carry each key.)
    const lineOf = (key: string): EventSource => ({ log: bound(key), key, strategy, context });
    const guardLog = logger === silentLogger ? logger : bound(data.keys.join(',').slice(0, MAX_LABEL_LENGTH));
    const attempt = job.attemptsMade + 1;
    const mayRetry = attempt < (job.opts.attempts ?? 1);
    const latencyMs = () => Date.now() - job.timestamp;

    const single = deps.computeMany ? undefined : keyByKey((one) => deps.compute(one, job), data);
    const computeMany = failures.watchMany(deps.computeMany ? deps.computeMany(data, job) : single!.computeMany);
    let answers: Awaited<ReturnType<StampedeGuard['getManyOrCompute']>>;
    try {
      answers = await deps.guard.getManyOrCompute(data.keys, computeMany, {
        logger: guardLog,
        context,
        // Every key of the batch carries the job's tags.
        ...(data.tags !== undefined && { tags: data.tags }),
      });
    } catch (err) {
      // The whole call failed (the guard closing under a stopping worker): every key's attempt did.
      const final = failures.isFinal(err);
      const retried = !final && mayRetry;
      for (const key of data.keys) {
        emitEvent(lineOf(key), retried ? 'warn' : 'error', retried ? 'job.retry' : 'job.failed', {
          err,
          attempt,
          latencyMs: latencyMs(),
          ...BATCH_LINE,
        });
      }
      const message = errorMessage(err);
      if (final) throw new UnrecoverableError(message);
      throw err instanceof Error ? err : new Error(message);
    }

    // A key failed for a reason that says nothing about its value (Redis out of reach): the job is
    // tried again while it has attempts (idempotent: the keys answered now are hits then).
    const failedOf = (key: string): unknown => {
      const answer = answers.get(key);
      if (answer === undefined) return new Error(`no answer for "${key}"`);
      return 'error' in answer ? answer.error : undefined;
    };
    const retryable = data.keys.filter((key) => {
      const err = failedOf(key);
      return err !== undefined && !failures.isFinal(err);
    });
    if (retryable.length > 0 && mayRetry) {
      for (const key of retryable) {
        emitEvent(lineOf(key), 'warn', 'job.retry', { err: failedOf(key), attempt, latencyMs: latencyMs(), ...BATCH_LINE });
      }
      const first = failedOf(retryable[0]!);
      throw first instanceof Error ? first : new Error(errorMessage(first));
    }

    const results: [string, KeyResult][] = data.keys.map((key) => {
      const answer = answers.get(key);
      if (answer !== undefined && !('error' in answer)) {
        emitEvent(lineOf(key), 'info', 'job.completed', { latencyMs: latencyMs(), source: answer.source, ...BATCH_LINE });
        return [key, { value: answer.value, source: answer.source }];
      }
      // What the key's own computation threw says more than "the batch computation returned no value".
      const err = single?.errors.get(key) ?? failedOf(key);
      emitEvent(lineOf(key), 'error', 'job.failed', { err, attempt, latencyMs: latencyMs(), ...BATCH_LINE });
      return [key, { error: errorMessage(err) }];
    });
    // fromEntries defines own properties: a key named "__proto__" is an entry like any other.
    return { keys: [...data.keys], results: Object.fromEntries(results), strategy, workerId: deps.workerId };
  }
}

/** What a batch job's own lines carry beside their event's fields (docs/log-contract.md). */
const BATCH_LINE = { batch: true } as const;
