import { MAX_COMPUTE_MS } from '../../src/bullmq/job-data.js';
import { MAX_KEY_LENGTH } from '../../src/keys.js';

/**
 * The inputs of fault 8. Malformed job data must fail at once with a reason naming the field;
 * odd but valid keys (braces, glob characters, unicode, `__proto__`...) must work, round-trip
 * exactly and never share a value with another key.
 */
export interface MalformedJob {
  name: string;
  data: () => unknown;
  /** What the failure reason must say. */
  reason: RegExp;
}

const base = { strategy: 'redis-lock', computeMs: 10 };

export const MALFORMED_JOBS: MalformedJob[] = [
  // Not an object at all.
  { name: 'null data', data: () => null, reason: /job data must be an object.*got null/ },
  { name: 'string data', data: () => 'key-1', reason: /job data must be an object.*got "key-1"/ },
  { name: 'number data', data: () => 42, reason: /job data must be an object.*got number 42/ },
  { name: 'array data', data: () => [{ key: 'k', ...base }], reason: /job data must be an object.*got an array/ },
  // The key.
  { name: 'missing key', data: () => ({ ...base }), reason: /"key" must be a string, got nothing/ },
  { name: 'numeric key', data: () => ({ ...base, key: 7 }), reason: /"key" must be a string, got number 7/ },
  { name: 'null key', data: () => ({ ...base, key: null }), reason: /"key" must be a string, got null/ },
  {
    name: 'nested-object key',
    data: () => ({ ...base, key: { nested: { deeper: 'k' } } }),
    reason: /"key" must be a string, got an object/,
  },
  { name: 'array key', data: () => ({ ...base, key: ['k'] }), reason: /"key" must be a string, got an array/ },
  { name: 'empty key', data: () => ({ ...base, key: '' }), reason: /"key" must be 1 to 1024 characters, got 0/ },
  {
    name: 'key one too long',
    data: () => ({ ...base, key: 'k'.repeat(MAX_KEY_LENGTH + 1) }),
    reason: /"key" must be 1 to 1024 characters, got 1025/,
  },
  {
    name: '2 MB key',
    data: () => ({ ...base, key: 'x'.repeat(2 * 1024 * 1024) }),
    reason: /"key" must be 1 to 1024 characters, got 2097152/,
  },
  {
    name: 'emoji key over the limit',
    data: () => ({ ...base, key: '🔥'.repeat(600) }),
    reason: /"key" must be 1 to 1024 characters, got 1200/,
  },
  // The strategy.
  { name: 'missing strategy', data: () => ({ key: 'k', computeMs: 10 }), reason: /"strategy" must be one of .*got nothing/ },
  { name: 'unknown strategy', data: () => ({ ...base, key: 'k', strategy: 'nope' }), reason: /"strategy" must be one of .*got "nope"/ },
  {
    name: 'strategy in capitals',
    data: () => ({ ...base, key: 'k', strategy: 'REDIS-LOCK' }),
    reason: /"strategy" must be one of .*got "REDIS-LOCK"/,
  },
  {
    name: 'object strategy',
    data: () => ({ ...base, key: 'k', strategy: { name: 'redis-lock' } }),
    reason: /"strategy" must be one of .*got an object/,
  },
  // computeMs: types, NaN-ish strings, sizes.
  {
    name: 'string computeMs',
    data: () => ({ ...base, key: 'k', computeMs: '100' }),
    reason: /"computeMs" must be a whole number .*got "100"/,
  },
  {
    name: '"NaN" computeMs',
    data: () => ({ ...base, key: 'k', computeMs: 'NaN' }),
    reason: /"computeMs" must be a whole number .*got "NaN"/,
  },
  {
    name: '"Infinity" computeMs',
    data: () => ({ ...base, key: 'k', computeMs: 'Infinity' }),
    reason: /"computeMs" must be a whole number .*got "Infinity"/,
  },
  {
    name: 'NaN computeMs (null in JSON)',
    data: () => ({ ...base, key: 'k', computeMs: Number.NaN }),
    reason: /"computeMs" must be a whole number .*got null/,
  },
  {
    name: 'negative computeMs',
    data: () => ({ ...base, key: 'k', computeMs: -1 }),
    reason: /"computeMs" must be a whole number .*got number -1/,
  },
  {
    name: 'fractional computeMs',
    data: () => ({ ...base, key: 'k', computeMs: 0.5 }),
    reason: /"computeMs" must be a whole number .*got number 0\.5/,
  },
  {
    name: 'computeMs one too large',
    data: () => ({ ...base, key: 'k', computeMs: MAX_COMPUTE_MS + 1 }),
    reason: new RegExp(`"computeMs" must be a whole number from 0 to ${MAX_COMPUTE_MS}, got number ${MAX_COMPUTE_MS + 1}`),
  },
  {
    name: 'huge computeMs',
    data: () => ({ ...base, key: 'k', computeMs: 1e300 }),
    reason: /"computeMs" must be a whole number .*got number 1e\+300/,
  },
  {
    name: 'object computeMs',
    data: () => ({ ...base, key: 'k', computeMs: { ms: 5 } }),
    reason: /"computeMs" must be a whole number .*got an object/,
  },
  // runId.
  { name: 'numeric runId', data: () => ({ ...base, key: 'k', runId: 5 }), reason: /"runId" must be a string .*got number 5/ },
  {
    name: 'empty runId',
    data: () => ({ ...base, key: 'k', runId: '' }),
    reason: /"runId" must be a string of 1 to 128 characters, got ""/,
  },
  {
    name: 'runId too long',
    data: () => ({ ...base, key: 'k', runId: 'r'.repeat(129) }),
    reason: /"runId" must be a string of 1 to 128 characters, got a string of 129 characters/,
  },
  // Fields that must not be there.
  { name: 'unknown field', data: () => ({ ...base, key: 'k', extra: true }), reason: /unknown field\(s\) "extra"/ },
  {
    name: '__proto__ field',
    data: () => JSON.parse('{"key":"k","strategy":"redis-lock","__proto__":{"polluted":true}}'),
    reason: /unknown field\(s\) "__proto__"/,
  },
  {
    name: 'constructor field',
    data: () => ({ ...base, key: 'k', constructor: { prototype: { polluted: true } } }),
    reason: /unknown field\(s\) "constructor"/,
  },
];

