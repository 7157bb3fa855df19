/**
 * The measured side of the load lab's XFetch β sweep (issue 25, "XFetch against its paper"): for
 * each β, one key read by seeded open-loop Poisson arrivals at λ through real guards (strategy
 * `xfetch`, `xfetchBeta: β`, `valueTtlMs: T`, `ttlJitter: 0`) on a real Redis, the computation a
 * fixed sleep of δ, until `expiries` values have reached their end; beside each β, the figures of
 * scripts/load/xfetch-model.ts.
 *
 * In-process, on purpose: the rule (src/cache/strategies/xfetch.ts) is decided by each read from
 * the envelope it read and its own clock, and the early refresh is claimed in Redis (a zero-wait
 * lock gated on the value read), so nothing of it depends on the process boundary; worker
 * processes and BullMQ would only add latency and noise to the times measured. A small fleet of
 * guards (default 4) in this process, the reads dealt round-robin, rather than one: a guard shares
 * one in-flight read per key among its concurrent callers, and a read that joins another's flight
 * does not ask the rule, which would thin the reads below λ (the model's assumption) whenever reads
 * overlap; `coalesced` counts those that still did.
 *
 * One expiry is one value's life, from its write to its successor's computation, and the guard's
 * events tell how it ended (subscribeEvents; the calls carry a context of their own):
 * - `refresh.start` with `reason: 'early'`: the rule fired while the value was fresh; its
 *   `remainingMs` (freshUntil - now when the read decided) is the earliness measured;
 * - `refresh.start` with `reason: 'stale'`: a **missed expiry**. No read fired the rule before
 *   freshUntil, a read found the value stale (within its grace), served it and took the lock to
 *   recompute. Counted on the refresh, not on `stale.served`, because the lock makes it one per
 *   value, where stale reads are as many as happen to come;
 * - `refresh.start` with `reason: 'early'` but no fresh time left (`remainingMs <= 0`): the read
 *   found the value fresh in Redis but decided after its expiry (its answer came back late, and
 *   past freshUntil the rule always fires): a miss too, as the model counts X <= 0;
 * - a `recompute.start` whose fence no `refresh.start` announced (a refresh announces its fence
 *   before it computes): a read found no value at all and filled it, also a miss (past the grace,
 *   so not expected here).
 * The cold start's fill, and the end of the first value it wrote (whose reads warm the process
 * up), are not counted.
 * An early refresh decided with less than its own duration left lands after the expiry (readers
 * are served the stale value meanwhile, without a second refresh): still early by the rule, as the
 * model counts it, and reported apart as `lateLandings` beside the model's P(X < δ).
 *
 * The rule uses the δ the envelope carries (the measured duration of the computation, a little
 * over the sleep), so the model column is computed at the mean measured δ; at the nominal δ too
 * in the JSON.
 */
import { InvalidArgumentError } from 'commander';
import { createGuard, type StampedeGuard } from '../../src/cache/guard.js';
import { subscribeEvents, type GuardEvent } from '../../src/events.js';
import type { SupportedRedisClient } from '../../src/redis/client.js';
import { loadConfig } from '../common/config.js';
import { assertRedisReachable, createRedisClient, describeRedisUrl } from '../redis/connection.js';
import { startEmbeddedRedis } from '../redis/redis-server.js';
import { ascending, percentileOfSorted } from '../report/percentile.js';
import { poissonArrivals } from './arrivals.js';
import { formatXfetchSweep } from './format-xfetch-sweep.js';
import { mulberry32, streamSeed } from './random.js';
import { type XfetchEarliness, xfetchEarlinessCdf, xfetchEarlinessModel } from './xfetch-model.js';

export interface XfetchSweepOptions {
  /** The cache's Redis; the caller closes it. */
  redis: SupportedRedisClient;
  betas: readonly number[];
  /** λ: reads of the key per second. */
  ratePerSecond: number;
  /** δ: each computation sleeps this long, ms. */
  computeMs: number;
  /** T: the value's fresh time, ms. */
  freshMs: number;
  /** Values per β to follow to their end (early refresh or miss). */
  expiries: number;
  /** Seed of the arrivals and of the guards' random numbers: the same for every β. @default 1 */
  seed?: number;
  /** Guards in this process sharing the reads round-robin. @default 4 */
  guards?: number;
  /** Keys live under this prefix (one per β). @default unique to the run */
  keyPrefix?: string;
  /** Give up on a β after this long (a stuck Redis), ms. @default 4 x the expected time + 10 s */
  timeoutMs?: number;
  /** After each counted expiry. */
  onProgress?: (beta: number, counted: number, expiries: number) => void;
}

