import type { Span } from './span.js';

/**
 * "The slowest job of a run": the producer starts a root span per job (`get-value`) carrying
 * `cache_stampede.run_id`; among a run's job roots, the longest. Without a run asked for, the
 * latest run (by its first job's start) is taken, as the demo and a burst leave the run just made
 * last. Fed span by span so it holds one candidate per run, not the spans.
 */

export const RUN_ID_ATTRIBUTE = 'cache_stampede.run_id';

export interface RunJobs {
  runId: string;
  /** Job root spans seen for the run. */
  jobs: number;
  /** The earliest job's start, epoch ms. */
  startedAt: number;
  slowest: Span;
}

export class SlowestJobPicker {
  private readonly runs = new Map<string, RunJobs>();

  /** Any span; only a root carrying a run id counts. */
  add(span: Span): void {
    const runId = runIdOf(span);
    if (runId === undefined || span.parentSpanId !== undefined) return;
    const run = this.runs.get(runId);
    if (!run) {
      this.runs.set(runId, { runId, jobs: 1, startedAt: span.startTime, slowest: span });
      return;
    }
    run.jobs++;
    run.startedAt = Math.min(run.startedAt, span.startTime);
    // Ties go to the earlier job: the same pick whatever order the files are read in.
    if (
      span.durationMs > run.slowest.durationMs ||
      (span.durationMs === run.slowest.durationMs && span.startTime < run.slowest.startTime)
    ) {
      run.slowest = span;
    }
  }

  /** The run asked for, else the latest; `undefined` when there is no such run. */
  pick(runId?: string): RunJobs | undefined {
    if (runId !== undefined) return this.runs.get(runId);
    let latest: RunJobs | undefined;
    for (const run of this.runs.values()) if (!latest || run.startedAt > latest.startedAt) latest = run;
    return latest;
  }

  /** Run ids seen, oldest first (for "run R has no job spans (runs with spans: ...)"). */
  runIds(): string[] {
    return [...this.runs.values()].sort((a, b) => a.startedAt - b.startedAt).map((r) => r.runId);
  }
}

export function runIdOf(span: Span): string | undefined {
  const value = span.attributes[RUN_ID_ATTRIBUTE];
  return value === undefined || value === '' ? undefined : String(value);
}
