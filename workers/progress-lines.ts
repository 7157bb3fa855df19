import type { Worker } from 'bullmq';
import type { GetValueResult } from '../src/bullmq/job-data.js';

/**
 * Short human progress for a worker's stdout: one line every `everyMs` while jobs are being
 * processed, e.g. `worker-1: 200 jobs (1 computed, 180 waited, 19 cache, 0 failed)`.
 * The NDJSON log has the detail; this is for the person watching the fleet.
 */
export function reportProgress(worker: Worker, workerId: string, say: (line: string) => void, everyMs = 2000): () => void {
  const counts = { computed: 0, waited: 0, cache: 0, stale: 0, failed: 0 };
  let jobs = 0;
  let reported = 0;
  worker.on('completed', (_job, result: GetValueResult) => {
    jobs += 1;
    counts[result.source] += 1;
  });
  worker.on('failed', () => {
    jobs += 1;
    counts.failed += 1;
  });
  const line = () =>
    `${workerId}: ${jobs} jobs (${counts.computed} computed, ${counts.waited} waited, ${counts.cache} cache, ${counts.stale} stale, ${counts.failed} failed)`;
  const timer = setInterval(() => {
    if (jobs === reported) return;
    reported = jobs;
    say(line());
  }, everyMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    if (jobs !== reported) say(line());
  };
}
