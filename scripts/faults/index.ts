import { errorMessage } from '../../src/errors.js';
import { ConfigError } from '../common/errors.js';
import { badInput } from './bad-input.js';
import { cacheOutage } from './cache-outage.js';
import { computeFailure } from './compute-failure.js';
import { evictingPolicy } from './evicting-policy.js';
import { failover } from './failover.js';
import { killHolder } from './kill-holder.js';
import { pauseHolder } from './pause-holder.js';
import { restartRedis } from './restart-redis.js';
import { scriptFlush } from './script-flush.js';
import { sigtermWorker } from './sigterm-worker.js';
import type { Check, FaultOptions, FaultOutcome, FaultRow } from './types.js';

/** The fault scenarios of the faults issue, in its order; `npm run faults` runs them. */
export interface FaultScenario {
  id: number;
  name: string;
  title: string;
  /** Absent while the scenario waits for a feature: the table shows it as pending. */
  run?: (options: FaultOptions) => Promise<FaultOutcome<unknown>>;
  pending?: string;
}

export const FAULTS: readonly FaultScenario[] = [
  { id: 1, name: 'kill-holder', title: 'SIGKILL the lock holder mid-computation', run: killHolder },
  { id: 2, name: 'pause-holder', title: 'SIGSTOP the holder past its lock TTL, a newer write, SIGCONT', run: pauseHolder },
  { id: 3, name: 'restart-redis', title: 'restart redis-server mid-burst (same port, same AOF)', run: restartRedis },
  { id: 4, name: 'script-flush', title: 'SCRIPT FLUSH mid-burst', run: scriptFlush },
  { id: 5, name: 'sigterm-worker', title: 'SIGTERM a worker with jobs in flight', run: sigtermWorker },
  { id: 6, name: 'evicting-policy', title: "an evicting maxmemory-policy on the queue's Redis", run: evictingPolicy },
  { id: 7, name: 'compute-failure', title: 'a computation that throws, and one that hangs past its timeout', run: computeFailure },
  { id: 8, name: 'bad-input', title: 'bad job data, bad flags, bad environment', run: badInput },
  {
    id: 9,
    name: 'failover',
    title: "Redis Cluster failovers mid-burst: the queue's master and a cache master killed, a planned switch-over, a dead seed",
    run: failover,
  },
  {
    id: 10,
    name: 'cache-outage',
    title:
      "the cache's Redis away 10 s mid-stream (SIGSTOP 5 s, then SIGKILL and restart), the queue on another Redis; then the queue's Redis killed and restarted",
    run: cacheOutage,
  },
];

export type FaultStatus = 'held' | 'broken' | 'pending' | 'error';

export interface FaultReport {
  id: number;
  name: string;
  title: string;
  /** held: every check passed; broken: a check failed; error: the scenario could not run to its end. */
  status: FaultStatus;
  row: FaultRow | null;
  checks: Check[];
  facts: unknown;
  notes: string[];
  ms: number;
}

/** Scenarios by name or number (`kill-holder`, `1`); all when `only` is empty. */
export function selectFaults(only: readonly string[] = []): FaultScenario[] {
  if (only.length === 0) return [...FAULTS];
  const unknown = only.filter((o) => !FAULTS.some((f) => f.name === o || String(f.id) === o));
  if (unknown.length > 0) {
    throw new ConfigError(
      `unknown fault(s) ${unknown.map((u) => `"${u}"`).join(', ')}; choose from ${FAULTS.map((f) => `${f.id} ${f.name}`).join(', ')}`,
    );
  }
  return FAULTS.filter((f) => only.includes(f.name) || only.includes(String(f.id)));
}

/** Run one scenario; a scenario that throws becomes a report with status `error`, never a crash. */
export async function runFault(scenario: FaultScenario, options: FaultOptions = {}): Promise<FaultReport> {
  const base = { id: scenario.id, name: scenario.name, title: scenario.title };
  const started = Date.now();
  if (!scenario.run) {
    return { ...base, status: 'pending', row: null, checks: [], facts: null, notes: [scenario.pending ?? 'pending'], ms: 0 };
  }
  try {
    const outcome = await scenario.run(options);
    const status: FaultStatus = outcome.checks.every((c) => c.ok) ? 'held' : 'broken';
    return {
      ...base,
      status,
      row: outcome.row,
      checks: outcome.checks,
      facts: outcome.facts,
      notes: outcome.row.notes,
      ms: Date.now() - started,
    };
  } catch (err) {
    return {
      ...base,
      status: 'error',
      row: null,
      checks: [{ what: 'the scenario ran to its end', ok: false, seen: errorMessage(err) }],
      facts: null,
      notes: [`error: ${errorMessage(err).split('\n')[0]}`],
      ms: Date.now() - started,
    };
  }
}

export { failedChecks } from './types.js';
export type { Check, FaultOptions, FaultOutcome, FaultRow } from './types.js';
export { formatFaultTable } from './table.js';
