import { UnrecoverableError, type Job } from 'bullmq';
import type { StampedeGuard } from '../cache/guard.js';
import { InvalidJobDataError, errorMessage } from '../errors.js';
import { emitEvent, type EventSource } from '../events.js';
import { jobLogger, silentLogger, type Logger } from '../logger.js';
import type { Compute } from '../cache/context.js';
import { checkLogger } from '../cache/options.js';
import { JobFailures } from './failures.js';
import { jobLabels, parseJobData, rejectSimulation, type GetValueData, type GetValueResult } from './job-data.js';
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
 */
export function createProcessor(deps: ProcessorDeps) {
  const failures = new JobFailures();
  // Checked now, not at the first job: each job's lines go through `logger.child(...)`.
  const logger = deps.logger === undefined ? silentLogger : checkLogger(deps.logger, { child: true, label: "createProcessor's logger" });
  // The worker's logger usually binds its id already; a line must not carry it twice.
  const bindWorkerId = logger.bindings?.().workerId === undefined;
  return async (job: Job): Promise<GetValueResult> => {
    // Bound before validation: these come from any producer, and every line of the job carries them.
    const { runId, key, strategy } = jobLabels(job.data);
    const jobId = job.id ?? 'unknown';
    const log =
      logger === silentLogger
        ? logger
        : jobLogger(logger, { runId, jobId, strategy, key, ...(bindWorkerId && { workerId: deps.workerId }) });
    const context = { runId, jobId, workerId: deps.workerId };
    const events: EventSource = { log, key, strategy, context };

    let data: GetValueData;
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

    try {
      const compute = failures.watch(deps.compute(data, job));
      const { value, source } = await deps.guard.getOrCompute(data.key, compute, {
        strategy: data.strategy,
        logger: log,
        context,
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
}
