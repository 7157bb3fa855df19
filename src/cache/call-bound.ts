import { GuardClosedError, WaitTimeoutError } from '../errors.js';
import { onAbort, unrefTimeout } from '../timers.js';

/**
 * What bounds a call that waits for another holder: its deadline (`maxWaitMs` from when it began
 * to wait) and the guard's close. Every Redis step and every wait of such a call runs through
 * `race`, so the call ends at its deadline whatever the client does meanwhile (an ioredis client
 * with `maxRetriesPerRequest: null` queues a command for as long as Redis is away) and at once
 * when the guard closes.
 *
 * A step sent to Redis cannot be recalled. One that completes after the call gave up is handed to
 * `abandoned`, so that a lock it took is given back at once rather than left to expire.
 */
export class CallBound {
  private readonly deadline: number;

  constructor(
    private readonly key: string,
    private readonly maxWaitMs: number,
    private readonly closed: AbortSignal,
  ) {
    this.deadline = Date.now() + maxWaitMs;
  }

  /** Ms left before the deadline (0 or less once it passed). */
  remaining(): number {
    return this.deadline - Date.now();
  }

  /** Throws GuardClosedError once the guard closed, WaitTimeoutError once the deadline passed. */
  throwIfOver(): void {
    if (this.closed.aborted) throw new GuardClosedError();
    if (this.remaining() <= 0) throw this.timeout();
  }

  /** `step`'s result, or the bound's error when the deadline or the close comes first. */
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
      if (this.closed.aborted) return settle(() => reject(new GuardClosedError()));
      timer = unrefTimeout(() => settle(() => reject(this.timeout())), this.remaining());
      detach = onAbort(this.closed, () => settle(() => reject(new GuardClosedError())));
    });
  }

  private timeout(): WaitTimeoutError {
    return new WaitTimeoutError(this.key, `gave up waiting for key "${this.key}" after ${this.maxWaitMs} ms`);
  }
}
