/**
 * What one bench run measures, resolved once from the command line. Figures move from run
 * to run on a shared machine, so every system of a scenario runs in the same run, in
 * interleaved rounds (round r starts with a different system), and the table shows ratios.
 */
export const SCENARIOS = ['cold', 'critical', 'l1', 'locks', 'hits', 'memory', 'batch', 'clients', 'tags', 'soak'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];
/** What a run without --scenarios measures: the soak is long, and runs only on request. */
export const DEFAULT_SCENARIOS: readonly ScenarioName[] = ['cold', 'critical', 'l1', 'locks', 'hits', 'memory', 'batch', 'clients', 'tags'];

export interface BenchOptions {
  scenarios: readonly ScenarioName[];
  /** Rounds of the cold burst; latencies pooled over rounds. @default 3, 1 with --quick */
  rounds: number;
  /** Cold burst: processes. @default 4 */
  processes: number;
  /** Cold burst: concurrent requests per process. @default 50 */
  concurrency: number;
  /** Cold burst: the computation's duration, ms. @default 200 */
  computeMs: number;
  /** Cold burst: how often the lock-library adapters' waiters re-read the cache, ms. @default 10 */
  pollMs: number;
  /** Locks: how long each system runs per case, in slices taken in turns, ms. @default 4000, 600 with --quick */
  lockRunMs: number;
  /** Locks: operations in flight, and contenders on one key. @default 50 */
  lockParallelism: number;
  /** Hits: jobs per system, in slices of 1000 taken in turns. @default 10000, 2000 with --quick */
  hitJobs: number;
  /** Hits and memory: BullMQ worker concurrency. @default 50 */
  workerConcurrency: number;
  /** L1: sets and deletes timed on their way to another process's tier. @default 40, 10 with --quick */
  l1Changes: number;
  /** Batch: rounds of 50 cold keys per system, keys new each round. @default 30, 5 with --quick */
  batchRounds: number;
  /** Tags: values carrying the tag that is invalidated (and that SCAN + DEL deletes). @default 100000, 20000 with --quick */
  tagsValues: number;
  /** Tags: cache hits timed per kind of value (untagged, tagged, a namespace's). @default 5000, 1000 with --quick */
  tagsReads: number;
  /** Soak: recomputations in one process. @default 20000 */
  soakRecomputations: number;
  /** Soak: size of each value, bytes. @default 50000 */
  soakValueBytes: number;
  quick: boolean;
}

export const DEFAULTS: Omit<BenchOptions, 'scenarios' | 'quick'> = {
  rounds: 3,
  processes: 4,
  concurrency: 50,
  computeMs: 200,
  pollMs: 10,
  lockRunMs: 4000,
  lockParallelism: 50,
  hitJobs: 10_000,
  workerConcurrency: 50,
  l1Changes: 40,
  batchRounds: 30,
  tagsValues: 100_000,
  tagsReads: 5000,
  soakRecomputations: 20_000,
  soakValueBytes: 50_000,
};

/** --quick: the same scenarios, fewer rounds and shorter runs (under a minute in all). */
export const QUICK: Partial<BenchOptions> = {
  rounds: 1,
  lockRunMs: 600,
  hitJobs: 2000,
  l1Changes: 10,
  batchRounds: 5,
  tagsValues: 20_000,
  tagsReads: 1000,
};

export function resolveOptions(given: Partial<BenchOptions> & { quick?: boolean }): BenchOptions {
  const quick = given.quick ?? false;
  const defined = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as Partial<BenchOptions>;
  return {
    ...DEFAULTS,
    ...(quick ? QUICK : {}),
    ...defined,
    scenarios: given.scenarios ?? DEFAULT_SCENARIOS,
    quick,
  };
}

/** Systems in round `round`'s order: a rotation, so no system always runs first (or last). */
export function rotate<T>(items: readonly T[], round: number): T[] {
  const k = items.length === 0 ? 0 : round % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}
