import { MAX_COMPUTE_MS } from '../../src/bullmq/job-data.js';
import { ConfigError } from '../common/errors.js';
import type { ComputeTime } from './compute-time.js';

/**
 * The load lab's traffic, as the user describes it, and its one check: everything the traffic
 * model reads has passed through checkTraffic, which refuses a bad value with a one-line
 * ConfigError naming the parameter (the lab prints it without a stack).
 */

/** An event on the timeline, besides the start. Times in ms from the start of the run. */
export type TimelineEvent =
  /** The cache is emptied at `atMs` (a deploy, a flush, a failover to an empty replica). */
  | { readonly kind: 'flush'; readonly atMs: number }
  /**
   * `jobs` extra arrivals, all due at `atMs`, on top of the Poisson ones. `keys: 'zipf'` (the
   * default) draws their keys from the same popularity as the rest of the traffic: a flash crowd,
   * which hits the hottest key hardest (13% of it with K = 1000, s = 1) and refills much of the
   * tail at once. `keys: 'hottest'` puts them all on rank 1: the single-key herd of `npm run burst`.
   */
  | { readonly kind: 'burst'; readonly atMs: number; readonly jobs: number; readonly keys: BurstKeys }
  /**
   * The tag of one group of keys is invalidated at `atMs` (`invalidateTags`, as `npm run
   * invalidate` does): the group's values count as missing in the whole fleet from then on, the
   * others stay. Needs `tagGroups`; one per run, so that what follows it is its alone.
   */
  | { readonly kind: 'invalidate'; readonly atMs: number; readonly group: number };

export const BURST_KEYS = ['zipf', 'hottest'] as const;
export type BurstKeys = (typeof BURST_KEYS)[number];

/**
 * `cold`: the run starts on an empty cache (every process, every key): the first request of each
 * key misses, the herd a cold start sends. `warm`: the runner fills every key before the run and
 * does not count it, to show the steady state alone.
 */
export const STARTS = ['cold', 'warm'] as const;
export type Start = (typeof STARTS)[number];

/** The traffic, resolved and checked. */
export interface TrafficSpec {
  /** Seeds every random draw: the same seed, the same traffic. 0..2^32-1. */
  readonly seed: number;
  /** How many distinct keys. */
  readonly keys: number;
  /** Zipf exponent of their popularity (0: uniform). */
  readonly zipfS: number;
  /** Mean Poisson arrivals, jobs/s. */
  readonly rate: number;
  /** Arrivals are due in [0, durationMs). */
  readonly durationMs: number;
  readonly computeTime: ComputeTime;
  readonly start: Start;
  /** In time order (ties keep the order given). */
  readonly events: readonly TimelineEvent[];
  /** Keys are `<keyPrefix>-<rank>`, rank 1 the hottest. */
  readonly keyPrefix: string;
  /**
   * Every job carries its key's group tag (tag-groups.ts): the keys are dealt round-robin by rank
   * into this many groups, so each holds hot and cold keys alike. 0: jobs carry no tags.
   */
  readonly tagGroups: number;
}

/** What a user may give: any field may be left out, and a burst's `keys` too. */
export type TrafficOptions = {
  -readonly [K in keyof TrafficSpec]?: K extends 'events' ? readonly TimelineEventOption[] : TrafficSpec[K];
};
export type TimelineEventOption =
  | { readonly kind: 'flush'; readonly atMs: number }
  | { readonly kind: 'burst'; readonly atMs: number; readonly jobs: number; readonly keys?: BurstKeys }
  | { readonly kind: 'invalidate'; readonly atMs: number; readonly group?: number };

export const TRAFFIC_DEFAULTS: TrafficSpec = Object.freeze({
  seed: 1,
  keys: 1000,
  zipfS: 1,
  rate: 200,
  durationMs: 60_000,
  computeTime: Object.freeze({ kind: 'lognormal', medianMs: 100, sigma: 0.5 }),
  start: 'cold',
  events: Object.freeze([]),
  keyPrefix: 'key',
  tagGroups: 0,
});

export const MAX_KEYS = 1_000_000;
export const MAX_RATE = 1_000_000;
export const MAX_DURATION_MS = 86_400_000; // a day
export const MAX_BURST_JOBS = 1_000_000;
export const MAX_ZIPF_S = 10;
export const MAX_SIGMA = 5;
export const MAX_TAG_GROUPS = 1000;

/** What the parameters are called in errors, e.g. `{ rate: '--rate' }` for a command line; by default the field's name. */
export type TrafficNames = Partial<Record<keyof TrafficSpec, string>>;

