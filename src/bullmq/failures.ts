import { ComputeError, ComputeTimeoutError, InvalidValueError } from '../errors.js';
import type { Compute, ComputeMany } from '../cache/context.js';

/**
 * Which failures of a get-value job are final, and which BullMQ may try again (within the job's
 * `attempts`, after its `backoff`). A get-value job is idempotent: a second attempt reads the
 * value the first one stored, or computes it once more under the fleet's lock. So retrying is
 * safe; it is not always useful:
 *
 * - invalid data fails the same way every time (the processor throws UnrecoverableError first);
 * - a failed computation had its chance: the guard's failure policy already decided what the
 *   callers get (`retry` is one more attempt by a new holder), and a job retry would only run a
 *   failing backend again. Final: whatever the computation threw, its timeout, a value that does
 *   not survive JSON, and the holder's failure as its waiters learn it;
 * - anything else says nothing about the value: Redis out of reach, a failover outlasting the
 *   client's retries, a wait that gave up, a guard closing under a stopping worker. Retried.
 *
 * A job whose completion BullMQ could not record (the queue's Redis failing over as the job
 * ends) fails inside BullMQ, never here, and is retried the same way: its next attempt finds the
 * value in the cache.
 */
export class JobFailures {
  /** What computations of this processor threw; weak, so nothing of a finished job stays. */
  private readonly fromComputation = new WeakSet<object>();

  /** `compute`, noting what it throws. */
  watch<T>(compute: Compute<T>): Compute<T> {
    return async (context) => {
      try {
        return await compute(context);
      } catch (err) {
        if (typeof err === 'object' && err !== null) this.fromComputation.add(err);
        throw err;
      }
    };
  }

  /** `computeMany`, noting what it throws (every key it held fails with that). */
  watchMany<T>(computeMany: ComputeMany<T>): ComputeMany<T> {
    return async (keys, context) => {
      try {
        return await computeMany(keys, context);
      } catch (err) {
        if (typeof err === 'object' && err !== null) this.fromComputation.add(err);
        throw err;
      }
    };
  }

  /** True when trying the job again cannot help (see above). Only computations throw non-errors. */
  isFinal(err: unknown): boolean {
    if (!(err instanceof Error)) return true;
    return (
      this.fromComputation.has(err) || err instanceof ComputeError || err instanceof ComputeTimeoutError || err instanceof InvalidValueError
    );
  }
}
