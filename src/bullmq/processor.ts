import { UnrecoverableError, type Job } from 'bullmq';
import type { StampedeGuard } from '../cache/guard.js';
import { InvalidJobDataError, errorMessage } from '../errors.js';
import { jobLogger, logEvent, type Logger } from '../logger.js';
import type { Compute } from '../cache/context.js';
import { JobFailures } from './failures.js';
import { parseJobData, rejectSimulation, type GetValueData, type GetValueResult } from './job-data.js';

/** Longest job-data string bound to a job's log lines (keys may be longer; the log needs no more). */
const MAX_BOUND_LENGTH = 200;

export interface ProcessorDeps {
  guard: StampedeGuard;
  logger: Logger;
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
 * correlation fields, run the guard, log the outcome. Invalid data and a failed computation fail
 * the job for good (UnrecoverableError: BullMQ does not retry it); anything else, Redis out of
 * reach above all, is left to the job's attempts (failures.ts). The worker goes on.
 */
export function createProcessor(deps: ProcessorDeps) {
  const failures = new JobFailures();
  return async (job: Job): Promise<GetValueResult> => {
    const raw = (job.data ?? {}) as Record<string, unknown>;
    // Bound before validation: these come from any producer, and every line of the job carries them.
    const log = jobLogger(deps.logger, {
      runId: typeof raw.runId === 'string' ? raw.runId.slice(0, MAX_BOUND_LENGTH) : 'none',
      jobId: job.id ?? 'unknown',
      strategy: typeof raw.strategy === 'string' ? raw.strategy.slice(0, 32) : 'invalid',
      key: typeof raw.key === 'string' ? raw.key.slice(0, MAX_BOUND_LENGTH) : 'invalid',
      // The worker's logger usually binds its id already; a line must not carry it twice.
      ...(deps.logger.bindings?.().workerId === undefined && { workerId: deps.workerId }),
    });

    let data: GetValueData;
    try {
      data = parseJobData(job.data);
      if (!deps.acceptsSimulation) rejectSimulation(data);
    } catch (err) {
      if (!(err instanceof InvalidJobDataError)) throw err;
      logEvent(log, 'warn', 'job.failed', { reason: err.message, code: err.code, latencyMs: Date.now() - job.timestamp });
      throw new UnrecoverableError(`invalid job data: ${err.message}`);
    }

    try {
      const compute = failures.watch(deps.compute(data, job));
      const { value, source } = await deps.guard.getOrCompute(data.key, compute, { strategy: data.strategy, logger: log });
      logEvent(log, 'info', 'job.completed', { latencyMs: Date.now() - job.timestamp, source });
      return { key: data.key, value, source, strategy: data.strategy, workerId: deps.workerId };
    } catch (err) {
      const attempt = job.attemptsMade + 1;
      const final = failures.isFinal(err);
      const retried = !final && attempt < (job.opts.attempts ?? 1);
      logEvent(log, retried ? 'warn' : 'error', retried ? 'job.retry' : 'job.failed', {
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
