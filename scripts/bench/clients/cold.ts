import { rotate } from '../options.js';
import { median, type Rows } from '../rows.js';
import type { Fleet } from './fleet.js';
import { CLIENTS } from './hits.js';

/**
 * Part 2 of the clients scenario: the cold burst with each client. A fleet's guards stand for
 * processes (each on its own connections); every guard gets `calls` concurrent getOrCompute of
 * one cold key under redis-lock, released together, the computation taking `computeMs`. Measured:
 * the time until every call is answered, and how many computations ran (must be 1: the guards
 * coordinate through Redis alone). Clients take turns round by round, a different one first.
 */
interface Burst {
  allAnsweredMs: number;
  p50Ms: number;
  computations: number;
  distinctValues: number;
  errors: number;
  firstError?: string;
}

/** An unmeasured burst on a key of its own: every path (waiting, notification) compiled and subscribed once. */
export async function warmColdBurst(fleet: Fleet, calls: number, computeMs: number): Promise<void> {
  const burst = await runBurst(fleet, `cold-warm-up`, calls, computeMs);
  if (burst.errors > 0) throw new Error(`the warm-up burst failed ${burst.errors} calls, e.g. ${burst.firstError}`);
}

export async function measureColdBursts(
  fleets: Fleet[],
  rows: Rows,
  rounds: number,
  calls: number,
  computeMs: number,
  progress: (line: string) => void,
): Promise<void> {
  const results = new Map<Fleet, Burst[]>(fleets.map((f) => [f, []]));
  for (let round = 0; round < rounds; round++) {
    for (const fleet of rotate(fleets, round)) {
      const burst = await runBurst(fleet, `cold-r${round}`, calls, computeMs);
      progress(
        `clients: cold burst, round ${round + 1}/${rounds}, ${fleet.kind.label}: all ${fleet.members.length * calls} answered in ${burst.allAnsweredMs.toFixed(0)} ms, ${burst.computations} computation(s)`,
      );
      if (burst.firstError) progress(`  ${fleet.kind.label}: ${burst.errors} failed calls, e.g. ${burst.firstError}`);
      results.get(fleet)!.push(burst);
    }
  }
  for (const [fleet, bursts] of results) {
    const add = (metric: string, value: number, unit: string) => rows.add(CLIENTS, fleet.kind.id, metric, value, unit);
    add('cold.requests', fleet.members.length * calls, `calls per burst (${fleet.members.length} guards x ${calls})`);
    add('cold.all-answered', median(bursts.map((b) => b.allAnsweredMs)), 'ms from the release to the last answer (median of rounds)');
    add('cold.all-answered.worst', Math.max(...bursts.map((b) => b.allAnsweredMs)), 'ms (worst round)');
    add('cold.p50', median(bursts.map((b) => b.p50Ms)), 'ms per call (median of rounds)');
    add('cold.computations', Math.max(...bursts.map((b) => b.computations)), 'count (worst round)');
    add('cold.distinct.values', Math.max(...bursts.map((b) => b.distinctValues)), 'count (worst round)');
    add(
      'cold.errors',
      bursts.reduce((n, b) => n + b.errors, 0),
      'count (all rounds)',
    );
  }
}

async function runBurst(fleet: Fleet, key: string, calls: number, computeMs: number): Promise<Burst> {
  let computations = 0;
  const compute = async () => {
    const seq = ++computations;
    await new Promise((resolve) => setTimeout(resolve, computeMs));
    return `${fleet.kind.id}:${key}:${seq}`;
  };
  const latencies: number[] = [];
  const values = new Set<string>();
  let errors = 0;
  let firstError: string | undefined;
  const started = performance.now();
  await Promise.all(
    fleet.members.flatMap(({ guard }) =>
      Array.from({ length: calls }, async () => {
        const callStarted = performance.now();
        try {
          values.add((await guard.getOrCompute(key, compute, { strategy: 'redis-lock' })).value);
          latencies.push(performance.now() - callStarted);
        } catch (err) {
          errors += 1;
          firstError ??= err instanceof Error ? err.message : String(err);
        }
      }),
    ),
  );
  return {
    allAnsweredMs: performance.now() - started,
    p50Ms: median(latencies),
    computations,
    distinctValues: values.size,
    errors,
    ...(firstError !== undefined && { firstError }),
  };
}