export interface EarlinessStats {
  mean: number;
  sd: number;
  p10: number;
  p50: number;
  p90: number;
}

export interface XfetchSweepRow {
  beta: number;
  /** Expiries followed (fewer than asked only when the β timed out). */
  expiries: number;
  early: number;
  misses: number;
  /** Of the misses, those where the value was gone (filled, not refreshed). */
  fills: number;
  /**
   * Of the misses, "early" refreshes decided with no fresh time left (remainingMs <= 0): the read
   * found the value fresh in Redis, but its answer came back after the expiry (a late event loop),
   * and past freshUntil the rule always fires. The model counts X <= 0 as a miss; so does this.
   */
  decidedAfterExpiry: number;
  missRate: number;
  /** Earliness of the early refreshes, ms before expiry (null when there was none). */
  measured: EarlinessStats | null;
  /** Early refreshes decided with less time left than the refresh took: they landed after the expiry. */
  lateLandings: number;
  /** The mean measured computation time, the δ the envelopes carried, ms. */
  computeMs: number;
  /** The model at the measured δ, and its P(X < δ) (the share expected to land late). */
  model: XfetchEarliness & { lateShare: number };
  /** The model at the nominal δ. */
  modelNominal: XfetchEarliness;
  reads: number;
  /** Reads that joined another read's flight in their guard (they did not ask the rule). */
  coalesced: number;
  readErrors: number;
  /** How late the generator issued reads behind their schedule, ms. */
  lagMs: { p99: number; max: number };
  timedOut: boolean;
  /** Every early refresh's remainingMs, in the order they came. */
  earlinessMs: number[];
}

export interface XfetchSweepResult {
  ratePerSecond: number;
  computeMs: number;
  freshMs: number;
  expiries: number;
  seed: number;
  guards: number;
  rows: XfetchSweepRow[];
}

/** Run the sweep, one β after another, each on a key of its own from a cold start. */
export async function runXfetchSweep(options: XfetchSweepOptions): Promise<XfetchSweepResult> {
  const { betas, ratePerSecond, computeMs, freshMs, expiries } = options;
  const seed = options.seed ?? 1;
  const guards = options.guards ?? 4;
  if (betas.length === 0) throw new RangeError('betas: at least one β');
  if (!(Number.isInteger(expiries) && expiries >= 1)) throw new RangeError(`expiries must be a whole number >= 1, got ${expiries}`);
  if (!(Number.isInteger(guards) && guards >= 1)) throw new RangeError(`guards must be a whole number >= 1, got ${guards}`);
  const prefix = options.keyPrefix ?? `xfetch-sweep-${process.pid}-${Date.now().toString(36)}`;
  const rows: XfetchSweepRow[] = [];
  for (const [index, beta] of betas.entries()) {
    rows.push(await sweepOne({ ...options, seed, guards, keyPrefix: `${prefix}-${index}` }, beta));
  }
  return { ratePerSecond, computeMs, freshMs, expiries, seed, guards, rows };
}

type Resolved = XfetchSweepOptions & Required<Pick<XfetchSweepOptions, 'seed' | 'guards' | 'keyPrefix'>>;

const KEY = 'xfetch-sweep';

