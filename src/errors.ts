/**
 * The library's errors: one class per code, each with a stable `code`, so callers can branch on
 * it instead of matching message text, and the `key` where there is one.
 */
export class StampedeError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A get-value job's data breaks the queue contract (cache-stampede/bullmq); the job fails without retries. */
export class InvalidJobDataError extends StampedeError {
  constructor(message: string) {
    super('E_JOB_DATA', message);
  }
}

/** An option of the guard or an argument of the lock API is invalid; `option` names it. */
export class OptionsError extends StampedeError {
  constructor(
    readonly option: string,
    message: string,
  ) {
    super('E_OPTIONS', message);
  }
}

/** A cache key that is not a string of 1 to MAX_KEY_LENGTH characters. */
export class InvalidKeyError extends StampedeError {
  constructor(message: string) {
    super('E_KEY', message);
  }
}

/** A call named a strategy the guard does not have. */
export class UnknownStrategyError extends StampedeError {
  constructor(readonly strategy: string) {
    super('E_STRATEGY', `unknown strategy "${String(strategy).slice(0, 64)}"`);
  }
}

/** The guard was closed: calls still computing are aborted with this, and no new call starts. */
export class GuardClosedError extends StampedeError {
  constructor() {
    super('E_CLOSED', 'the guard was closed');
  }
}

/**
 * The cache's Redis is unavailable (a step of the call had no answer within `redisTimeoutMs`, the
 * connection failed, or the circuit breaker is open after such a failure) and the guard's
 * `onRedisDown` is `error`. `node` names the Redis (host:port) on a cluster; `cause` says why.
 */
export class RedisUnavailableError extends StampedeError {
  constructor(
    readonly node: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super('E_REDIS_UNAVAILABLE', `the cache's Redis${node ? ` (${node})` : ''} is unavailable: ${reason}`, options);
  }
}

/** A waiter gave up: the holder neither wrote a value nor released its lock in time. */
export class WaitTimeoutError extends StampedeError {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super('E_WAIT_TIMEOUT', message);
  }
}

/** The computation failed (here or in the holder this caller waited for); `cause` is what it threw. */
export class ComputeError extends StampedeError {
  constructor(
    readonly key: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('E_COMPUTE', message, options);
  }
}

/** The computation ran past the guard's compute timeout and was abandoned. */
export class ComputeTimeoutError extends StampedeError {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super('E_COMPUTE_TIMEOUT', message);
  }
}

/**
 * A value that would not come back from JSON as it went in (undefined, a function, a BigInt, a
 * cycle, NaN, a Map, ...): what a computation returned, or what `set` was given. Stored, it would
 * read back as something else in every other process, or not at all.
 */
export class InvalidValueError extends StampedeError {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super('E_VALUE', message);
  }
}

/** The holder's Redis lock expired or was taken while it computed. */
export class LockLostError extends StampedeError {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super('E_LOCK_LOST', message);
  }
}

/** A get-value job the client enqueued failed; `reason` is the job's failed reason, as the worker gave it. */
export class JobFailedError extends StampedeError {
  constructor(
    readonly key: string,
    readonly jobId: string,
    readonly reason: string,
  ) {
    super('E_JOB_FAILED', `the get-value job for "${key}" failed: ${reason}`);
  }
}

/** A get-value job did not finish within the client's timeout. The job may still run, and its value be cached. */
export class JobTimeoutError extends StampedeError {
  constructor(
    readonly key: string,
    readonly jobId: string,
    readonly timeoutMs: number,
  ) {
    super('E_JOB_TIMEOUT', `no result for "${key}" within ${timeoutMs} ms`);
  }
}

/** The client could not enqueue a get-value job (the queue's Redis is down, say); `cause` says why. */
export class EnqueueError extends StampedeError {
  constructor(
    readonly key: string,
    cause: unknown,
  ) {
    super('E_ENQUEUE', `could not enqueue the get-value job for "${key}": ${errorMessage(cause)}`, { cause });
  }
}

/** A get after the client's `close()`; also the reason gets still waiting are rejected with. */
export class ClientClosedError extends StampedeError {
  constructor() {
    super('E_CLIENT_CLOSED', 'the get-value client was closed');
  }
}

/** The message of anything thrown. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
