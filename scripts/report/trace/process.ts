import type { Span } from './span.js';

/** Every lab process's service name starts so: said on every row, it would only push the columns apart. */
const LAB_PREFIX = 'cache-stampede-';

/**
 * Which process ended a span, as a reader names it: "worker-3 pid 5003" (a worker, by its id),
 * "producer pid 4100" (`cache-stampede-producer`), another service by its whole name.
 */
export function processLabel(span: Pick<Span, 'service' | 'workerId' | 'pid'>): string {
  const service =
    span.service.startsWith(LAB_PREFIX) && span.service.length > LAB_PREFIX.length ? span.service.slice(LAB_PREFIX.length) : span.service;
  return `${span.workerId ?? service} pid ${span.pid}`;
}

/** One process, for counting distinct ones (two hosts may reuse a pid, not a pid and a service). */
export function processKey(span: Pick<Span, 'service' | 'workerId' | 'pid'>): string {
  return `${span.service}\u0000${span.workerId ?? ''}\u0000${span.pid}`;
}
