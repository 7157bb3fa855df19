import { createHash, randomUUID } from 'node:crypto';
import { CLAIM_LUA, claimArgs, claimKeys } from '../../../src/cache/claim.js';
import { cacheKeys } from '../../../src/keys.js';
import { ascending, percentileOfSorted } from '../../report/percentile.js';
import type { CommandMeter } from '../command-stats.js';
import { rotate } from '../options.js';
import { median, type Rows } from '../rows.js';
import { BASELINE_CLIENT, type ClientId } from './clients.js';
import { type Fleet, LOCK_TTL_MS } from './fleet.js';

/**
 * Part 1 of the clients scenario: a cache hit of a warm key with each client, and the same hit's
 * Redis work sent straight through the client. The guard's hit is one EVALSHA of its claim script
 * (src/cache/claim.ts); "direct" is that EVALSHA, same script, keys and arguments, by the
 * client's own method, the script loaded once. guard / direct is then what the seam and the
 * guard's own code (the token, the reply's decoding, the result) cost per hit, per client.
 *
 * Each (client, path, callers) runs HIT_SLICES slices, taken in turns with a different one first
 * each cycle, so the machine's drift falls on all alike; ratios are per cycle, then the median.
 */
export const CLIENTS = 'clients';
export const HIT_SLICES = 10;
/**
 * The warm keys: caller i reads `warm-<i>`. One key per caller, because concurrent calls of one
 * key in one guard join its in-process flight (one EVALSHA answers many calls): that would time
 * the coalescing, not the seam. With a key each, every call is one EVALSHA, as a direct call is.
 */
export const hitKey = (caller: number) => `warm-${caller}`;
/** Unmeasured calls of each path first: scripts loaded, connections and JIT warm. */
const WARMUP_HITS = 300;

export type HitPath = 'guard' | 'direct';
export type HitMode = 'serial' | 'concurrent';

interface Slice {
  ms: number;
  latenciesUs: number[];
  wrong: number;
  errors: number;
  serverCommands: number;
}

export interface HitUnit {
  client: ClientId;
  path: HitPath;
  mode: HitMode;
  callers: number;
  /** One hit by caller `caller` (of its own key): true when it answered the warm value. */
  run: (caller: number) => Promise<boolean>;
}

/** The metric name of one (path, mode) figure: `guard.serial.p50`, `direct.concurrent.mean`... */
export const hitMetric = (path: HitPath, mode: HitMode, what: string) => `${path}.${mode}.${what}`;

/**
 * A fleet's hit paths, warmed up: the claim script loaded through the client (its sha checked
 * against the guard's), the warm key set, and WARMUP_HITS calls of each path that must all hit.
 * Throws when the client cannot do either: the caller leaves that client out of the run.
 */
export async function prepareHits(fleet: Fleet, concurrency: number): Promise<HitUnit[]> {
  const sha = createHash('sha1').update(CLAIM_LUA).digest('hex');
  const { client, guard } = fleet.members[0]!;
  const callerKeys = Array.from({ length: concurrency }, (_, i) => claimKeys(cacheKeys(fleet.prefix, hitKey(i))));
  const loaded = await client.scriptLoad(CLAIM_LUA);
  if (loaded !== sha) throw new Error(`SCRIPT LOAD answered ${loaded}, expected the guard's ${sha}`);
  const viaGuard = async (caller: number) => {
    const read = await guard.getOrCompute(hitKey(caller), async () => 'computed', { strategy: 'redis-lock' });
    return read.source === 'cache' && read.value === 'warm';
  };
  // The arguments the guard sends for this hit (a fresh token, the clock), as strings.
  const direct = async (caller: number) => {
    const reply = (await client.evalsha(sha, callerKeys[caller]!, claimArgs(randomUUID(), LOCK_TTL_MS, {}).map(String))) as unknown[];
    return reply[0] === 'value';
  };
  for (let i = 0; i < concurrency; i++) await guard.set(hitKey(i), 'warm');
  for (let i = 0; i < WARMUP_HITS; i++) {
    const caller = i % concurrency;
    if (!(await viaGuard(caller))) throw new Error(`a warm-up read of ${hitKey(caller)} through the guard was not a hit`);
    if (!(await direct(caller))) throw new Error(`the direct EVALSHA of ${hitKey(caller)} did not answer the warm value`);
  }
  return (['serial', 'concurrent'] as const).flatMap((mode) => {
    const callers = mode === 'serial' ? 1 : concurrency;
    return [
      { client: fleet.kind.id, path: 'guard' as const, mode, callers, run: viaGuard },
      { client: fleet.kind.id, path: 'direct' as const, mode, callers, run: direct },
    ];
  });
}

