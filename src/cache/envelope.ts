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
}

export function isFresh(envelope: Envelope, now = Date.now()): boolean {
  return now < envelope.freshUntil;
}

export function encodeEnvelope({ value, fence, computedAt, computeMs, ttlMs, freshUntil }: Envelope): string {
  return JSON.stringify({ value, fence, computedAt, computeMs, ttlMs, freshUntil });
}

/** Parse a stored envelope; anything unreadable counts as a miss rather than an error. */
export function decodeEnvelope<T>(raw: string | null): Envelope<T> | null {
  if (raw === null) return null;
  try {
    const parsed = JSON.parse(raw) as Envelope<T>;
    return typeof parsed === 'object' && parsed !== null && 'value' in parsed ? parsed : null;
  } catch {
    return null;
  }
}
