import type { BurstSummary } from '../burst/burst.js';
import type { TailedRecord } from './log-tail.js';
import { lostJobs } from './measure.js';

/** What one burst of the failover scenario did, from its summary and the workers' logs. */
export interface FailoverBurst {
  label: string;
  /** What was done to the cluster during the burst. */
  fault: string;
  jobs: number;
  completed: number;
  failed: number;
  lost: number;
  failures: Record<string, number>;
  elapsedMs: number;
  /** From the kill (or the request) until every node said ok with the slot on its new master. */
  failoverMs: number | null;
  /** `recompute.start` lines per key: the most any key had, and the keys with more than one. */
  recomputations: number;
  mostPerKey: number;
  keysRecomputedTwice: string[];
  /** Keys the run's lines name that no recompute.start of the run does: where a value came from unseen. */
  keysNeverRecomputed: string[];
  /** The longest `wait.end` `waitedMs`, and waits that ended by their timeout (the lock TTL). */
  longestWaitMs: number;
  waitTimeouts: number;
  /** Attempts that failed and were tried again (`job.retry`). */
  retriedAttempts: number;
}

export function failoverBurst(
  label: string,
  fault: string,
  summary: BurstSummary,
  records: readonly TailedRecord[],
  failoverMs: number | null,
): FailoverBurst {
  const ofRun = records.filter((r) => r.runId === summary.runId);
  const perKey = new Map<string, number>();
  for (const r of ofRun) if (r.event === 'recompute.start') perKey.set(String(r.key), (perKey.get(String(r.key)) ?? 0) + 1);
  const waits = ofRun.filter((r) => r.event === 'wait.end');
  return {
    label,
    fault,
    jobs: summary.jobs,
    completed: summary.completed,
    failed: summary.failed,
    lost: lostJobs(summary),
    failures: summary.failures,
    elapsedMs: summary.elapsedMs,
    failoverMs,
    recomputations: [...perKey.values()].reduce((a, b) => a + b, 0),
    mostPerKey: Math.max(0, ...perKey.values()),
    keysRecomputedTwice: [...perKey].filter(([, n]) => n > 1).map(([key]) => key),
    keysNeverRecomputed: [...new Set(ofRun.filter((r) => r.key !== undefined && !perKey.has(String(r.key))).map((r) => String(r.key)))],
    longestWaitMs: Math.round(Math.max(0, ...waits.map((r) => Number(r.waitedMs) || 0))),
    waitTimeouts: waits.filter((r) => r.outcome === 'timeout').length,
    retriedAttempts: ofRun.filter((r) => r.event === 'job.retry').length,
  };
}

/** One line of the scenario's notes: what the burst cost, against the baseline's time. */
export function describeFailoverBurst(b: FailoverBurst, baselineMs: number): string {
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const stall = b.elapsedMs - baselineMs;
  const time =
    b.failoverMs === null
      ? seconds(b.elapsedMs)
      : `${seconds(b.elapsedMs)} (${stall >= 0 ? '+' : ''}${seconds(stall)} on the baseline, failover ${seconds(b.failoverMs)})`;
  return (
    `${b.fault}: ${b.completed}/${b.jobs} completed, ${b.failed} failed, ${b.lost} lost, ` +
    `recomputations per key ${b.mostPerKey === 1 && b.keysRecomputedTwice.length === 0 ? '1' : `up to ${b.mostPerKey}`}, ${time}, ` +
    `longest wait ${seconds(b.longestWaitMs)}, ${b.retriedAttempts} attempts retried`
  );
}
