import { isTraceparent } from '../telemetry/tracing.js';

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
}

export function isFresh(envelope: Envelope, now = Date.now()): boolean {
  return now < envelope.freshUntil;
}

export function encodeEnvelope({ value, fence, computedAt, computeMs, ttlMs, freshUntil, trace }: Envelope): string {
  return JSON.stringify(
    trace === undefined
      ? { value, fence, computedAt, computeMs, ttlMs, freshUntil }
      : { value, fence, computedAt, computeMs, ttlMs, freshUntil, trace },
  );
}

/** Parse a stored envelope; anything unreadable counts as a miss rather than an error. */
export function decodeEnvelope<T>(raw: string | null): Envelope<T> | null {
  if (raw === null) return null;
  try {
    const parsed = JSON.parse(raw) as Envelope<T>;
    if (typeof parsed !== 'object' || parsed === null || !('value' in parsed)) return null;
    // A value the guard did not write may carry anything there: only a traceparent is a link.
    if ('trace' in parsed && !isTraceparent(parsed.trace)) delete parsed.trace;
    return parsed;
  } catch {
    return null;
  }
}
