/**
 * The `params` field of the queue contract: parameters for a real computation, validated as a
 * plain JSON object of bounded size; and the rule that a worker running a real computation refuses
 * the simulated computation's fields. Unit tests: no Redis (the fleet tests run them end to end).
 */
import { describe, expect, it } from 'vitest';
import { InvalidJobDataError } from '../src/errors.js';
import { MAX_PARAMS_BYTES, parseJobData, rejectSimulation } from '../src/bullmq/job-data.js';

const base = { key: 'k', strategy: 'redis-lock' } as const;

describe('job data: params', () => {
  it('passes a plain JSON object on as it is, and leaves the field out when absent', () => {
    const params = { region: 'eu', ids: [1, 2], filter: { active: true, since: null } };
    expect(parseJobData({ ...base, params })).toEqual({ ...base, params });
    expect('params' in parseJobData(base)).toBe(false);
  });

  it(`accepts ${MAX_PARAMS_BYTES} bytes of JSON and refuses one more (counted in UTF-8)`, () => {
    // {"s":"…"} is 8 bytes around the string; "é" is 2 bytes in UTF-8.
    const fits = { s: 'é'.repeat((MAX_PARAMS_BYTES - 8) / 2) };
    expect(parseJobData({ ...base, params: fits }).params).toBe(fits);
    expect(() => parseJobData({ ...base, params: { s: `${fits.s}x` } })).toThrow(
      `"params" must be at most ${MAX_PARAMS_BYTES} bytes as JSON, got ${MAX_PARAMS_BYTES + 1}`,
    );
  });

  it.each([
    ['an array', [1, 2], '"params" must be an object like {"region":"eu"}, got an array'],
    ['null', null, '"params" must be an object like {"region":"eu"}, got null'],
    ['a string', 'region=eu', '"params" must be an object like {"region":"eu"}, got "region=eu"'],
    ['a number', 3, '"params" must be an object like {"region":"eu"}, got number 3'],
    ['a BigInt inside', { id: 1n }, '"params" does not survive JSON: a BigInt at .id'],
    ['a function inside', { pick: [() => 1] }, '"params" does not survive JSON: a function at .pick[0]'],
    ['a Map', new Map(), '"params" does not survive JSON: a Map (JSON keeps only plain objects) at the top level'],
  ])('refuses %s with a reason naming the field', (_name, params, reason) => {
    expect(() => parseJobData({ ...base, params })).toThrow(InvalidJobDataError);
    expect(() => parseJobData({ ...base, params })).toThrow(reason);
  });
});

describe('a worker running a real computation refuses the simulation fields', () => {
  it('names the fields a job carries', () => {
    expect(() => rejectSimulation(parseJobData({ ...base, computeMs: 600_000 }))).toThrow(
      new InvalidJobDataError('"computeMs" is only for the simulated computation, and this worker runs a real one'),
    );
    expect(() => rejectSimulation(parseJobData({ ...base, computeMs: 5, simulate: 'hang' }))).toThrow(
      '"computeMs" and "simulate" are only for the simulated computation, and this worker runs a real one',
    );
  });

  it('lets every other job through', () => {
    expect(() => rejectSimulation(parseJobData({ ...base, params: { a: 1 }, runId: 'r' }))).not.toThrow();
  });
});
