import { afterEach, describe, expect, it } from 'vitest';
import type { CallOptions, StampedeGuard } from '../src/cache/guard.js';
import type { FailurePolicy } from '../src/cache/strategy.js';
import { ComputeError, ComputeTimeoutError } from '../src/errors.js';
import { cacheKeys } from '../src/keys.js';
import { afterScripts } from './support/parked.js';
import { closeGuards, processGuard } from './support/guards.js';
import { connect, closeAll, uniquePrefix } from './support/redis.js';
import { deferred, sleep, waitUntil } from './support/wait.js';

afterEach(closeGuards);

// Long lock TTL: a waiter that learned of the failure only by waiting out the TTL would take
// 30 s; the assertions below bound the whole exchange at 10 s.
const lockTtlMs = 30_000;
const settle = (p: Promise<unknown>) =>
  p.then(
    (v) => v,
    (err: unknown) => err,
  );

/** A holder (guard A) whose computation the test fails, and a waiter in "another process" (guard B). */
async function holderAndWaiter(policy: FailurePolicy, extra = {}) {
  const prefix = uniquePrefix(`policy-${policy}`);
  const a = processGuard({ keyPrefix: prefix, lockTtlMs, failurePolicy: policy, ...extra });
  const b = processGuard({ keyPrefix: prefix, lockTtlMs, failurePolicy: policy, ...extra });
  const observer = connect();
  return { prefix, a, b, observer, keys: cacheKeys(prefix, 'k') };
}

/**
 * The holder's call on key `k` (guard A): it computes until the test calls `fail(message)`, and
 * resolves to its result or error. Returned once the computation has started.
 */
async function failingHolder(guard: StampedeGuard, options: CallOptions = {}) {
  const computing = deferred();
  const failure = deferred<string>();
  const holder = settle(
    guard.getOrCompute(
      'k',
      () => {
        computing.resolve();
        return failure.promise;
      },
      options,
    ),
  );
  await computing.promise;
  return { holder, fail: (message: string) => failure.reject(new Error(message)) };
}

async function waiterSubscribed(observer: ReturnType<typeof connect>, channel: string) {
  await waitUntil('the waiter subscribes', async () => {
    const [, n] = (await observer.pubsub('NUMSUB', channel)) as [string, number];
    return Number(n) >= 1;
  });
}

