import type { BenchOptions } from '../options.js';
import { table } from '../output/markdown.js';
import type { Rows } from '../rows.js';
import { BASELINE_CLIENT, clientKinds } from './clients.js';
import { CLIENTS, HIT_SLICES, type HitMode, hitMetric } from './hits.js';

/** The clients scenario's table, when it ran: placed before the targets (see batch/markdown.ts, insertSection). */
export function formatClientsSection(rows: Rows, options: BenchOptions): string {
  const ran = rows.systems(CLIENTS);
  if (ran.length === 0) return '';
  const v = (client: string, metric: string) => rows.get(CLIENTS, client, metric);
  const kinds = clientKinds().filter((k) => ran.includes(k.id));
  const guards = options.processes;
  const body: string[][] = [];
  for (const kind of kinds) {
    if (v(kind.id, 'setup.failed')) {
      body.push([kind.label, '-', 'left out: could not be set up (stderr says why)', '-', '-', '-', '-', '-', '-']);
      continue;
    }
    for (const mode of ['serial', 'concurrent'] as const satisfies HitMode[]) {
      const g = (what: string) => v(kind.id, hitMetric('guard', mode, what));
      const d = (what: string) => v(kind.id, hitMetric('direct', mode, what));
      const first = mode === 'serial';
      body.push([
        kind.label,
        first ? '1' : String(options.workerConcurrency),
        num(g('p50'), 0),
        num(g('p99'), 0),
        kind.id === BASELINE_CLIENT ? '1.00x' : x(g(`vs ${BASELINE_CLIENT}`)),
        num(d('p50'), 0),
        x(g('vs direct')),
        // The cold burst is one figure per client: on its first row.
        first ? num(v(kind.id, 'cold.all-answered'), 0) : '',
        first ? num(v(kind.id, 'cold.computations'), 0) : '',
      ]);
    }
  }
  const hits = v(kinds.find((k) => !v(k.id, 'setup.failed'))?.id ?? '', hitMetric('guard', 'serial', 'hits'));
  const perHit = (mode: HitMode, path: 'guard' | 'direct') =>
    kinds
      .filter((k) => !v(k.id, 'setup.failed'))
      .map((k) => `${k.id} ${num(v(k.id, hitMetric(path, mode, 'mean')), 1)}`)
      .join(', ');
  const commands = kinds
    .filter((k) => !v(k.id, 'setup.failed'))
    .map((k) => {
      const c = (path: 'guard' | 'direct', mode: HitMode) => num(v(k.id, hitMetric(path, mode, 'redis.commands')), 2);
      return `${k.id} ${c('guard', 'serial')} / ${c('direct', 'serial')} (${options.workerConcurrency} callers ${c('guard', 'concurrent')} / ${c('direct', 'concurrent')})`;
    })
    .join(', ');
  const wrong = kinds.reduce(
    (n, k) =>
      n +
      (['guard', 'direct'] as const)
        .flatMap((path) => (['serial', 'concurrent'] as const).map((mode) => v(k.id, hitMetric(path, mode, 'wrong')) ?? 0))
        .reduce((a, b) => a + b, 0),
    0,
  );
  return [
    `### 8. Clients: the guard with ioredis, iovalkey and node-redis, a cache hit and the cold burst (${guards} guards x ${options.concurrency} calls, compute ${options.computeMs} ms)`,
    '',
    table(
      [
        'client',
        'callers',
        'hit p50 µs',
        'hit p99 µs',
        `vs ${BASELINE_CLIENT}`,
        'direct p50 µs',
        'guard / direct',
        'cold burst ms',
        'computations',
      ],
      body,
    ),
    '',
    `Hits: ${num(hits, 0)} getOrCompute calls (redis-lock) per client and callers of a warm key, each caller its own key (one key would have concurrent calls join the guard's in-process flight, one EVALSHA for many), through a guard on that client, in ${HIT_SLICES} slices taken in turns with the direct calls (a different one first each cycle); p50 / p99: each call's time from the call to its answer, all slices. Direct: the hit's Redis work sent straight through the client's own EVALSHA (the guard's claim script from src/cache/claim.ts, its keys, a fresh token and the clock; the script loaded once). vs ${BASELINE_CLIENT} and guard / direct: time per hit of a slice (wall time / hits), median of per-cycle ratios; guard / direct is what the seam and the guard's own code add per hit with that client. Time per hit (µs, median of slices), guard, 1 caller: ${perHit('serial', 'guard')}; direct: ${perHit('serial', 'direct')}; ${options.workerConcurrency} callers, guard: ${perHit('concurrent', 'guard')}; direct: ${perHit('concurrent', 'direct')}. Redis cmds (server) per hit, guard / direct, 1 caller: ${commands}. Calls that were not a hit: ${wrong}. Cold burst: ${guards} guards in this process standing for processes (each on connections of its own), ${options.concurrency} concurrent getOrCompute each of one cold key under redis-lock, released together; ms until every call was answered (median of ${options.rounds} round(s), clients in turns); computations: worst round (must be 1).`,
    '',
  ].join('\n');
}

function num(v: number | undefined, digits: number): string {
  return v === undefined || Number.isNaN(v) ? '-' : v.toFixed(digits);
}

function x(v: number | undefined): string {
  return v === undefined || Number.isNaN(v) ? '-' : `${v.toFixed(2)}x`;
}
