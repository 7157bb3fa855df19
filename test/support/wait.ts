/** A promise with its resolve and reject exposed, so a test decides when something finishes. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Poll `check` until it returns true (tests only: the code under test must not poll).
 * Fails with `what` after `timeoutMs`, which should be generous: it bounds a hang, not speed.
 */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean> | boolean,
  { timeoutMs = 20_000, intervalMs = 20 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await sleep(intervalMs);
  }
}

/** A computation that runs until the test lets it finish with `value`; `started` once it runs. */
export function gated() {
  const started = deferred();
  const gate = deferred<string>();
  const compute = () => {
    started.resolve();
    return gate.promise;
  };
  return { started: started.promise, finish: (value: string) => gate.resolve(value), compute };
}
