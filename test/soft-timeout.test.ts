/**
 * The soft timeout (`softTimeoutMs`, redis-lock): a call with a stale value in reach waits for the
 * fresh one at most that long, then gets the stale one while the computation goes on and writes.
 * Real Redis; guards with their own connections stand for processes.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { OptionsError } from '../src/errors.js';
import { closeGuards, processGuard } from './support/guards.js';
import { closeAll, connect, uniquePrefix } from './support/redis.js';
import { deferred, sleep, waitUntil } from './support/wait.js';

afterEach(closeGuards);
const admin = connect();
afterAll(() => closeAll(admin));

/** A fleet whose key `k` holds a stale value ('old'), well within its grace. */
async function staleFleet(name: string, processes = 2) {
  const prefix = uniquePrefix(name);
  const guards = Array.from({ length: processes }, () =>
    processGuard({ keyPrefix: prefix, valueTtlMs: 200, graceMs: 60_000, softTimeoutMs: 100 }),
  );
  await guards[0]!.guard.getOrCompute('k', async () => 'old');
  await sleep(300);
  return guards;
}

describe('softTimeoutMs', () => {
  it('the holder: the stale value at the soft timeout, the computation goes on and writes; nothing computed twice', async () => {
    const [a] = await staleFleet('soft-holder', 1);
    const done = deferred<void>();
    let computations = 0;
    const compute = async () => {
      computations += 1;
      await done.promise;
      return 'new';
    };
    const started = Date.now();
    expect(await a!.guard.getOrCompute('k', compute)).toEqual({ value: 'old', source: 'stale' });
    expect(Date.now() - started).toBeLessThan(5000); // not waiting for the computation, which has not ended
    expect(a!.capture.lines.find((l) => l.event === 'stale.served')).toMatchObject({ reason: 'soft-timeout' });
    done.resolve();
    await waitUntil('the computation wrote', async () => (await a!.guard.getOrCompute('k', compute)).value === 'new');
    expect(computations).toBe(1);
    expect(a!.capture.count('cache.write')).toBe(2); // 'old', then 'new'
  });

  it('a waiter in another process: the stale value at its soft timeout, its wait ended as soft-timeout; the holder computes once', async () => {
    const [a, b] = await staleFleet('soft-waiter');
    const done = deferred<void>();
    let computations = 0;
    const compute = async () => {
      computations += 1;
      await done.promise;
      return 'new';
    };
    // A holds the lock and has no soft timeout of its own; B waits for it.
    const holding = a!.guard.getOrCompute('k', compute, { softTimeoutMs: 0 });
    await waitUntil('A computes', () => computations === 1);
    const waiters = await Promise.all(Array.from({ length: 5 }, () => b!.guard.getOrCompute('k', compute)));
    expect(waiters).toEqual(Array.from({ length: 5 }, () => ({ value: 'old', source: 'stale' })));
    expect(b!.capture.lines.find((l) => l.event === 'wait.end')).toMatchObject({ outcome: 'soft-timeout' });
    done.resolve();
    expect(await holding).toEqual({ value: 'new', source: 'computed' });
    expect(computations).toBe(1);
    expect(await b!.guard.getOrCompute('k', compute)).toEqual({ value: 'new', source: 'cache' });
  });

  it('the fresh value within the soft timeout is the answer', async () => {
    const [a] = await staleFleet('soft-fresh', 1);
    expect(await a!.guard.getOrCompute('k', async () => 'new', { softTimeoutMs: 5000 })).toEqual({ value: 'new', source: 'computed' });
  });

  it('without a stale value nothing changes: a cold key is waited for, as long as it takes', async () => {
    const prefix = uniquePrefix('soft-cold');
    const a = processGuard({ keyPrefix: prefix, softTimeoutMs: 50 });
    const b = processGuard({ keyPrefix: prefix, softTimeoutMs: 50 });
    const compute = async () => {
      await sleep(400);
      return 'v';
    };
    const [first, second] = await Promise.all([a.guard.getOrCompute('k', compute), b.guard.getOrCompute('k', compute)]);
    expect([first.source, second.source].sort()).toEqual(['computed', 'waited']);
    expect(second.value).toBe('v');
  });

  it('close() waits for a computation that went on after its call was answered stale', async () => {
    const [a] = await staleFleet('soft-close', 1);
    let finished = false;
    const compute = async () => {
      await sleep(600);
      finished = true;
      return 'new';
    };
    expect((await a!.guard.getOrCompute('k', compute)).source).toBe('stale');
    expect(finished).toBe(false);
    await a!.guard.close();
    expect(finished).toBe(true);
    expect(a!.capture.count('cache.write')).toBe(2); // 'old', then 'new'
  });

  it('a bad softTimeoutMs, for the guard or a call, is an OptionsError naming it', async () => {
    const prefix = uniquePrefix('soft-bad');
    expect(() => processGuard({ keyPrefix: prefix, softTimeoutMs: -1 })).toThrow(/softTimeoutMs must be/);
    const { guard } = processGuard({ keyPrefix: prefix });
    await expect(guard.getOrCompute('k', async () => 1, { softTimeoutMs: 1.5 })).rejects.toThrow(OptionsError);
  });
});
