import type { QueueEvents } from 'bullmq';
import type { ValueSource } from '../../src/cache/strategy.js';
import { percentile } from '../report/percentile.js';
import type { GetValueResult } from '../../src/bullmq/job-data.js';

const MAX_EARLY = 50_000;

export interface TrackedSummary {
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
 * Follows a producer's jobs to their end through QueueEvents: which finished, how, and how long
 * each took from its own enqueue. Completions can arrive before addBulk's reply tells us the
 * ids, so events for unknown ids are held until `add` claims them.
 * Create it (and let QueueEvents become ready) before adding jobs, or early events are missed.
 */
export class JobTracker {
  private readonly pending = new Map<string, number>();
  private readonly early = new Map<string, { ok: boolean; payload: string; at: number }>();
  private readonly latencies: number[] = [];
  private readonly values = new Set<string>();
  private readonly summaryCounts: TrackedSummary = {
    completed: 0,
    failed: 0,
    failures: {},
    distinctValues: 0,
    sources: { cache: 0, computed: 0, waited: 0, stale: 0 },
    latencyMs: { p50: 0, p99: 0, max: 0 },
  };
  private added = 0;
  private idle: (() => void) | null = null;

  private readonly onCompleted = ({ jobId, returnvalue }: { jobId: string; returnvalue: unknown }) =>
    this.settle(jobId, true, typeof returnvalue === 'string' ? returnvalue : JSON.stringify(returnvalue));
  private readonly onFailed = ({ jobId, failedReason }: { jobId: string; failedReason: string }) => this.settle(jobId, false, failedReason);

  constructor(
    private readonly events: QueueEvents,
    private readonly onProgress?: (finished: number, added: number) => void,
  ) {
    events.on('completed', this.onCompleted);
    events.on('failed', this.onFailed);
  }

  /** Jobs just enqueued (at `enqueuedAt`) that this tracker should wait for. */
  add(ids: readonly string[], enqueuedAt: number): void {
    this.added += ids.length;
    for (const id of ids) this.pending.set(id, enqueuedAt);
    for (const id of ids) {
      const outcome = this.early.get(id);
      if (outcome) {
        this.early.delete(id);
        this.settle(id, outcome.ok, outcome.payload, outcome.at);
      }
    }
  }

  get finished(): number {
    return this.summaryCounts.completed + this.summaryCounts.failed;
  }

  /** Resolves when every job added so far has finished, or with false after `timeoutMs`. */
  async allDone(timeoutMs: number): Promise<boolean> {
    if (this.pending.size === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([
      new Promise<boolean>((resolve) => (this.idle = () => resolve(true))),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
        // QueueEvents keeps the process alive while jobs are awaited; this timer alone must not
        // keep it alive for minutes after a caller gave up.
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
    this.idle = null;
    return done;
  }

  summary(): TrackedSummary {
    const sorted = this.latencies;
    return {
      ...this.summaryCounts,
      failures: { ...this.summaryCounts.failures },
      sources: { ...this.summaryCounts.sources },
      distinctValues: this.values.size,
      latencyMs: {
        p50: percentile(sorted, 50) ?? 0,
        p99: percentile(sorted, 99) ?? 0,
        max: sorted.reduce((m, v) => Math.max(m, v), 0),
      },
    };
  }

  close(): void {
    this.events.off('completed', this.onCompleted);
    this.events.off('failed', this.onFailed);
  }

  private settle(jobId: string, ok: boolean, payload: string, at = Date.now()): void {
    const enqueuedAt = this.pending.get(jobId);
    if (enqueuedAt === undefined) {
      // Not ours, or ours but addBulk has not answered yet. Other producers' jobs would pile up
      // here on a busy queue, so only the most recent are kept.
      this.early.set(jobId, { ok, payload, at });
      if (this.early.size > MAX_EARLY) this.early.delete(this.early.keys().next().value!);
      return;
    }
    this.pending.delete(jobId);
    this.latencies.push(at - enqueuedAt);
    const s = this.summaryCounts;
    if (ok) {
      s.completed += 1;
      const result = parseResult(payload);
      if (result) {
        this.values.add(JSON.stringify(result.value));
        s.sources[result.source] += 1;
      }
    } else {
      s.failed += 1;
      s.failures[payload] = (s.failures[payload] ?? 0) + 1;
    }
    this.onProgress?.(this.finished, this.added);
    if (this.pending.size === 0) this.idle?.();
  }
}

function parseResult(payload: string): GetValueResult | null {
  try {
    return JSON.parse(payload) as GetValueResult;
  } catch {
    return null;
  }
}
