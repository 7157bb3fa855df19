import { GuardClosedError, WaitTimeoutError } from '../errors.js';
import type { RedisGate } from '../redis/gate.js';
import { onAbort, unrefTimeout } from '../timers.js';

/**
 * What bounds a call that waits for another holder: its deadline (`maxWaitMs` from when it began
 * to wait), the guard's close, and its Redis becoming unavailable. Every Redis step and every
 * wait of such a call runs through `race`, so the call ends at its deadline whatever the client
 * does meanwhile (an ioredis client with `maxRetriesPerRequest: null` queues a command for as
 * long as Redis is away), at once when the guard closes (GuardClosedError), and at once when the
 * gate finds its Redis unavailable while it waits (RedisUnavailableError: the call then follows
 * onRedisDown). A waiter sends nothing while it waits; the gate probes its node meanwhile, once
 * per process however many wait (gate.ts).
 *
 * A step sent to Redis cannot be recalled. One that completes after the call gave up is handed to
 * `abandoned`, so that a lock it took is given back at once rather than left to expire.
 *
 * `end()` must be called when the call is done: it detaches from the guard's long-lived signal
 * and from the gate.
 */
/** How a waiter's claims and waits end when its call was answered stale at its soft timeout (`softTimeoutMs`). */
export class SoftTimeout extends Error {
  constructor(key: string) {
    super(`stopped waiting for key "${key}": answered with its stale value at the soft timeout`);
    this.name = 'SoftTimeout';
  }
}

export class CallBound {
  private readonly deadline: number;
  /** Aborted, with the error to end with, when the guard closes or the call's Redis goes down. */
  private readonly over = new AbortController();
  private readonly detachClosed: () => void;

  constructor(
    private readonly key: string,
    private readonly maxWaitMs: number,
    closed: AbortSignal,
    private readonly gate: RedisGate,
    /** A Redis key of the call, which says which node it waits on. */
    private readonly routeKey: string,
  ) {
    this.deadline = Date.now() + maxWaitMs;
    this.detachClosed = onAbort(closed, () => this.over.abort(new GuardClosedError()));
  }

  /** Run `wait` (a wait for another holder) ending it at once if the gate finds Redis unavailable meanwhile. */
  async whileWatched<T>(wait: () => Promise<T>): Promise<T> {
    const unwatch = this.gate.watch(this.routeKey, (err) => this.over.abort(err));
    try {
      return await wait();
    } finally {
      unwatch();
    }
  }

  /** Ms left before the deadline (0 or less once it passed). */
  remaining(): number {
    return this.deadline - Date.now();
  }

  /** Throws the reason the call is over: the guard closed, Redis went down, or the deadline passed. */
  throwIfOver(): void {
    if (this.over.signal.aborted) throw this.over.signal.reason;
    if (this.remaining() <= 0) throw this.timeout();
  }

  /** `step`'s result, or the bound's error when the deadline, the close or an outage comes first. */
  race<T>(step: Promise<T>, abandoned?: (late: T) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      let detach: () => void = () => {};
      const settle = (finish: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        detach();
        finish();
      };
      step.then(
        (result) => {
          if (settled) abandoned?.(result);
          else settle(() => resolve(result));
        },
        (err: unknown) => settle(() => reject(err)),
      );
      const { signal } = this.over;
      if (signal.aborted) return settle(() => reject(signal.reason));
      timer = unrefTimeout(() => settle(() => reject(this.timeout())), this.remaining());
      detach = onAbort(signal, () => settle(() => reject(signal.reason)));
    });
  }

  /** End every wait and claim of the call now: its caller was answered with a stale value at its soft timeout. */
  giveUp(): void {
    this.over.abort(new SoftTimeout(this.key));
  }

  /** The call is done with waiting. */
  end(): void {
    this.detachClosed();
  }

  private timeout(): WaitTimeoutError {
    return new WaitTimeoutError(this.key, `gave up waiting for key "${this.key}" after ${this.maxWaitMs} ms`);
  }
}
