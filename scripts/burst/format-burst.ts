import type { BurstSummary } from './burst.js';

/** The burst summary as a few plain lines for a terminal. */
export function formatBurstSummary(s: BurstSummary): string {
  const timing = `${s.timedOut ? ', TIMED OUT waiting' : ''} in ${(s.elapsedMs / 1000).toFixed(1)} s`;
  const b = s.batch;
  const lines = [
    b
      ? `run ${s.runId}: ${s.completed}/${s.jobs * b.keysPerJob} key requests completed, ${s.failed} failed${timing}; ` +
        `${s.jobs} batch jobs of ${b.keysPerJob} keys: ${b.jobsCompleted} completed, ${b.jobsFailed} failed`
      : `run ${s.runId}: ${s.completed}/${s.jobs} completed, ${s.failed} failed${timing}`,
    `distinct values: ${s.distinctValues}`,
    `sources: ${s.sources.computed} recomputed, ${s.sources.waited} waited, ${s.sources.cache} cache hits, ${s.sources.stale} stale`,
  ];
  // The latencies are of the jobs that ended, failed ones too (the JSON's latencyMs): no line when
  // none completed, and one that says so when some failed.
  if (s.completed > 0) {
    const label = `${b ? 'per key request, ' : ''}${s.failed > 0 ? 'enqueue to completion or failure' : 'enqueue to completion'}`;
    lines.push(`latency (${label}): p50 ${s.latencyMs.p50} ms, p99 ${s.latencyMs.p99} ms, max ${s.latencyMs.max} ms`);
  }
  for (const [reason, count] of Object.entries(s.failures)) lines.push(`failed x${count}: ${reason}`);
  if (s.notEnqueued > 0) {
    lines.push(`could not enqueue ${s.notEnqueued} of ${s.jobs} jobs (not waited for):`);
    for (const [reason, count] of Object.entries(s.enqueueFailures)) lines.push(`  x${count}: ${reason}`);
  }
  return lines.join('\n');
}
