import { randomUUID } from 'node:crypto';
import type { EventSource } from '../events.js';
import type { CacheKeys } from '../keys.js';
import type { RedisPort } from '../redis/port.js';
import { keySlot } from '../redis/key-slot.js';
import { LuaScript } from '../redis/script.js';
import type { LockLease } from '../lock/redis-lock.js';
import { CLAIM_LUA, claim, claimArgs, claimKeys, decodeClaim, type Claim, type ClaimOptions, type ClaimReply } from './claim.js';

// The claim of cache/claim.ts for many cache keys in one step: the same Lua, made a function of
// its KEYS and ARGV (which it then names as its own parameters, so its body is unchanged), run
// once per key. KEYS: 3 per key (lock, lease, value hash), ARGV: 7 per key, in the same order.
// Returns one claim reply per key.
const CLAIM_MANY = new LuaScript<ClaimReply[]>(
  'cache.claim-many',
  `
local function claimOne(KEYS, ARGV)
${CLAIM_LUA}
end
local replies = {}
for i = 0, #KEYS / 3 - 1 do
  replies[i + 1] = claimOne({ KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3] },
    { ARGV[7 * i + 1], ARGV[7 * i + 2], ARGV[7 * i + 3], ARGV[7 * i + 4], ARGV[7 * i + 5], ARGV[7 * i + 6], ARGV[7 * i + 7] })
end
return replies
`,
  'any',
);

/**
 * Claim many keys (read each, take its lock when it has no fresh value) in as few round trips as
 * the topology allows: one script for all of them on a single Redis; on a cluster one per slot
 * (a script's keys must share a slot), sent at once. `run` runs each step through the gate (its
 * deadline, the breaker of its node); a step answered after its deadline hands each lock it took
 * to `late`, to be given back. Returns one promise per key, in the order of `keys`: a step that
 * fails fails the keys it carried, only them.
 */
export function claimMany<T>(
  redis: RedisPort,
  keys: readonly CacheKeys[],
  ttlMs: number,
  options: ClaimOptions,
  run: <R>(routeKey: string, step: () => Promise<R>, abandoned: (late: R) => void) => Promise<R>,
  late: (index: number, lease: LockLease) => void,
  source?: EventSource,
): Array<Promise<Claim<T>>> {
  const groups = new Map<number, number[]>();
  keys.forEach((k, i) => {
    const slot = redis.isCluster ? keySlot(k.value) : 0;
    groups.set(slot, [...(groups.get(slot) ?? []), i]);
  });
  const claims = new Array<Promise<Claim<T>>>(keys.length);
  for (const members of groups.values()) {
    const tokens = members.map(() => randomUUID());
    const replies = run(
      keys[members[0]!]!.value,
      () =>
        CLAIM_MANY.run(
          redis,
          members.flatMap((i) => claimKeys(keys[i]!)),
          members.flatMap((_, n) => claimArgs(tokens[n]!, ttlMs, options)),
          source,
        ),
      (lateReplies) =>
        lateReplies.forEach(([kind, fence], n) => {
          if (kind === 'lock') late(members[n]!, { token: tokens[n]!, fence: Number(fence), ttlMs });
        }),
    );
    members.forEach((i, n) => {
      const again = () =>
        run(
          keys[i]!.value,
          () => claim<T>(redis, keys[i]!, ttlMs, options, source),
          () => {},
        );
      claims[i] = replies.then((all) => decodeClaim<T>(all[n]!, tokens[n]!, ttlMs, again));
    });
  }
  return claims;
}
