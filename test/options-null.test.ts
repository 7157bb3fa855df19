/**
 * Options at their edges (issue 23, findings 7 and 8): only a missing option takes its default,
 * so `null` is a bad value and refused with OptionsError like any other; a logger is checked
 * for what its user calls on it, where it is given: the guard writes at four levels, and
 * `createProcessor` binds each job's fields with `child()`, so a logger without it is refused
 * when the processor is created, not at its first job.
 */
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProcessor } from '../src/bullmq/processor.js';
import { createGuard, type GuardOptions } from '../src/cache/guard.js';
import { GUARD_DEFAULTS, resolveGuardOptions } from '../src/cache/options.js';
import { closeAll, connect, uniquePrefix } from './support/redis.js';

let redis: Redis;
beforeAll(() => {
  redis = connect();
});
afterAll(async () => {
  await closeAll(redis);
});

function refusal(fn: () => unknown): { code?: string; option?: string; message: string } | null {
  try {
    fn();
  } catch (err) {
    const e = err as Error & { code?: string; option?: string };
    return { code: e.code, option: e.option, message: e.message };
  }
  return null;
}

describe('null is a bad value, not "the default"', () => {
  const tunable = [...Object.keys(GUARD_DEFAULTS), 'maxWaitMs'];
  for (const option of tunable) {
    it(`createGuard({ redis, ${option}: null }) throws OptionsError naming ${option}`, () => {
      const options = { redis, [option]: null } as unknown as GuardOptions;
      expect(refusal(() => createGuard(options))).toMatchObject({
        code: 'E_OPTIONS',
        option,
        message: expect.stringContaining('got null'),
      });
    });
  }

  it('the options that are objects or functions refuse null too', () => {
    for (const option of ['subscriber', 'random', 'logger', 'l1']) {
      expect(
        refusal(() => resolveGuardOptions({ redis, [option]: null } as unknown as GuardOptions)),
        option,
      ).toMatchObject({
        code: 'E_OPTIONS',
        option,
      });
    }
  });

  it('undefined, given or left out, takes the default', () => {
    const resolved = resolveGuardOptions({ redis, valueTtlMs: undefined, lockTtlMs: undefined, maxWaitMs: undefined });
    expect(resolved).toMatchObject({ valueTtlMs: GUARD_DEFAULTS.valueTtlMs, lockTtlMs: GUARD_DEFAULTS.lockTtlMs, maxWaitMs: 60_000 });
  });
});

describe('a logger is checked for what its user calls on it, where it is given', () => {
  const noChild = { debug() {}, info() {}, warn() {}, error() {} };

  it('the guard takes a logger without child(): it writes at four levels and binds nothing', async () => {
    const lines: unknown[] = [];
    const logger = { ...noChild, info: (fields: unknown) => void lines.push(fields) };
    const guard = createGuard({ redis, keyPrefix: uniquePrefix('logger-no-child'), logger: logger as never });
    expect(await guard.getOrCompute('k', async () => 1)).toMatchObject({ source: 'computed' });
    expect(lines.length).toBeGreaterThan(0);
    await guard.close();
  });

  it('createProcessor refuses a logger without child() when it is created, with OptionsError', async () => {
    const guard = createGuard({ redis, keyPrefix: uniquePrefix('processor-no-child') });
    const make = () => createProcessor({ guard, workerId: 'w', logger: noChild as never, compute: () => async () => 1 });
    expect(refusal(make)).toEqual({
      code: 'E_OPTIONS',
      option: 'logger',
      message: "createProcessor's logger must be a pino logger (or have its shape): it has no child()",
    });
    expect(refusal(() => createProcessor({ guard, workerId: 'w', logger: null as never, compute: () => async () => 1 }))).toMatchObject({
      code: 'E_OPTIONS',
      option: 'logger',
    });
    await guard.close();
  });

  it('createProcessor with a logger of the whole shape runs its jobs through child()', async () => {
    const guard = createGuard({ redis, keyPrefix: uniquePrefix('processor-child') });
    const bound: Record<string, unknown>[] = [];
    const logger = {
      ...noChild,
      child: (fields: Record<string, unknown>) => {
        bound.push(fields);
        return logger;
      },
    };
    const processor = createProcessor({ guard, workerId: 'w', logger, compute: () => async () => 42 });
    const job = { id: '1', data: { key: 'k', strategy: 'redis-lock' }, timestamp: Date.now(), attemptsMade: 0, opts: {} } as unknown as Job;
    expect(await processor(job)).toMatchObject({ value: 42, source: 'computed' });
    expect(bound).toEqual([{ runId: 'none', jobId: '1', strategy: 'redis-lock', key: 'k', workerId: 'w' }]);
    await guard.close();
  });
});