async function sweepOne(options: Resolved, beta: number): Promise<XfetchSweepRow> {
  const { redis, ratePerSecond, computeMs, freshMs, expiries, seed } = options;
  const fleet: StampedeGuard[] = Array.from({ length: options.guards }, (_, i) =>
    createGuard({
      redis,
      keyPrefix: options.keyPrefix,
      strategy: 'xfetch',
      xfetchBeta: beta,
      valueTtlMs: freshMs,
      ttlJitter: 0,
      random: mulberry32(streamSeed(seed, 1 + i)),
    }),
  );
  // Events of this β's calls only: the context object is this sweep's, compared by identity.
  const context = Object.freeze({ xfetchSweep: beta });
  const compute = async (): Promise<number> => {
    await sleep(computeMs);
    return Date.now();
  };

  let measuring = false;
  let done = false;
  const reasonOf = new Map<number, 'early' | 'stale'>();
  const earlyFences = new Map<number, number>(); // fence -> remainingMs
  const refreshMs = new Map<number, number>(); // fence -> the early refresh's duration
  const durations: number[] = [];
  let misses = 0;
  let fills = 0;
  let decidedAfterExpiry = 0;
  let counted = 0;
  let coalesced = 0;
  // The first value's end is not counted: its reads warm the process up (compiling the guard's
  // paths makes the first reads late).
  let warm = false;
  const warmingUp = () => {
    if (warm) return false;
    warm = true;
    return true;
  };
  const count = () => {
    counted += 1;
    if (counted >= expiries) done = true;
    options.onProgress?.(beta, counted, expiries);
  };
  const onEvent = (event: GuardEvent) => {
    if (event.context !== context || !measuring) return;
    switch (event.event) {
      case 'refresh.start': {
        const { reason, fence, remainingMs } = event.fields;
        reasonOf.set(fence, reason);
        if (done || warmingUp()) return;
        if (reason === 'early' && remainingMs !== undefined && remainingMs > 0) earlyFences.set(fence, remainingMs);
        else {
          misses += 1;
          if (reason === 'early') decidedAfterExpiry += 1;
        }
        count();
        return;
      }
      case 'recompute.start':
        if (reasonOf.has(event.fields.fence) || done || warmingUp()) return;
        misses += 1; // a fill: the value was gone
        fills += 1;
        count();
        return;
      case 'recompute.end':
        durations.push(event.fields.durationMs);
        return;
      case 'refresh.end':
        if (event.fields.reason === 'early') refreshMs.set(event.fields.fence, event.fields.durationMs);
        return;
      case 'flight.joined':
        coalesced += 1;
        return;
    }
  };
  const unsubscribe = subscribeEvents(onEvent);

  let reads = 0;
  let readErrors = 0;
  const lags: number[] = [];
  let timedOut = false;
  try {
    // Cold start: the first value, written before anything is counted.
    await fleet[0]!.getOrCompute(KEY, compute, { context });
    measuring = true;
    const timeoutMs = options.timeoutMs ?? 4 * expiries * (freshMs + computeMs + 2000 / ratePerSecond) + 10_000;
    const pending = new Set<Promise<unknown>>();
    const arrivals = poissonArrivals(ratePerSecond, Number.POSITIVE_INFINITY, mulberry32(streamSeed(seed, 0)));
    const start = performance.now();
    for (const at of arrivals) {
      const wait = start + at - performance.now();
      if (wait > 0) await sleep(wait);
      if (done) break;
      if (at > timeoutMs) {
        timedOut = true;
        break;
      }
      lags.push(Math.max(0, performance.now() - (start + at)));
      const guard = fleet[reads % fleet.length]!;
      reads += 1;
      const read: Promise<unknown> = guard
        .getOrCompute(KEY, compute, { context })
        .catch(() => {
          readErrors += 1;
        })
        .finally(() => pending.delete(read));
      pending.add(read);
    }
    await Promise.all(pending);
  } finally {
    // close() waits for the refreshes in flight: the last one counted writes its value.
    await Promise.all(fleet.map((g) => g.close()));
    unsubscribe();
  }

  const earlinessMs = [...earlyFences.values()];
  let lateLandings = 0;
  for (const [fence, remaining] of earlyFences) if ((refreshMs.get(fence) ?? 0) > remaining) lateLandings += 1;
  const measuredDelta = durations.length > 0 ? mean(durations) : computeMs;
  const key = { ratePerSecond, beta, freshMs };
  lags.sort(ascending);
  return {
    beta,
    expiries: counted,
    early: earlinessMs.length,
    misses,
    fills,
    decidedAfterExpiry,
    missRate: counted === 0 ? 0 : misses / counted,
    measured: stats(earlinessMs),
    lateLandings,
    computeMs: round1(measuredDelta),
    model: {
      ...xfetchEarlinessModel({ ...key, computeMs: measuredDelta }),
      lateShare: xfetchEarlinessCdf({ ...key, computeMs: measuredDelta }, measuredDelta),
    },
    modelNominal: xfetchEarlinessModel({ ...key, computeMs }),
    reads,
    coalesced,
    readErrors,
    lagMs: { p99: round1(percentileOfSorted(lags, 99) ?? 0), max: round1(lags.at(-1) ?? 0) },
    timedOut,
    earlinessMs,
  };
}

