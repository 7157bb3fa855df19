import { COLD, CRITICAL, CRITICAL_COMPUTE_MS } from '../cold/cold-burst.js';
import { L1 } from '../l1/l1-bench.js';
import { HITS } from '../hits/hits-bench.js';
import { LOCK_CASES, lockScenario } from '../locks/lock-bench.js';
import type { Rows } from '../rows.js';
import { SOAK, SOAK_SYSTEM } from '../soak/soak-bench.js';

/**
 * The targets, checked against what was measured (never the other way round). The
 * cold-burst targets are about `redis-lock`, the strategy that claims fleet-wide protection.
 * A target whose scenario did not run is left out.
 */
export interface TargetCheck {
  target: string;
  measured: number;
  /** How the measured figure reads, e.g. "1.02x compute". */
  shown: string;
  met: boolean;
}

const OURS = 'redis-lock';
const LOCK = 'cache-stampede';
/** The primitives: what the distinct-key cases (pure round-trip cost) are about. */
const RAW_LOCK = 'cache-stampede-raw';

export function checkTargets(rows: Rows): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const check = (target: string, measured: number | undefined, met: (v: number) => boolean, shown: (v: number) => string) => {
    if (measured === undefined || Number.isNaN(measured)) return;
    checks.push({ target, measured, shown: shown(measured), met: met(measured) });
  };
  const fixed = (digits: number) => (v: number) => v.toFixed(digits);

  check(`exactly 1 recomputation per cold key (${OURS}, worst round)`, rows.get(COLD, OURS, 'recomputations'), (v) => v === 1, fixed(0));
  check(
    `p99 within 5% of the compute time (${OURS}: p99 / compute <= 1.05)`,
    rows.get(COLD, OURS, 'p99/compute'),
    (v) => v <= 1.05,
    (v) => `${v.toFixed(3)}x`,
  );
  check(
    `<= 0.1 Redis commands sent per request in the cold burst (${OURS}: what crosses the network)`,
    rows.get(COLD, OURS, 'sent.commands/request'),
    (v) => v <= 0.1,
    fixed(3),
  );
  check(
    `<= 0.1 Redis commands per request in the cold burst (${OURS}, INFO commandstats: with those scripts run)`,
    rows.get(COLD, OURS, 'redis.commands/request'),
    (v) => v <= 0.1,
    fixed(3),
  );
  check(
    `cold-key p99 at most 1 ms over the floor, computation ${CRITICAL_COMPUTE_MS} ms (${OURS})`,
    rows.get(CRITICAL, OURS, 'p99.overhead'),
    (v) => v <= 1,
    (v) => `+${v.toFixed(2)} ms`,
  );
  check(
    '<= 0.01 Redis commands per L1 hit',
    rows.get(L1, 'l1 hits', 'redis.commands/read'),
    (v) => v <= 0.01,
    (v) => v.toFixed(4),
  );
  check(
    "a set or delete reaches another process's L1 within 100 ms (p99)",
    rows.get(L1, 'write to other process', 'delay.p99'),
    (v) => v <= 100,
    (v) => `${v.toFixed(2)} ms`,
  );
  check(
    'cache-hit jobs/s >= 0.9x raw BullMQ (get-value, info log)',
    rows.get(HITS, 'get-value', 'vs raw'),
    (v) => v >= 0.9,
    (v) => `${v.toFixed(3)}x`,
  );
  check(
    'cache-hit jobs/s >= 0.9x raw BullMQ (get-value, info log, L1 tier)',
    rows.get(HITS, 'get-value-l1', 'vs raw'),
    (v) => v >= 0.9,
    (v) => `${v.toFixed(3)}x`,
  );
  // Distinct keys: the targets of the first benchmark; one contended key: those of the fair lock.
  for (const lockCase of LOCK_CASES.filter((c) => c !== 'contended')) {
    const scenario = lockScenario(lockCase);
    check(
      `lock ops >= 1.3x redlock (${lockCase}, acquireLock/releaseLock)`,
      rows.get(scenario, RAW_LOCK, 'ops/s vs redlock'),
      (v) => v >= 1.3,
      (v) => `${v.toFixed(2)}x`,
    );
    check(
      `lock ops >= 1.15x redis-semaphore (${lockCase}, acquireLock/releaseLock)`,
      rows.get(scenario, RAW_LOCK, 'ops/s vs redis-semaphore'),
      (v) => v >= 1.15,
      (v) => `${v.toFixed(2)}x`,
    );
  }
  check(
    'soak: heap growth after GC < 5 MB over the run',
    rows.get(SOAK, SOAK_SYSTEM, 'heap.growth.max'),
    (v) => v < 5,
    (v) => `${v.toFixed(2)} MB`,
  );
  check("soak: 0 of the project's keys left once every value expired", rows.get(SOAK, SOAK_SYSTEM, 'keys.left'), (v) => v === 0, fixed(0));
  const contended = lockScenario('contended');
  check(
    'contended lock ops/s >= redis-semaphore (guard.lock)',
    rows.get(contended, LOCK, 'ops/s vs redis-semaphore'),
    (v) => v >= 1,
    (v) => `${v.toFixed(2)}x`,
  );
  const ours = rows.get(contended, LOCK, 'wait.p99');
  const theirs = rows.get(contended, 'redis-semaphore', 'wait.p99');
  if (ours !== undefined && theirs !== undefined) {
    check(
      'contended p99 wait <= 0.5x redis-semaphore',
      ours / theirs,
      (v) => v <= 0.5,
      (v) => `${v.toFixed(2)}x (${ours.toFixed(1)} vs ${theirs.toFixed(1)} ms)`,
    );
  }
  return checks;
}
