import { InvalidJobDataError } from '../errors.js';
import { MAX_KEY_LENGTH } from '../keys.js';
import { STRATEGIES, isStrategy, type Strategy } from '../cache/strategy.js';
import type { ValueSource } from '../cache/strategy.js';
import { toJson } from '../json-value.js';
import { MAX_TAGS, MAX_TAG_LENGTH } from '../cache/tags.js';

/** Data of a `get-value` job, as any producer sends it. */
export interface GetValueData {
  key: string;
  strategy: Strategy;
  /** How long the simulated computation takes; the worker's default when absent. */
  computeMs?: number;
  /** Groups the jobs of one burst in the logs; 'none' when absent. */
  runId?: string;
  /**
   * Parameters for the computation (a compute module gets them as `params`): a plain JSON object
   * of at most MAX_PARAMS_BYTES as JSON. They must not change the value: the cache key is `key`
   * alone, so jobs for one key with different params share one value.
   */
  params?: JobParams;
  /**
   * Make the simulated computation fail, for fault tests and demos: `throw` rejects after
   * `computeMs` with "simulated failure ...", `hang` never finishes (until the guard's compute
   * timeout or close aborts it). Absent: the computation succeeds.
   */
  simulate?: Simulation;
  /**
   * Tags of the value (`getOrCompute`'s `tags`): `invalidateTags` of any of them, from any
   * process, makes it count as missing in the whole fleet. At most MAX_TAGS, each 1 to
   * MAX_TAG_LENGTH characters. Like params, they do not select the value: the cache key is `key`.
   */
  tags?: string[];
}

/**
 * Data of a batch `get-value` job: `keys` instead of `key`, answered with one batch computation
 * (`guard.getManyOrCompute`). A batch is always computed under `redis-lock` (its keys are claimed
 * together in the fleet), so `strategy` must be `redis-lock`. The other fields are a single job's,
 * for every key of the batch.
 */
export interface GetManyData extends Omit<GetValueData, 'key' | 'strategy'> {
  /** 1 to MAX_BATCH_KEYS valid keys, no key twice. */
  keys: string[];
  strategy: typeof BATCH_STRATEGY;
}

/** Any get-value job's data: one key, or a batch. */
export type JobData = GetValueData | GetManyData;

/** True for a batch job's data (`keys`). */
export function isBatchJob(data: JobData): data is GetManyData {
  return 'keys' in data;
}

/** The one strategy of a batch job. */
export const BATCH_STRATEGY = 'redis-lock' as const;

/** Most keys one batch job may ask for: the job data is in Redis, and in every event. */
export const MAX_BATCH_KEYS = 1000;

/** One key's answer in a batch job's result: its value and where it came from, or why it failed (alone). */
export type KeyResult<T = unknown> = { value: T; source: ValueSource } | { error: string };

/** What a batch `get-value` job returns. */
export interface GetManyResult<T = unknown> {
  /** The keys asked for, in the job's order. */
  keys: string[];
  /** One entry per key (an own property, even for a key like "__proto__"). */
  results: Record<string, KeyResult<T>>;
  strategy: typeof BATCH_STRATEGY;
  workerId: string;
}

/** A job's parameters: a plain JSON object. */
export type JobParams = Record<string, unknown>;

/** The failures a job can ask its simulated computation for. */
export const SIMULATIONS = ['throw', 'hang'] as const;
export type Simulation = (typeof SIMULATIONS)[number];

/** What a `get-value` job returns. */
export interface GetValueResult<T = unknown> {
  key: string;
  value: T;
  source: ValueSource;
  strategy: Strategy;
  workerId: string;
}

/** Longest simulated computation a job may ask for. */
export const MAX_COMPUTE_MS = 600_000;

/** Largest `params` a job may carry, as JSON in UTF-8: the job data is in Redis, and in every event. */
export const MAX_PARAMS_BYTES = 16_384;

/**
 * The strategy a job is counted under, in its log lines, its events and the worker's metrics
 * alike: its data's strategy when that is one of STRATEGIES, else `invalid` (made up, or none).
 * One rule, so the log report and the metrics cannot split a made-up strategy differently.
 */
