import type { GetValueResult } from '../../src/bullmq/job-data.js';
import type { ValueSource } from '../../src/cache/strategy.js';
import { JobFailedError, JobTimeoutError } from '../../src/errors.js';
import { percentile } from '../report/percentile.js';

export interface TallySummary {
  completed: number;
  failed: number;
  /** Failure reasons and how many jobs failed with each. */
  failures: Record<string, number>;
  distinctValues: number;
  sources: Record<ValueSource, number>;
  /** Enqueue to completion as seen by the producer, ms. */
  latencyMs: { p50: number; p99: number; max: number };
}

/**
 * What a producer's gets came to: completed (with their values and sources), failed (by the job's
 * reason), timed out; and how long each took. The get-value client says which; this counts.
 */
export class Tally {
  private readonly latencies: number[] = [];
  private readonly values = new Set<string>();
  private readonly counts = {
    completed: 0,
    failed: 0,
    failures: {} as Record<string, number>,
    sources: { cache: 0, computed: 0, waited: 0, stale: 0 } as Record<ValueSource, number>,
  };
  timedOut = 0;

  get finished(): number {
    return this.counts.completed + this.counts.failed;
  }

  completed(result: Pick<GetValueResult, 'value' | 'source'>, latencyMs: number): void {
    this.counts.completed += 1;
    this.latencies.push(latencyMs);
    this.values.add(JSON.stringify(result.value));
    this.counts.sources[result.source] += 1;
  }

  /**
   * A get that did not complete; false when it is not a job's outcome (the caller decides).
   * `requests`: the key requests the job carried (a batch job's keys), each counted as failed.
   */
  notCompleted(err: unknown, latencyMs: number, requests = 1): boolean {
    if (err instanceof JobTimeoutError) {
      this.timedOut += 1;
      return true;
    }
    if (!(err instanceof JobFailedError)) return false;
    for (let i = 0; i < requests; i++) this.failed(err.reason, latencyMs);
    return true;
  }

  /** One key request that failed with `reason` (a job, or one key of a batch job that failed alone). */
  failed(reason: string, latencyMs: number): void {
    this.counts.failed += 1;
    this.latencies.push(latencyMs);
    this.counts.failures[reason] = (this.counts.failures[reason] ?? 0) + 1;
  }

  summary(): TallySummary {
    return {
      completed: this.counts.completed,
      failed: this.counts.failed,
      failures: { ...this.counts.failures },
      distinctValues: this.values.size,
      sources: { ...this.counts.sources },
      latencyMs: {
        p50: percentile(this.latencies, 50) ?? 0,
        p99: percentile(this.latencies, 99) ?? 0,
        max: this.latencies.reduce((m, v) => Math.max(m, v), 0),
      },
    };
  }
}