/** Keys that are odd but valid: each must get its own value and round-trip exactly. */
export const ODD_KEYS: { name: string; key: string }[] = [
  { name: 'braces', key: '{user}:42' },
  { name: 'unbalanced braces', key: '}{' },
  { name: 'empty braces', key: '{}' },
  { name: 'hash-tag lookalike', key: 'cs-fault:{main-1}:value' },
  { name: 'glob star', key: '*' },
  { name: 'glob characters', key: 'user:?[a-z]*\\' },
  { name: 'BullMQ key lookalike', key: 'bull:faults-bad-input:1' },
  { name: 'spaces and newlines', key: ' a key\twith\nwhitespace ' },
  { name: 'NUL character', key: 'nul\u0000byte' },
  { name: 'cyrillic', key: 'ключ' },
  { name: 'japanese', key: '日本語のキー' },
  { name: 'emoji', key: '🔥🧊' },
  { name: 'right-to-left', key: 'مفتاح' },
  { name: 'precomposed é', key: 'caf\u00e9' },
  { name: 'combining é', key: 'cafe\u0301' },
  { name: 'zero-width space', key: 'zero\u200bwidth' },
  { name: 'replacement character', key: '\ufffd' },
  { name: 'lone high surrogate', key: '\ud800' },
  { name: 'lone low surrogate', key: '\udfff' },
  { name: '__proto__', key: '__proto__' },
  { name: 'constructor', key: 'constructor' },
  { name: 'toString', key: 'toString' },
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the key is a log4j-style injection attempt, on purpose
  { name: 'template injection', key: '${jndi:ldap://x}%s%n' },
  { name: 'quotes and backslashes', key: '"\'`\\"' },
  { name: 'longest key', key: 'k'.repeat(MAX_KEY_LENGTH) },
];
