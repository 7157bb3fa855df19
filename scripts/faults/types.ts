/**
 * What a fault scenario reports: one row of the faults table, the checks of what the fault
 * issue says must hold (each with what was seen), and scenario-specific facts for tests.
 */
export interface FaultRow {
  /** `<number> <name>`, e.g. `1 kill-holder`. */
  fault: string;
  /** Jobs the scenario asked for (enqueued or not). */
  jobs: number;
  completed: number;
  failed: number;
  /** Jobs enqueued that neither completed nor failed (or vanished from Redis). */
  lost: number;
  /** `recompute.start` events in the workers' logs. */
  recomputations: number;
  /** Writes accepted although a value with a higher fence had been stored before them. */
  staleOverwrites: number;
  /** From the injection to the first job completion after it; null when not applicable. */
  recoveryMs: number | null;
  notes: string[];
}

export interface Check {
  /** What must hold, in words. */
  what: string;
  ok: boolean;
  /** What was seen, for a failing check's message. */
  seen: string;
}

export interface FaultOutcome<Facts = Record<string, unknown>> {
  row: FaultRow;
  checks: Check[];
  /** Scenario-specific facts (pids, fences, exit codes...), for tests and --json. */
  facts: Facts;
}

export interface FaultOptions {
  /** Progress lines for a person waiting (stderr in `npm run faults`). @default silent */
  say?: (line: string) => void;
  /** Keep the scenario's log directory instead of deleting it; its path is in the notes. */
  keepLogs?: boolean;
}

/** A check: `seen` is shown when it fails. */
export function check(what: string, ok: boolean, seen: unknown): Check {
  return { what, ok, seen: typeof seen === 'string' ? seen : JSON.stringify(seen) };
}

export function failedChecks(outcome: Pick<FaultOutcome, 'checks'>): Check[] {
  return outcome.checks.filter((c) => !c.ok);
}