describe('when the holder computation fails', () => {
  it('error policy: the waiter gets the error at once, and does not recompute', async () => {
    const { a, b, observer } = await holderAndWaiter('error');
    const started = performance.now();
    const { holder, fail } = await failingHolder(a.guard);
    let waiterComputed = 0;
    const parked = await afterScripts(b.redis, 2);
    const waiter = settle(
      b.guard.getOrCompute('k', async () => {
        waiterComputed++;
        return 'no';
      }),
    );
    await parked();
    fail('database is down');

    expect(await holder).toMatchObject({ message: 'database is down' });
    const err = await waiter;
    expect(err).toBeInstanceOf(ComputeError);
    expect((err as Error).message).toContain('database is down');
    expect(waiterComputed).toBe(0);
    expect(performance.now() - started).toBeLessThan(10_000);
    await closeAll(observer);
  });

  it('stale policy: holder and waiter both get the stale value while it is within its grace', async () => {
    const { a, b, observer } = await holderAndWaiter('stale', { valueTtlMs: 200, graceMs: 60_000 });
    await a.guard.getOrCompute('k', async () => 'old');
    await sleep(250); // now stale, still within its grace

    const { holder, fail } = await failingHolder(a.guard);
    const parked = await afterScripts(b.redis, 2);
    const waiter = settle(b.guard.getOrCompute('k', async () => 'no'));
    await parked();
    fail('upstream 500');

    expect(await holder).toEqual({ value: 'old', source: 'stale' });
    expect(await waiter).toEqual({ value: 'old', source: 'stale' });
    expect(a.capture.count('stale.served') + b.capture.count('stale.served')).toBe(2);
    // The holder whose computation failed starts the fleet's back-off; its waiter does not.
    expect([a.capture.count('backoff.start'), b.capture.count('backoff.start')]).toEqual([1, 0]);
    await closeAll(observer);
  });

  it('error policy with a stale value at hand: the holder still gets the error', async () => {
    const { a, observer } = await holderAndWaiter('error', { valueTtlMs: 100, graceMs: 60_000 });
    await a.guard.getOrCompute('k', async () => 'old');
    await sleep(150); // stale, within its grace
    expect(await settle(a.guard.getOrCompute('k', async () => Promise.reject(new Error('upstream 500'))))).toMatchObject({
      message: 'upstream 500',
    });
    expect(a.capture.count('stale.served')).toBe(0);
    await closeAll(observer);
  });

  it('stale policy without a stale value: the error', async () => {
    const { a } = await holderAndWaiter('stale');
    const err = await settle(a.guard.getOrCompute('k', async () => Promise.reject(new Error('nope'))));
    expect(err).toMatchObject({ message: 'nope' });
  });

  it('a computation past its timeout fails at once, and its waiters are told', async () => {
    const { a, b, observer, keys } = await holderAndWaiter('error', { computeTimeoutMs: 2000 });
    let signal: AbortSignal | undefined;
    const started = performance.now();
    const holder = settle(
      a.guard.getOrCompute('k', ({ signal: s }) => {
        signal = s;
        return new Promise<string>(() => {}); // hangs, ignoring its signal
      }),
    );
    await waitUntil('the holder computes', () => signal !== undefined);
    const waiter = settle(b.guard.getOrCompute('k', async () => 'no'));
    await waiterSubscribed(observer, keys.channel).catch(() => {}); // it may already be over

    expect(await holder).toBeInstanceOf(ComputeTimeoutError);
    expect(signal?.aborted).toBe(true);
    const err = await waiter;
    expect(err).toBeInstanceOf(ComputeError);
    expect((err as Error).message).toContain('took longer than 2000 ms');
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(await observer.exists(keys.lock)).toBe(0);
    await closeAll(observer);
  });

  it('swr, cold: the error policy fails holder and waiter, the retry policy has a second holder compute', async () => {
    const failing = async (): Promise<string> => Promise.reject(new Error('backend down'));
    const cold = await holderAndWaiter('error');
    await expect(cold.a.guard.getOrCompute('k', failing, { strategy: 'swr' })).rejects.toThrow('backend down');

    const retry = await holderAndWaiter('retry');
    const { holder, fail } = await failingHolder(retry.a.guard, { strategy: 'swr' });
    const parked = await afterScripts(retry.b.redis, 2);
    const waiter = settle(retry.b.guard.getOrCompute('k', async () => 'second attempt', { strategy: 'swr' }));
    await parked();
    fail('first attempt failed');
    expect(await holder).toMatchObject({ message: 'first attempt failed' });
    expect(await waiter).toEqual({ value: 'second attempt', source: 'computed' });
    await closeAll(cold.observer, retry.observer);
  });

  it('retry policy: a waiter that hears of a second failure (its retry done by another) gets ComputeError, and computes nothing', async () => {
    const { prefix, a, b, observer } = await holderAndWaiter('retry');
    const c = processGuard({ keyPrefix: prefix, lockTtlMs, failurePolicy: 'retry' });
    const { holder, fail } = await failingHolder(a.guard);
    // The retry waits until the other waiter is parked again (its 4th script: the claim after
    // the failure, then the claim after subscribing), so the second failure is one it hears of.
    let retries = 0;
    const retrying = deferred<'b' | 'c'>();
    const retryFails = deferred();
    const failingRetry = (who: 'b' | 'c') => async (): Promise<string> => {
      retries += 1;
      retrying.resolve(who);
      await retryFails.promise;
      throw new Error('the retry failed too');
    };
    const parked = { b: await afterScripts(b.redis, 2), c: await afterScripts(c.redis, 2) };
    const parkedAgain = { b: await afterScripts(b.redis, 4), c: await afterScripts(c.redis, 4) };
    const waiters = [settle(b.guard.getOrCompute('k', failingRetry('b'))), settle(c.guard.getOrCompute('k', failingRetry('c')))];
    await parked.b();
    await parked.c();
    fail('first failure');
    expect(await holder).toMatchObject({ message: 'first failure' });
    const retrier = await retrying.promise;
    const other = retrier === 'b' ? 'c' : 'b';
    parkedAgain[retrier].stop();
    await parkedAgain[other]();
    retryFails.resolve();
    // One of them retried and got its own error; the other heard of that failure too.
    const outcomes = await Promise.all(waiters);
    expect(retries).toBe(1);
    expect(outcomes.map((e) => (e instanceof ComputeError ? 'heard' : (e as Error).message)).sort()).toEqual([
      'heard',
      'the retry failed too',
    ]);
    await closeAll(observer);
  });

  it('retry policy, when the retry fails too: the waiter gets that error', async () => {
    const { a, b, observer } = await holderAndWaiter('retry');
    const { holder, fail } = await failingHolder(a.guard);
    let retries = 0;
    const parked = await afterScripts(b.redis, 2);
    const waiter = settle(
      b.guard.getOrCompute('k', async () => {
        retries += 1;
        throw new Error('the retry failed too');
      }),
    );
    await parked();
    fail('first failure');
    expect(await holder).toMatchObject({ message: 'first failure' });
    expect(await waiter).toMatchObject({ message: 'the retry failed too' });
    expect(retries).toBe(1);
    await closeAll(observer);
  });
});
