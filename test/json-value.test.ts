/**
 * Values must survive JSON: what a computation returns (and what `set` stores) is read back from
 * JSON by every other process. A value that would come back as something else fails with a
 * reason naming what and where; the guard treats it as a failed computation (its lock is given
 * back at once and its waiters learn why), on real Redis.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ComputeError, InvalidValueError } from '../src/errors.js';
import { toJson } from '../src/json-value.js';
import { cacheKeys } from '../src/keys.js';
import { afterScripts } from './support/parked.js';
import { closeGuards, processGuard } from './support/guards.js';
import { closeAll, connect, uniquePrefix } from './support/redis.js';
import { deferred } from './support/wait.js';

describe('toJson', () => {
  const cyclic: Record<string, unknown> = { a: { b: {} } };
  (cyclic.a as { b: Record<string, unknown> }).b.back = cyclic;
  class Point {
    x = 1;
  }
  const nested: unknown[] = [];
  let inner = nested;
  for (let i = 0; i < 50_000; i++) {
    const next: unknown[] = [];
    inner.push(next);
    inner = next;
  }

  it.each([
    ['undefined', undefined, 'undefined at the top level'],
    ['undefined in an array', [1, undefined], 'undefined at [1]'],
    ['a function', { format: () => 'x' }, 'a function at .format'],
    ['a symbol', { 'odd key': [Symbol('s')] }, 'a symbol at ["odd key"][0]'],
    ['a BigInt', { user: { id: 10n } }, 'a BigInt at .user.id'],
    ['a cycle', cyclic, 'a cycle (an object inside itself) at .a.b.back'],
    ['NaN', { ratio: Number.NaN }, 'NaN at .ratio'],
    ['Infinity', [Number.POSITIVE_INFINITY], 'Infinity at [0]'],
    ['a Map', { m: new Map([[1, 2]]) }, 'a Map (JSON keeps only plain objects) at .m'],
    ['a class instance', [new Point()], 'a Point (JSON keeps only plain objects) at [0]'],
    ['an Error', new Error('x'), 'an Error (JSON keeps only plain objects) at the top level'],
    ['deep nesting', nested, 'nested too deeply to serialize'],
  ])('rejects %s, saying what and where', (_name, value, problem) => {
    expect(toJson(value)).toEqual({ problem });
  });

  it.each([
    ['null', null, 'null'],
    ['a string', 'x', '"x"'],
    ['a number', 4.5, '4.5'],
    ['a plain object with an undefined property (left out, reads back as undefined)', { a: 1, b: undefined }, '{"a":1}'],
    ['an object without a prototype', Object.assign(Object.create(null), { a: 1 }), '{"a":1}'],
    ['a Date (its toJSON)', { at: new Date(0) }, '{"at":"1970-01-01T00:00:00.000Z"}'],
    [
      'the same object twice (not a cycle)',
      (() => {
        const shared = { x: 1 };
        return { a: shared, b: [shared] };
      })(),
      '{"a":{"x":1},"b":[{"x":1}]}',
    ],
  ])('accepts %s', (_name, value, json) => {
    expect(toJson(value)).toEqual({ json });
  });
});

describe('the guard and values that do not survive JSON', () => {
  afterEach(closeGuards);

  it('a holder whose computation returns undefined fails with InvalidValueError; its waiter learns why at once', async () => {
    const prefix = uniquePrefix('json-value');
    // A waiter that learned of the failure only when the lock expired would wait 30 s.
    const a = processGuard({ keyPrefix: prefix, lockTtlMs: 30_000, failurePolicy: 'error' });
    const b = processGuard({ keyPrefix: prefix, lockTtlMs: 30_000, failurePolicy: 'error' });
    const observer = connect();
    const keys = cacheKeys(prefix, 'k');
    const release = deferred<undefined>();
    const computing = deferred();
    const holder = a.guard
      .getOrCompute('k', async () => {
        computing.resolve();
        return release.promise;
      })
      .catch((err: unknown) => err);
    await computing.promise;
    const parked = await afterScripts(b.redis, 2);
    const waiter = b.guard.getOrCompute('k', async () => 'not me').catch((err: unknown) => err);
    await parked();
    release.resolve(undefined);

    const holderErr = await holder;
    expect(holderErr).toBeInstanceOf(InvalidValueError);
    expect(holderErr).toMatchObject({
      code: 'E_VALUE',
      key: 'k',
      message: 'the value of "k" does not survive JSON: undefined at the top level',
    });
    const waiterErr = await waiter;
    expect(waiterErr).toBeInstanceOf(ComputeError);
    expect((waiterErr as Error).message).toContain('does not survive JSON: undefined at the top level');
    // Nothing was stored and the lock was given back.
    expect(await observer.exists(keys.value, keys.lock)).toBe(0);
    expect(a.capture.count('recompute.failed')).toBe(1);
    await closeAll(observer);
  });

  it('none: a computation returning a BigInt fails the call, and nothing is stored', async () => {
    const prefix = uniquePrefix('json-none');
    const { guard, redis } = processGuard({ keyPrefix: prefix });
    await expect(guard.getOrCompute('k', async () => ({ id: 1n }), { strategy: 'none' })).rejects.toThrow(
      'the value of "k" does not survive JSON: a BigInt at .id',
    );
    expect(await redis.exists(cacheKeys(prefix, 'k').value)).toBe(0);
  });

  it('set refuses such a value before writing anything', async () => {
    const prefix = uniquePrefix('json-set');
    const { guard, redis } = processGuard({ keyPrefix: prefix });
    await expect(guard.set('k', { at: new Map() })).rejects.toThrow(InvalidValueError);
    expect(await redis.exists(cacheKeys(prefix, 'k').value)).toBe(0);
    await guard.set('k', { at: new Date(0) });
    expect(await guard.getOrCompute('k', async () => 'unused')).toEqual({ value: { at: '1970-01-01T00:00:00.000Z' }, source: 'cache' });
  });
});
