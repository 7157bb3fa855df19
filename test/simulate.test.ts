/**
 * The `simulate` field of the queue contract: how a job asks its simulated computation to fail
 * (`throw`, `hang`), validated like the other fields; and what the simulated computation then does.
 * Unit tests: no Redis, no worker (fault 7 runs it end to end on a fleet).
 */
import { describe, expect, it } from 'vitest';
import { InvalidJobDataError } from '../src/errors.js';
import { parseJobData } from '../src/bullmq/job-data.js';
import { simulatedCompute } from '../workers/simulated-compute.js';

const base = { key: 'k', strategy: 'redis-lock' };

describe('job data: simulate', () => {
  it('accepts "throw" and "hang", and leaves the field out when absent', () => {
    expect(parseJobData({ ...base, simulate: 'throw' })).toEqual({ ...base, simulate: 'throw' });
    expect(parseJobData({ ...base, simulate: 'hang', computeMs: 5 })).toEqual({ ...base, simulate: 'hang', computeMs: 5 });
    expect(parseJobData(base)).toEqual(base);
    expect('simulate' in parseJobData(base)).toBe(false);
  });

  it.each([
    ['an unknown value', 'explode', /"simulate" must be one of throw, hang, got "explode"/],
    ['capitals', 'THROW', /"simulate" must be one of throw, hang, got "THROW"/],
    ['an empty string', '', /"simulate" must be one of throw, hang, got ""/],
    ['a number', 1, /"simulate" must be one of throw, hang, got number 1/],
    ['a boolean', true, /"simulate" must be one of throw, hang, got boolean true/],
    ['null', null, /"simulate" must be one of throw, hang, got null/],
    ['an array', ['throw'], /"simulate" must be one of throw, hang, got an array/],
    ['an object', { kind: 'throw' }, /"simulate" must be one of throw, hang, got an object/],
  ])('rejects %s with a reason naming the field', (_name, simulate, reason) => {
    expect(() => parseJobData({ ...base, simulate })).toThrow(InvalidJobDataError);
    expect(() => parseJobData({ ...base, simulate })).toThrow(reason);
  });

  it('names simulate among the allowed fields when a field is unknown', () => {
    expect(() => parseJobData({ ...base, simulated: 'throw' })).toThrow(
      /unknown field\(s\) "simulated"; allowed: key, strategy, computeMs, runId, simulate, params/,
    );
  });
});

describe('the simulated computation', () => {
  const run = (computeMs: number, simulate?: 'throw' | 'hang', signal = new AbortController().signal) =>
    simulatedCompute('worker-t', computeMs, simulate)({ key: 'k', signal, setTtl: () => {}, skipCache: () => {}, addTags: () => {} });

  it('returns a value naming its worker after computeMs', async () => {
    const value = await run(5);
    expect(value).toMatchObject({ computedBy: 'worker-t', pid: process.pid, computeMs: 5 });
  });

  it('throw: rejects after computeMs with "simulated failure ..."', async () => {
    const started = performance.now();
    await expect(run(50, 'throw')).rejects.toThrow(/^simulated failure in worker-t after 50 ms$/);
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
  });

  it('throw: an abort before computeMs rejects with the abort reason instead', async () => {
    const abort = new AbortController();
    const result = run(10_000, 'throw', abort.signal);
    abort.abort(new Error('timed out'));
    await expect(result).rejects.toThrow('timed out');
  });

  it('hang: never settles by itself, and rejects with the reason when aborted', async () => {
    const abort = new AbortController();
    let settled = false;
    const result = run(1, 'hang', abort.signal).finally(() => (settled = true));
    result.catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 100)); // far past computeMs
    expect(settled).toBe(false);
    const reason = new Error('computation took longer than 1500 ms');
    abort.abort(reason);
    await expect(result).rejects.toBe(reason);
  });

  it('hang: an already aborted signal rejects at once', async () => {
    await expect(run(1, 'hang', AbortSignal.abort(new Error('closed')))).rejects.toThrow('closed');
  });
});
