import { subscribeEvents, type GuardEvent } from '../src/events.js';
import { logEvent, type Logger } from '../src/logger.js';
import type { GuardMetrics } from './metrics/guard-metrics.js';

/** The longest key a line carries, as the processor binds it for a job's own lines. */
const MAX_LOGGED_KEY = 200;

/**
 * The worker's one subscriber to the guard's events (src/events.ts): each event is counted in
 * the metrics (when the worker serves them) and written as the log line, in this order, from the
 * same object. So the metrics and the log report count the very same steps and cannot disagree.
 * The guard and the processor get no logger of their own. Returns the unsubscribe function.
 */
export function observeGuardEvents(logger: Logger, metrics?: GuardMetrics): () => void {
  return subscribeEvents((event) => {
    metrics?.record(event);
    writeEventLine(logger, event);
  });
}

/**
 * The line of the log contract for one event. A call made with a context is a job's (the
 * processor passes `{ runId, jobId, workerId }`): its line carries the job's correlation fields;
 * `workerId` comes from the worker logger's own bindings, so it is not written twice. The guard's
 * own events (a connection error) carry no job's fields.
 */
export function writeEventLine(logger: Logger, event: GuardEvent): void {
  if (logger.isLevelEnabled && !logger.isLevelEnabled(event.level)) return;
  const { context } = event;
  if (context === undefined) {
    logEvent(logger, event.level, event.event, event.fields);
    return;
  }
  logEvent(logger, event.level, event.event, {
    runId: context.runId,
    jobId: context.jobId,
    strategy: event.strategy,
    key: event.key && event.key.length > MAX_LOGGED_KEY ? event.key.slice(0, MAX_LOGGED_KEY) : event.key,
    ...event.fields,
  });
}