export const INVALID_STRATEGY = 'invalid';
export type StrategyLabel = Strategy | typeof INVALID_STRATEGY;

export function strategyLabel(strategy: unknown): StrategyLabel {
  return isStrategy(strategy) ? strategy : INVALID_STRATEGY;
}

/** Longest job-data string a job's lines carry (a key may be longer; the log needs no more). */
export const MAX_LABEL_LENGTH = 200;

/**
 * The correlation fields of a job's lines and events, read before its data is checked (any
 * producer sends it, and an invalid job is logged too): `runId` and `key` are the data's own when
 * they are non-empty strings (cut to MAX_LABEL_LENGTH), else the placeholders `none` (as for a
 * job sent without a runId) and `invalid`; `strategy` is strategyLabel's.
 */
export function jobLabels(data: unknown): { runId: string; key: string; strategy: StrategyLabel } {
  const raw = (typeof data === 'object' && data !== null ? data : {}) as Record<string, unknown>;
  const label = (value: unknown, placeholder: string) =>
    typeof value === 'string' && value.length > 0 ? value.slice(0, MAX_LABEL_LENGTH) : placeholder;
  return { runId: label(raw.runId, 'none'), key: label(raw.key, 'invalid'), strategy: strategyLabel(raw.strategy) };
}

// Newer fields last (`keys`, `tags`): the list in the unknown-field reason keeps its order.
const FIELDS = ['key', 'strategy', 'computeMs', 'runId', 'simulate', 'params', 'keys', 'tags'] as const;
const MAX_RUN_ID_LENGTH = 128;

/**
 * Check a job's data against the contract: one `key`, or a batch of `keys` (never both). Throws
 * InvalidJobDataError with a reason a producer can act on; the processor turns it into an
 * unrecoverable failure (no retries).
 */
export function parseJobData(data: unknown): JobData {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new InvalidJobDataError(`job data must be an object like {"key":"k","strategy":"redis-lock"}, got ${describe(data)}`);
  }
  const record = data as Record<string, unknown>;
  // Own keys only: "__proto__" from JSON is an own property, and is rejected as unknown here.
  const unknown = Object.keys(record).filter((field) => !(FIELDS as readonly string[]).includes(field));
  if (unknown.length > 0) {
    throw new InvalidJobDataError(`unknown field(s) ${unknown.map((f) => JSON.stringify(f)).join(', ')}; allowed: ${FIELDS.join(', ')}`);
  }

  const { key, keys, strategy, computeMs, runId, simulate, params, tags } = record;
  if (keys !== undefined && key !== undefined) {
    throw new InvalidJobDataError('a job has either "key" (one key) or "keys" (a batch), not both');
  }
  if (keys !== undefined) checkKeys(keys);
  else checkKey(key, '"key"');
  if (!isStrategy(strategy)) {
    throw new InvalidJobDataError(`"strategy" must be one of ${STRATEGIES.join(', ')}, got ${describe(strategy)}`);
  }
  if (keys !== undefined && strategy !== BATCH_STRATEGY) {
    throw new InvalidJobDataError(
      `a batch job ("keys") is computed under ${BATCH_STRATEGY} only: "strategy" must be "${BATCH_STRATEGY}", got ${describe(strategy)}`,
    );
  }
  if (computeMs !== undefined && (!Number.isInteger(computeMs) || (computeMs as number) < 0 || (computeMs as number) > MAX_COMPUTE_MS)) {
    throw new InvalidJobDataError(`"computeMs" must be a whole number from 0 to ${MAX_COMPUTE_MS}, got ${describe(computeMs)}`);
  }
  if (runId !== undefined && (typeof runId !== 'string' || runId.length === 0 || runId.length > MAX_RUN_ID_LENGTH)) {
    throw new InvalidJobDataError(`"runId" must be a string of 1 to ${MAX_RUN_ID_LENGTH} characters, got ${describe(runId)}`);
  }
  if (simulate !== undefined && !(SIMULATIONS as readonly unknown[]).includes(simulate)) {
    throw new InvalidJobDataError(`"simulate" must be one of ${SIMULATIONS.join(', ')}, got ${describe(simulate)}`);
  }
  if (params !== undefined) checkParams(params);
  if (tags !== undefined) checkTags(tags);
  return {
    ...(keys !== undefined ? { keys: [...(keys as string[])], strategy: BATCH_STRATEGY } : { key: key as string, strategy }),
    ...(computeMs !== undefined && { computeMs: computeMs as number }),
    ...(runId !== undefined && { runId: runId as string }),
    ...(simulate !== undefined && { simulate: simulate as Simulation }),
    ...(params !== undefined && { params: params as JobParams }),
    ...(tags !== undefined && { tags: [...(tags as string[])] }),
  } as JobData;
}

