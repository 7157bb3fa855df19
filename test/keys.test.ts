import { describe, expect, it } from 'vitest';
import { MAX_KEY_LENGTH, allKeysPattern, cacheKeys, hashTag, type CacheKeys } from '../src/keys.js';
import { crc16, hashedPart, keySlot } from '../src/redis/key-slot.js';

const slot = keySlot;

const names = (keys: CacheKeys) => [keys.value, keys.lock, keys.lease, keys.channel];

const awkwardKeys = [
  'with space',
  'a{b}c',
  '{}',
  'close}brace',
  'ünïcödé',
  '日本語のキー',
  'emoji-🔥',
  'glob*',
  'glob?',
  'glob[abc]',
  'tab\tand\nnewline',
  'quote"s',
  'slash/key',
  '#abc',
  '#',
  'x'.repeat(65),
  'y'.repeat(MAX_KEY_LENGTH),
];

describe('CRC16 helper', () => {
  it('matches the reference values from the Redis Cluster specification', () => {
    expect(crc16(Buffer.from('123456789'))).toBe(0x31c3);
    // Hash tags: only the tag is hashed.
    expect(slot('{user1000}.following')).toBe(slot('{user1000}.followers'));
    // The examples of CLUSTER KEYSLOT in Redis's documentation.
    expect(slot('somekey')).toBe(11058);
    expect(slot('foo{hash_tag}')).toBe(2515);
    expect(slot('bar{hash_tag}')).toBe(2515);
    expect(hashedPart('foo{}{bar}')).toBe('foo{}{bar}');
    expect(hashedPart('foo{{bar}}zap')).toBe('{bar');
    expect(hashedPart('foo{bar}{zap}')).toBe('bar');
  });
});

describe('cacheKeys', () => {
  it('builds the four names of a plain key readably, under the prefix', () => {
    const keys = cacheKeys('cs', 'user:42');
    expect(keys).toEqual({
      value: 'cs:{user:42}:value',
      lock: 'cs:{user:42}:lock',
      lease: 'cs:{user:42}:lease',
      channel: 'cs:{user:42}:db0:ready',
    });
    expect(names(keys).every((n) => n.startsWith('cs:'))).toBe(true);
    expect(allKeysPattern('cs')).toBe('cs:*');
  });

  it('keeps plain keys of up to 64 characters of [A-Za-z0-9_.:-] readable', () => {
    for (const key of ['a', 'A-z_0.9:x', 'k'.repeat(64), 'product.123:price-EUR']) {
      expect(hashTag(key)).toBe(key);
    }
  });

  it('hashes keys with braces, spaces, unicode, glob characters or more than 64 characters', () => {
    for (const key of awkwardKeys) {
      const tag = hashTag(key);
      expect(tag, key).toMatch(/^#[0-9a-f]{64}$/);
    }
  });

  it('never makes a tag longer than 65 characters, nor one with a brace', () => {
    const keys = [...awkwardKeys, 'a', 'k'.repeat(64), 'k'.repeat(MAX_KEY_LENGTH), '{'.repeat(500)];
    for (const key of keys) {
      const tag = hashTag(key);
      expect(tag.length, key).toBeLessThanOrEqual(65);
      expect(tag.length, key).toBeGreaterThan(0);
      expect(tag, key).not.toMatch(/[{}]/);
    }
  });

  it('gives all four names of one key the same hash tag and the same cluster slot', () => {
    for (const key of ['user:42', 'hot', ...awkwardKeys]) {
      for (const prefix of ['cs', 't-keys-1234']) {
        const keys = cacheKeys(prefix, key);
        const tags = names(keys).map(hashedPart);
        // The first {...} of each name is exactly the key's tag, nothing of the prefix or suffix.
        expect(new Set(tags), key).toEqual(new Set([hashTag(key)]));
        expect(new Set(names(keys).map(slot)).size, key).toBe(1);
        // Four distinct names, though.
        expect(new Set(names(keys)).size).toBe(4);
      }
    }
  });

  it('spreads different keys over different slots (a tag is not shared by accident)', () => {
    const slots = new Set(Array.from({ length: 200 }, (_, i) => slot(cacheKeys('cs', `key-${i}`).value)));
    // 200 keys over 16384 slots: a handful of collisions at most, never all in one slot.
    expect(slots.size).toBeGreaterThan(190);
  });

  it('gives distinct keys distinct tags, including keys that look like hashes', () => {
    const lookalike = hashTag('with space'); // '#' + 64 hex characters
    const keys = [
      'abc',
      '#abc',
      'ABC',
      'abc ',
      ' abc',
      'with space',
      lookalike, // a user key equal to another key's tag must not share that tag
      lookalike.slice(1), // 64 hex characters: plain
      '#',
      'x'.repeat(64),
      'x'.repeat(65),
      'x'.repeat(66),
      'é',
      'e\u0301', // the same letter, decomposed: different bytes, different key
      ...awkwardKeys,
    ];
    const unique = [...new Set(keys)];
    const tags = unique.map(hashTag);
    expect(new Set(tags).size).toBe(unique.length);
    expect(hashTag(lookalike)).not.toBe(lookalike);
    expect(hashTag('#abc')).not.toBe('#abc');
    expect(hashTag(lookalike.slice(1))).toBe(lookalike.slice(1));
    // Distinct keys also give distinct value names.
    expect(new Set(unique.map((k) => cacheKeys('cs', k).value)).size).toBe(unique.length);
  });

  it('is deterministic (every process of the fleet derives the same names)', () => {
    for (const key of awkwardKeys) expect(cacheKeys('cs', key)).toEqual(cacheKeys('cs', key));
  });
});