/** Every unit's slices in turns, then its rows. */
export async function measureHits(
  units: HitUnit[],
  meter: CommandMeter,
  rows: Rows,
  hitsPerMode: number,
  progress: (line: string) => void,
): Promise<void> {
  const concurrency = Math.max(...units.map((u) => u.callers));
  const perSlice = Math.max(1, Math.floor(hitsPerMode / HIT_SLICES));
  progress(
    `clients: ${perSlice * HIT_SLICES} hits per client, path (guard, direct EVALSHA) and callers (1, ${concurrency}), in ${HIT_SLICES} slices taken in turns`,
  );
  const slices = new Map<HitUnit, Slice[]>(units.map((u) => [u, []]));
  let firstError: string | undefined;
  for (let cycle = 0; cycle < HIT_SLICES; cycle++) {
    for (const unit of rotate(units, cycle)) {
      const stop = await meter.start();
      const slice = await runSlice(unit.run, perSlice, unit.callers, (err) => {
        firstError ??= `${unit.client} ${unit.path}: ${err instanceof Error ? err.message : String(err)}`;
      });
      slices.get(unit)!.push({ ...slice, serverCommands: (await stop()).total });
    }
  }
  if (firstError) progress(`clients: failed hits, e.g. ${firstError}`);

  const of = (client: ClientId, path: HitPath, mode: HitMode) =>
    slices.get(units.find((u) => u.client === client && u.path === path && u.mode === mode)!)!;
  const perHit = (s: Slice) => (s.ms * 1000) / perSlice;
  for (const unit of units) {
    const runs = slices.get(unit)!;
    const sorted = runs.flatMap((s) => s.latenciesUs).sort(ascending);
    const add = (what: string, value: number, unit_: string) =>
      rows.add(CLIENTS, unit.client, hitMetric(unit.path, unit.mode, what), value, unit_);
    add('hits', runs.length * perSlice, `calls, ${unit.callers} caller(s) at once`);
    add('p50', percentileOfSorted(sorted, 50) ?? Number.NaN, 'µs per call, from the call to its answer (all slices)');
    add('p99', percentileOfSorted(sorted, 99) ?? Number.NaN, 'µs per call (all slices)');
    add('mean', median(runs.map(perHit)), 'µs of the slice per hit (wall time / hits), median of slices');
    add(
      'redis.commands',
      sum(runs.map((s) => s.serverCommands)) / (runs.length * perSlice),
      'INFO commandstats per hit, incl. inside the script',
    );
    add('wrong', sum(runs.map((s) => s.wrong)), 'calls that were not a hit of the warm value');
    add('errors', sum(runs.map((s) => s.errors)), 'calls that failed');
    if (unit.path === 'guard') {
      const direct = of(unit.client, 'direct', unit.mode);
      add('vs direct', median(runs.map((s, i) => s.ms / direct[i]!.ms)), 'guard / direct, time per hit, median of per-cycle ratios');
      if (unit.client !== BASELINE_CLIENT && units.some((u) => u.client === BASELINE_CLIENT)) {
        const base = of(BASELINE_CLIENT, 'guard', unit.mode);
        add(`vs ${BASELINE_CLIENT}`, median(runs.map((s, i) => s.ms / base[i]!.ms)), 'time per hit, median of per-cycle ratios');
      }
    }
  }
}

/** `total` calls of `run` by `callers` callers at once; each call timed, the slice too. */
async function runSlice(
  run: (caller: number) => Promise<boolean>,
  total: number,
  callers: number,
  onError: (err: unknown) => void,
): Promise<Omit<Slice, 'serverCommands'>> {
  const latenciesUs: number[] = [];
  let issued = 0;
  let wrong = 0;
  let errors = 0;
  const caller = async (_: unknown, index: number) => {
    while (issued < total) {
      issued += 1;
      const started = performance.now();
      try {
        if (!(await run(index))) wrong += 1;
        latenciesUs.push((performance.now() - started) * 1000);
      } catch (err) {
        errors += 1;
        onError(err);
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(callers, total) }, caller));
  return { ms: performance.now() - started, latenciesUs, wrong, errors };
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