function checkKey(key: unknown, name: string): asserts key is string {
  if (typeof key !== 'string') throw new InvalidJobDataError(`${name} must be a string, got ${describe(key)}`);
  if (key.length === 0 || key.length > MAX_KEY_LENGTH) {
    throw new InvalidJobDataError(`${name} must be 1 to ${MAX_KEY_LENGTH} characters, got ${key.length}`);
  }
}

/** A batch's keys: a non-empty array of at most MAX_BATCH_KEYS valid keys, none twice (each key asked once, answered once). */
function checkKeys(keys: unknown): void {
  if (!Array.isArray(keys)) throw new InvalidJobDataError(`"keys" must be an array of keys like ["k1","k2"], got ${describe(keys)}`);
  if (keys.length === 0 || keys.length > MAX_BATCH_KEYS) {
    throw new InvalidJobDataError(`"keys" must hold 1 to ${MAX_BATCH_KEYS} keys, got ${keys.length}`);
  }
  const seen = new Set<string>();
  keys.forEach((key: unknown, i) => {
    checkKey(key, `"keys"[${i}]`);
    if (seen.has(key)) throw new InvalidJobDataError(`"keys" must not repeat a key, got ${describe(key)} twice`);
    seen.add(key);
  });
}

/**
 * A worker that runs a real computation refuses the simulated computation's fields: no producer
 * may set how long a real computation takes, or make it fail or hang on purpose.
 */
export function rejectSimulation(data: JobData): void {
  const fields = (['computeMs', 'simulate'] as const).filter((field) => data[field] !== undefined);
  if (fields.length === 0) return;
  throw new InvalidJobDataError(
    `${fields.map((f) => `"${f}"`).join(' and ')} ${fields.length > 1 ? 'are' : 'is'} only for the simulated computation, and this worker runs a real one`,
  );
}

/**
 * A job's tags, checked here as the guard would (src/cache/tags.ts), so that a bad one fails the
 * job as invalid data, at once and without retries, rather than as the guard's OptionsError.
 */
function checkTags(tags: unknown): void {
  if (!Array.isArray(tags)) throw new InvalidJobDataError(`"tags" must be an array of strings like ["user:42"], got ${describe(tags)}`);
  if (tags.length > MAX_TAGS) throw new InvalidJobDataError(`"tags" must hold at most ${MAX_TAGS} tags, got ${tags.length}`);
  tags.forEach((tag: unknown, i) => {
    if (typeof tag !== 'string' || tag.length === 0 || tag.length > MAX_TAG_LENGTH) {
      throw new InvalidJobDataError(`"tags"[${i}] must be a string of 1 to ${MAX_TAG_LENGTH} characters, got ${describe(tag)}`);
    }
  });
}

function checkParams(params: unknown): void {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    throw new InvalidJobDataError(`"params" must be an object like {"region":"eu"}, got ${describe(params)}`);
  }
  const { json, problem } = toJson(params);
  if (problem !== undefined) throw new InvalidJobDataError(`"params" does not survive JSON: ${problem}`);
  const bytes = Buffer.byteLength(json);
  if (bytes > MAX_PARAMS_BYTES) throw new InvalidJobDataError(`"params" must be at most ${MAX_PARAMS_BYTES} bytes as JSON, got ${bytes}`);
}

/** A short, safe description of a bad value for an error message (never the whole value). */
function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}