export function checkTraffic(options: TrafficOptions, names: TrafficNames = {}): TrafficSpec {
  const name = (field: keyof TrafficSpec) => names[field] ?? field;
  for (const field of Object.keys(options)) {
    if (!(field in TRAFFIC_DEFAULTS)) throw new ConfigError(`unknown traffic parameter "${field}"`);
  }
  const pick = <K extends keyof TrafficSpec>(field: K) => (options[field] === undefined ? TRAFFIC_DEFAULTS[field] : options[field]);
  const durationMs = checkInteger(name('durationMs'), pick('durationMs'), 1, MAX_DURATION_MS);
  const keys = checkInteger(name('keys'), pick('keys'), 1, MAX_KEYS);
  // Each group holds one key at least: a group with none would be invalidated for nothing.
  const tagGroups = checkInteger(name('tagGroups'), pick('tagGroups'), 0, Math.min(MAX_TAG_GROUPS, keys));
  const spec: TrafficSpec = {
    seed: checkInteger(name('seed'), pick('seed'), 0, 0xffffffff),
    keys,
    zipfS: checkNumber(name('zipfS'), pick('zipfS'), 0, MAX_ZIPF_S),
    rate: checkPositive(name('rate'), pick('rate'), MAX_RATE),
    durationMs,
    computeTime: checkComputeTime(name('computeTime'), pick('computeTime')),
    start: checkWord(name('start'), pick('start'), STARTS),
    events: checkEvents(name('events'), pick('events'), durationMs, { tagGroups, name: name('tagGroups') }),
    keyPrefix: checkKeyPrefix(name('keyPrefix'), pick('keyPrefix')),
    tagGroups,
  };
  return Object.freeze(spec);
}

function checkNumber(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new ConfigError(`${name} must be a number, got ${describe(value)}`);
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (!Number.isInteger(value)) throw new ConfigError(`${name} must be a whole number, got ${describe(value)}`);
  return checkNumber(name, value, min, max);
}

function checkPositive(name: string, value: unknown, max: number): number {
  const n = checkNumber(name, value, 0, max);
  if (n === 0) throw new ConfigError(`${name} must be above 0, got 0`);
  return n;
}

function checkWord<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if ((allowed as readonly unknown[]).includes(value)) return value as T;
  throw new ConfigError(`${name} must be one of ${allowed.join(', ')}; got ${describe(value)}`);
}

function checkKeyPrefix(name: string, value: unknown): string {
  if (typeof value === 'string' && /^[A-Za-z0-9_.:-]{1,64}$/.test(value)) return value;
  throw new ConfigError(`${name} must be 1-64 letters, digits, '_', '.', ':' or '-'; got ${describe(value)}`);
}

function checkComputeTime(name: string, value: unknown): ComputeTime {
  const time = value as Partial<Record<string, unknown>> | null;
  if (typeof time !== 'object' || time === null)
    throw new ConfigError(`${name} must be { kind: 'fixed', ms } or { kind: 'lognormal', medianMs, sigma }`);
  if (time.kind === 'fixed') return Object.freeze({ kind: 'fixed', ms: checkInteger(`${name}.ms`, time.ms, 0, MAX_COMPUTE_MS) });
  if (time.kind === 'lognormal') {
    return Object.freeze({
      kind: 'lognormal',
      medianMs: checkPositive(`${name}.medianMs`, time.medianMs, MAX_COMPUTE_MS),
      sigma: checkNumber(`${name}.sigma`, time.sigma, 0, MAX_SIGMA),
    });
  }
  throw new ConfigError(`${name}.kind must be one of fixed, lognormal; got ${describe(time.kind)}`);
}

/** Each event due inside the run (an event at or after its end would never happen), sorted by time. */
function checkEvents(
  name: string,
  value: unknown,
  durationMs: number,
  groups: { tagGroups: number; name: string },
): readonly TimelineEvent[] {
  if (!Array.isArray(value)) throw new ConfigError(`${name} must be a list of events`);
  const events = value.map((raw: unknown, i): TimelineEvent => {
    const at = `${name}[${i}]`;
    const event = raw as Partial<Record<string, unknown>> | null;
    if (typeof event !== 'object' || event === null) throw new ConfigError(`${at} must be an event, e.g. { kind: 'flush', atMs: 30000 }`);
    const atMs = checkNumber(`${at}.atMs`, event.atMs, 0, durationMs);
    if (atMs === durationMs) throw new ConfigError(`${at}.atMs must be before the end of the run (${durationMs} ms), got ${atMs}`);
    if (event.kind === 'flush') return Object.freeze({ kind: 'flush', atMs });
    if (event.kind === 'burst') {
      return Object.freeze({
        kind: 'burst',
        atMs,
        jobs: checkInteger(`${at}.jobs`, event.jobs, 1, MAX_BURST_JOBS),
        keys: checkWord(`${at}.keys`, event.keys ?? 'zipf', BURST_KEYS),
      });
    }
    if (event.kind === 'invalidate') {
      if (groups.tagGroups === 0) throw new ConfigError(`${at} invalidates a group's tag: the keys need tags (${groups.name})`);
      return Object.freeze({ kind: 'invalidate', atMs, group: checkInteger(`${at}.group`, event.group ?? 1, 1, groups.tagGroups) });
    }
    throw new ConfigError(`${at}.kind must be one of flush, burst, invalidate; got ${describe(event.kind)}`);
  });
  if (events.filter((e) => e.kind === 'invalidate').length > 1)
    throw new ConfigError(`${name}: one invalidation per run (the table counts what follows it), got more`);
  // Array.prototype.sort is stable: events at the same time keep the order the user gave.
  return Object.freeze(events.sort((a, b) => a.atMs - b.atMs));
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `"${value}"`;
  return typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
}
