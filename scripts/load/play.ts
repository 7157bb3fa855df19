import type { GetValueClient } from '../../src/bullmq/client.js';
import type { Strategy } from '../../src/cache/strategy.js';
import { errorMessage } from '../../src/errors.js';
import type { TrafficSpec } from './traffic-options.js';
import { traffic } from './traffic.js';

/** One job's outcome, timed from its scheduled arrival (not from when it was sent). */
export interface JobOutcome {
  /** Scheduled arrival, ms from the start. */
  at: number;
  latencyMs: number;
  /** Where the value came from; absent when the job failed. */
  source?: string;
  error?: string;
}

export interface Played {
  outcomes: JobOutcome[];
  /** The timeline's events as they were acted on, ms from the start (an invalidation names its tag). */
  events: PlayedEvent[];
  /** How late the generator sent its latest job against the schedule: its own limit. */
  maxLagMs: number;
  lagP99Ms: number;
  elapsedMs: number;
  /** When the traffic started, epoch ms (to place log lines on its time axis). */
  startedAtMs: number;
}

export type PlayedEvent = { at: number; kind: 'flush' | 'burst' } | { at: number; kind: 'invalidate'; tag: string };

export interface PlayOptions {
  client: GetValueClient;
  spec: TrafficSpec;
  strategy: Strategy;
  runId: string;
  /** Empty the cache (a `flush` of the timeline). */
  flush: () => Promise<unknown>;
  /** Invalidate these tags for the fleet (an `invalidate` of the timeline). */
  invalidate?: (tags: string[]) => Promise<unknown>;
  /** How long one job may take before it counts as failed, ms. */
  jobTimeoutMs: number;
  onProgress?: (sent: number, done: number) => void;
}

/**
 * Play the traffic open-loop: every job is sent at its scheduled time whatever the fleet does
 * with the earlier ones, and its latency counts from that time, so a slow fleet cannot hide its
 * slowness by slowing the arrivals (no coordinated omission). Jobs due together are sent in one
 * turn of the loop; the loop sleeps only until the next one is due. A flush empties the cache at
 * its time, an invalidation invalidates its tag; the jobs of a burst follow it in the stream.
 */
export async function play(options: PlayOptions): Promise<Played> {
  const { client, spec, strategy, runId } = options;
  const outcomes: JobOutcome[] = [];
  const events: Played['events'] = [];
  const inFlight = new Set<Promise<void>>();
  const lags: number[] = [];
  let maxLagMs = 0;
  let sent = 0;
  let done = 0;
  const started = performance.now();
  const startedAtMs = Date.now();

  for (const item of traffic(spec)) {
    const due = started + item.at;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    if (item.kind === 'start') continue;
    if (item.kind === 'flush' || item.kind === 'burst') {
      events.push({ at: item.at, kind: item.kind });
      if (item.kind === 'flush')
        track(
          inFlight,
          options.flush().then(() => {}),
        );
      continue;
    }
    if (item.kind === 'invalidate') {
      events.push({ at: item.at, kind: 'invalidate', tag: item.tag });
      if (!options.invalidate) throw new Error('the traffic invalidates a tag: play needs an invalidate');
      track(
        inFlight,
        options.invalidate([item.tag]).then(() => {}),
      );
      continue;
    }
    const lag = Math.max(0, performance.now() - due);
    maxLagMs = Math.max(maxLagMs, lag);
    if (sent % 10 === 0) lags.push(lag);
    sent += 1;
    const outcome: JobOutcome = { at: item.at, latencyMs: 0 };
    outcomes.push(outcome);
    const job = client
      .request(
        { key: item.key, strategy, runId, params: { ms: item.computeMs }, ...(item.tags && { tags: [...item.tags] }) },
        { timeoutMs: options.jobTimeoutMs },
      )
      .then(
        (result) => {
          outcome.source = result.source;
        },
        (err: unknown) => {
          outcome.error = errorMessage(err);
        },
      )
      .finally(() => {
        outcome.latencyMs = performance.now() - due;
        done += 1;
        options.onProgress?.(sent, done);
      });
    track(inFlight, job);
  }
  await Promise.all(inFlight);
  lags.sort((a, b) => a - b);
  return {
    outcomes,
    events,
    maxLagMs,
    lagP99Ms: lags[Math.min(lags.length - 1, Math.floor(lags.length * 0.99))] ?? 0,
    elapsedMs: performance.now() - started,
    startedAtMs,
  };
}

/** Keep `work` in `set` until it settles: the set holds only what is still running. */
function track(set: Set<Promise<void>>, work: Promise<void>): void {
  const held = work.catch(() => {}).finally(() => set.delete(held));
  set.add(held);
}
