import { isTraceparent } from '../telemetry/tracing.js';
import { MAX_TIMER_MS } from '../timers.js';

/**
 * What is stored for a cache key: the value and what is known about it. Stored as JSON in
 * the `envelope` field of the key's hash; the fence is also a field of its own so the write
 * script can compare fences without decoding JSON.
 */
export interface Envelope<T = unknown> {
  value: T;
  /** The fence of the lock holder that wrote it; 0 when written without a lock. */
  fence: number;
  /** Epoch ms when the computation finished. */
  computedAt: number;
  /** How long the computation took, ms. */
  computeMs: number;
  /** How long the value is fresh, ms. */
  ttlMs: number;
  /**
   * Epoch ms after which the value is stale. The Redis key lives `graceMs` longer, so a stale
   * value can still be served (`swr`) or fallen back on when a refresh fails.
   */
  freshUntil: number;
  /**
   * The W3C traceparent of the span that computed it, when the holder traced (`tracing`): a
   * waiter in another process links its span to it.
   */
  trace?: string;
  /** This value's grace, when its computation decided it (`setTtl`); else the guard's `graceMs`. */
  graceMs?: number;
  /** Its computation asked that it be stored nowhere (`skipCache`): it only travels to waiters. */
  uncached?: true;
  /** Its tags (`tags`, `ctx.addTags`): `invalidateTags` of any of them makes it count as missing (tags.ts). */
  tags?: string[];
  /** The namespaces it was written in (`guard.namespace`), outermost first: a `clear()` of any makes it count as missing. */
  ns?: string[];
  /** With tags or namespaces: the server's clock (µs) when its computation began; an invalidation at or after it covers it. */
  bornAt?: number;
}

export function isFresh(envelope: Envelope, now = Date.now()): boolean {
  return now < envelope.freshUntil;
}

export function encodeEnvelope({
  value,
  fence,
  computedAt,
  computeMs,
  ttlMs,
  freshUntil,
  trace,
  graceMs,
  uncached,
  tags,
  ns,
  bornAt,
}: Envelope): string {
  return JSON.stringify({
    value,
    fence,
    computedAt,
    computeMs,
    ttlMs,
    freshUntil,
    ...(trace !== undefined && { trace }),
    ...(graceMs !== undefined && { graceMs }),
    ...(uncached && { uncached }),
    ...(tags?.length && { tags }),
    ...(ns?.length && { ns }),
    ...(bornAt !== undefined && { bornAt }),
  });
}

/** Parse a stored envelope; anything unreadable counts as a miss rather than an error. */
export function decodeEnvelope<T>(raw: string | null): Envelope<T> | null {
  if (raw === null) return null;
  try {
    const parsed = JSON.parse(raw) as Envelope<T>;
    if (typeof parsed !== 'object' || parsed === null || !('value' in parsed)) return null;
    // A value the guard did not write may carry anything there: only a traceparent is a link.
    if ('trace' in parsed && !isTraceparent(parsed.trace)) delete parsed.trace;
    if ('graceMs' in parsed && !(typeof parsed.graceMs === 'number' && parsed.graceMs >= 0 && parsed.graceMs <= MAX_TIMER_MS))
      delete parsed.graceMs;
    if ('uncached' in parsed && parsed.uncached !== true) delete parsed.uncached;
    // Marks that are not lists of strings cannot be checked against invalidations: a miss.
    for (const field of ['tags', 'ns'] as const)
      if (field in parsed && !(Array.isArray(parsed[field]) && parsed[field].every((m) => typeof m === 'string'))) return null;
    if ('bornAt' in parsed && typeof parsed.bornAt !== 'number') delete parsed.bornAt;
    return parsed;
  } catch {
    return null;
  }
}
