import { expect } from 'vitest';
import { createGuard } from '../../src/cache/guard.js';
import { STRATEGIES } from '../../src/cache/strategy.js';
import type { SupportedRedisClient } from '../../src/redis/client.js';

/** The tags the calls use: on a cluster their records fall on several slots (and masters). */
export const TAGS = ['acl-a', 'acl-b', 'acl-c', 'acl-d', 'acl-e', 'acl-f'];

/**
 * Every call of the tags and namespaces feature (issue 28), as two processes would make them, each
 * with an L1 tier: a tagged getOrCompute of every strategy (the unlocked ones ask the server's
 * TIME in a script), a tagged set (TIME too), a tagged batch whose computation adds a tag, tagged
 * reads (MGET of the records, outside scripts), invalidateTags (a script: TIME, GET, SET; the
 * bus announces it), a namespace's and a nested namespace's calls and clear(). For the ACL tests:
 * run as a documented user, the server's ACL LOG must stay empty.
 */
export async function runTaggedCalls(redis: SupportedRedisClient, peerRedis: SupportedRedisClient, keyPrefix: string): Promise<void> {
  const options = { keyPrefix, valueTtlMs: 60_000, l1: { maxEntries: 100 } };
  const guard = createGuard({ ...options, redis });
  const peer = createGuard({ ...options, redis: peerRedis });
  const sources = async (g: typeof guard, keys: string[]) =>
    [...(await g.getManyOrCompute(keys, async (held) => Object.fromEntries(held.map((k) => [k, k])), { tags: TAGS })).values()].map((r) =>
      'source' in r ? r.source : r.error.message,
    );
  try {
    for (const [i, strategy] of STRATEGIES.entries()) {
      const tags = [TAGS[i % TAGS.length]!, TAGS[(i + 3) % TAGS.length]!];
      await expect(guard.getOrCompute(`tagged-${strategy}`, async () => strategy, { strategy, tags })).resolves.toEqual({
        value: strategy,
        source: 'computed',
      });
      await expect(peer.getOrCompute(`tagged-${strategy}`, async () => 'again', { strategy, tags })).resolves.toEqual({
        value: strategy,
        source: 'cache',
      });
    }
    await guard.set('tagged-set', 'written', { tags: [TAGS[1]!] });
    await expect(peer.getOrCompute('tagged-set', async () => 'computed')).resolves.toEqual({ value: 'written', source: 'cache' });
    const batch = ['batch-1', 'batch-2', 'batch-3'];
    await guard.getManyOrCompute(batch, async (held, ctx) => {
      ctx.addTags(held[0]!, [TAGS[2]!]);
      return Object.fromEntries(held.map((k) => [k, k]));
    });
    expect(await sources(peer, batch)).toEqual(['cache', 'cache', 'cache']);

    // Read after it by the guard that invalidated: its own tier drops what it covers before
    // invalidateTags resolves (the peer's, when the bus delivers the announcement).
    await guard.invalidateTags(TAGS);
    for (const strategy of STRATEGIES) {
      const answer = await guard.getOrCompute(`tagged-${strategy}`, async () => 'after', { strategy });
      expect(answer, strategy).toEqual({ value: 'after', source: 'computed' });
    }
    await expect(guard.getOrCompute('tagged-set', async () => 'after')).resolves.toEqual({ value: 'after', source: 'computed' });
    expect(await sources(guard, batch)).toEqual(['computed', 'cache', 'cache']);

    const users = guard.namespace('users');
    await users.getOrCompute('1', async () => 'u1', { tags: [TAGS[4]!] });
    await users.namespace('eu').getOrCompute('2', async () => 'u2');
    await users.set('3', 'u3');
    await expect(peer.namespace('users').getOrCompute('1', async () => 'again')).resolves.toEqual({ value: 'u1', source: 'cache' });
    await users.clear();
    await expect(users.getOrCompute('1', async () => 'after')).resolves.toEqual({ value: 'after', source: 'computed' });
    await expect(users.namespace('eu').getOrCompute('2', async () => 'after')).resolves.toEqual({ value: 'after', source: 'computed' });
    await expect(peer.namespace('users').delete('3')).resolves.toBe(true);
  } finally {
    await Promise.all([guard.close(), peer.close()]);
  }
}
