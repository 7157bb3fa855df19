import { poissonArrivals } from './arrivals.js';
import { computeTimeSampler } from './compute-time.js';
import { mulberry32, streamSeed } from './random.js';
import type { BurstKeys, TrafficSpec } from './traffic-options.js';
import { zipf } from './zipf.js';
import { groupTag, tagsOfRank } from './tag-groups.js';

/**
 * The load lab's traffic model: one checked TrafficSpec (see traffic-options.ts) becomes a lazy,
 * time-ordered stream of what a runner must do and when: start, flush the cache, enqueue a job.
 * It is seeded and never looks at answers, so every strategy meets exactly the same traffic, and
 * it holds one arrival at a time, so `--duration 300` at thousands of jobs/s runs in flat memory.
 */

/** One get-value job, due `at` ms after the start. */
export interface TrafficJob {
  readonly at: number;
  readonly kind: 'job';
  /** 0, 1, 2... in the order of the stream: a unique id within the run. */
  readonly seq: number;
  /** `<keyPrefix>-<rank>`. */
  readonly key: string;
  /** The key's popularity rank, 1 = the hottest. */
  readonly rank: number;
  /** The computation time the job asks for, whole ms. */
  readonly computeMs: number;
  /** Whether the job belongs to a burst rather than to the Poisson arrivals. */
  readonly burst: boolean;
  /** Its key's group tag, when the traffic has tag groups (tag-groups.ts). */
  readonly tags?: readonly string[];
}

/** A marker for the runner (and the picture): what happens at `at`, before the jobs due then. */
export type TrafficEvent =
  /** Always first, at 0: `cold` (the cache is empty) or `warm` (fill every key before starting). */
  | { readonly at: 0; readonly kind: 'start'; readonly cache: 'cold' | 'warm' }
  /** Empty the cache now. */
  | { readonly at: number; readonly kind: 'flush' }
  /** `jobs` burst jobs follow, all due at `at`. */
  | { readonly at: number; readonly kind: 'burst'; readonly jobs: number; readonly keys: BurstKeys }
  /** Invalidate the tag of this group of keys now. */
  | { readonly at: number; readonly kind: 'invalidate'; readonly group: number; readonly tag: string };

export type TrafficItem = TrafficJob | TrafficEvent;

/** The key of a popularity rank. */
export function keyName(spec: Pick<TrafficSpec, 'keyPrefix'>, rank: number): string {
  return `${spec.keyPrefix}-${rank}`;
}

/** How many jobs the stream holds on average (the Poisson count varies around rate * duration): for progress bars. */
export function expectedJobs(spec: TrafficSpec): number {
  const bursts = spec.events.reduce((sum, e) => sum + (e.kind === 'burst' ? e.jobs : 0), 0);
  return Math.round((spec.rate * spec.durationMs) / 1000) + bursts;
}

/** Independent random streams (see streamSeed): changing one part of the traffic leaves the others as they were. */
const STREAM = { gaps: 0, keys: 1, computeMs: 2, burstKeys: 3, burstComputeMs: 4 } as const;

/**
 * The traffic in time order. At equal times, events come before jobs (a flush at t empties the
 * cache before the arrivals due at t), and a burst's jobs come right after its marker.
 * Each call starts the same stream afresh.
 */
export function* traffic(spec: TrafficSpec): Generator<TrafficItem, void, undefined> {
  const random = (stream: number) => mulberry32(streamSeed(spec.seed, stream));
  const popularity = zipf(spec.keys, spec.zipfS);
  const keys = random(STREAM.keys);
  const computeMs = computeTimeSampler(spec.computeTime, random(STREAM.computeMs));
  const burstKeys = random(STREAM.burstKeys);
  const burstComputeMs = computeTimeSampler(spec.computeTime, random(STREAM.burstComputeMs));
  let seq = 0;
  const job = (at: number, rank: number, ms: number, burst: boolean): TrafficJob => {
    const tags = tagsOfRank(spec, rank);
    return { at, kind: 'job', seq: seq++, key: keyName(spec, rank), rank, computeMs: ms, burst, ...(tags && { tags }) };
  };

  yield { at: 0, kind: 'start', cache: spec.start };
  let next = 0; // the next timeline event
  for (const at of poissonArrivals(spec.rate, spec.durationMs, random(STREAM.gaps))) {
    for (; next < spec.events.length && spec.events[next]!.atMs <= at; next++) yield* timelineEvent(next);
    yield job(at, popularity.rank(keys()), computeMs(), false);
  }
  for (; next < spec.events.length; next++) yield* timelineEvent(next);

  function* timelineEvent(index: number): Generator<TrafficItem, void, undefined> {
    const event = spec.events[index]!;
    if (event.kind === 'flush') {
      yield { at: event.atMs, kind: 'flush' };
      return;
    }
    if (event.kind === 'invalidate') {
      yield { at: event.atMs, kind: 'invalidate', group: event.group, tag: groupTag(event.group) };
      return;
    }
    yield { at: event.atMs, kind: 'burst', jobs: event.jobs, keys: event.keys };
    for (let i = 0; i < event.jobs; i++) {
      const rank = event.keys === 'hottest' ? 1 : popularity.rank(burstKeys());
      yield job(event.atMs, rank, burstComputeMs(), true);
    }
  }
}
