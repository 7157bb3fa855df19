import { describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeEnvelope, isFresh, type Envelope } from '../src/cache/envelope.js';

const envelope: Envelope = { value: { a: 1 }, fence: 3, computedAt: 1000, computeMs: 5, ttlMs: 100, freshUntil: 1100 };

describe('the stored envelope', () => {
  it('is fresh strictly before freshUntil: at that millisecond it is stale', () => {
    expect(isFresh(envelope, 1099)).toBe(true);
    expect(isFresh(envelope, 1100)).toBe(false);
  });

  it('round-trips through its JSON', () => {
    expect(decodeEnvelope(encodeEnvelope(envelope))).toEqual(envelope);
  });

  it('decodes anything the guard did not write as null (a miss): no value field, not JSON, not an object', () => {
    for (const raw of [null, '{"fence":1,"freshUntil":9}', 'not json', '5', 'null', '"value"']) {
      expect(decodeEnvelope(raw), String(raw)).toBeNull();
    }
  });
});