/** Mean, sample standard deviation and nearest-rank percentiles (observed values, as the lab's other percentiles). */
export function stats(values: readonly number[]): EarlinessStats | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort(ascending);
  const m = mean(sorted);
  const variance = sorted.length > 1 ? sorted.reduce((s, v) => s + (v - m) ** 2, 0) / (sorted.length - 1) : 0;
  return {
    mean: m,
    sd: Math.sqrt(variance),
    p10: percentileOfSorted(sorted, 10)!,
    p50: percentileOfSorted(sorted, 50)!,
    p90: percentileOfSorted(sorted, 90)!,
  };
}

/** `--xfetch-beta 0.5,1,2,4`: β values within the guard's bounds (0.01 to 100). */
export function parseBetas(raw: string): number[] {
  const list = raw.split(',').map((s) => s.trim());
  const betas = list.map(Number);
  if (list.length === 0 || list.some((s, i) => s === '' || !(betas[i]! >= 0.01 && betas[i]! <= 100))) {
    throw new InvalidArgumentError(`expected a comma-separated list of numbers from 0.01 to 100 (e.g. 0.5,1,2,4), got "${raw}"`);
  }
  return betas;
}

function mean(values: readonly number[]): number {
  return values.reduce((s, v) => s + v, 0) / values.length;
}

function round1(v: number): number {
  return Math.round(v * 10) / 10;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The flags of `npm run load` the sweep reads (scripts/load.ts). */
export interface XfetchSweepFlags {
  xfetchBeta: number[];
  rate: number;
  computeMs?: number;
  computeMedianMs: number;
  valueTtlMs: number;
  duration: number;
  seed: number;
  json?: boolean;
}

/** The fewest expiries per β the command follows, whatever --duration says. */
export const MIN_SWEEP_EXPIRIES = 10;

/**
 * `npm run load -- --xfetch-beta <list>`: λ from --rate, δ from --compute-ms (else
 * --compute-median-ms, as a fixed time), T from --value-ttl-ms, the seed from --seed, and
 * --duration / T expiries per β (at least 10). Uses CACHE_REDIS_URL or REDIS_URL when set, else
 * a private redis-server for the run. Prints the table (or --json); returns the exit code.
 */
export async function runXfetchSweepCommand(flags: XfetchSweepFlags, say: (line: string) => void): Promise<number> {
  const config = loadConfig();
  let url = config.cacheRedisUrl;
  let server: { stop(): Promise<void> } | undefined;
  if (config.redisUrlGiven) {
    for (const warning of await assertRedisReachable(url, config.tls)) say(`warning: ${warning}`);
  } else {
    const embedded = await startEmbeddedRedis({ log: say });
    server = embedded;
    url = embedded.url;
    say(`REDIS_URL not set: a private redis-server for this run on ${describeRedisUrl(url)}`);
  }
  const redis = createRedisClient(url, 'cache', config.tls);
  const computeMs = flags.computeMs ?? flags.computeMedianMs;
  const expiries = Math.max(MIN_SWEEP_EXPIRIES, Math.round((flags.duration * 1000) / flags.valueTtlMs));
  say(
    `XFetch sweep: β ${flags.xfetchBeta.join(', ')}; ${flags.rate} reads/s of one key, δ ${computeMs} ms, T ${flags.valueTtlMs} ms, ${expiries} expiries per β`,
  );
  try {
    let lastProgress = 0;
    const result = await runXfetchSweep({
      redis,
      betas: flags.xfetchBeta,
      ratePerSecond: flags.rate,
      computeMs,
      freshMs: flags.valueTtlMs,
      expiries,
      seed: flags.seed,
      onProgress: (beta, counted, total) => {
        const now = Date.now();
        if (now - lastProgress < 1000 && counted < total) return;
        lastProgress = now;
        say(`β ${beta}: ${counted}/${total} expiries`);
      },
    });
    if (flags.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else process.stdout.write(`\n${formatXfetchSweep(result)}\n`);
    const bad = result.rows.filter((r) => r.timedOut || r.readErrors > 0);
    for (const r of bad) say(`warning: β ${r.beta}: ${r.timedOut ? 'timed out' : `${r.readErrors} reads failed`}`);
    return bad.length > 0 ? 1 : 0;
  } finally {
    await redis.quit().catch(() => redis.disconnect());
    await server?.stop();
  }
}
