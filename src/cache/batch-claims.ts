import type { CacheKeys } from '../keys.js';
import type { Claim } from './claim.js';
import { claimMany } from './claim-many.js';
import type { Call, StrategyDeps } from './context.js';
import { giveBackLate } from './holder.js';
import { redisLockClaim } from './strategies/redis-lock.js';
import { gatedClaim, invalidated } from './strategies/steps.js';

interface Asked {
  call: Call<unknown>;
  keys: CacheKeys;
  resolve: (claim: Claim<unknown>) => void;
  reject: (err: unknown) => void;
}

/**
 * The claims of one getManyOrCompute call. Each of its keys that must go to Redis asks here from
 * inside its own flight (strategies/shared-flight.ts), so that a getOrCompute of the same key in
 * this process joins it, and it joins theirs; the keys that ask in the same turn are claimed
 * together (claim-many.ts: one script, one per slot on a cluster). Once every claim is answered,
 * the keys this call now holds go to `onHeld` (one batch computation for them all) before any
 * key goes on, computing or waiting as getOrCompute does.
 */
export class BatchClaims {
  private asked: Asked[] = [];

  constructor(
    private readonly deps: StrategyDeps,
    private readonly onHeld: (keys: string[]) => void,
  ) {}

  claim<T>(call: Call<T>, keys: CacheKeys): Promise<Claim<T>> {
    return new Promise<Claim<T>>((resolve, reject) => {
      if (this.asked.length === 0) queueMicrotask(() => void this.claimAsked());
      this.asked.push({ call: call as Call<unknown>, keys, resolve: resolve as Asked['resolve'], reject });
    });
  }

  private async claimAsked(): Promise<void> {
    const asked = this.asked;
    this.asked = [];
    const { deps } = this;
    const claims = claimMany<unknown>(
      deps.redis,
      asked.map((a) => a.keys),
      deps.lockTtlMs,
      redisLockClaim(deps),
      (routeKey, step, abandoned) => deps.gate.run(routeKey, step, abandoned),
      (i, lease) => giveBackLate(asked[i]!.call, deps, asked[i]!.keys, lease),
      asked[0]?.call,
    );
    const settled = await Promise.allSettled(claims.map((claimed, i) => claimed.then((c) => this.uncovered(asked[i]!, c))));
    this.onHeld(asked.filter((_, i) => isLock(settled[i]!)).map((a) => a.call.key));
    settled.forEach((result, i) => {
      if (result.status === 'fulfilled') asked[i]!.resolve(result.value);
      else asked[i]!.reject(result.reason);
    });
  }

  /**
   * A claim whose value an invalidation covers (tags.ts) counts as a miss: a value is claimed
   * again over it, alone (rare: the batch's other keys wait for no more than its round trips); a
   * stale value is dropped.
   */
  private async uncovered({ call, keys }: Asked, claimed: Claim<unknown>): Promise<Claim<unknown>> {
    const found = claimed.kind === 'value' || claimed.kind === 'stale' ? claimed.envelope : claimed.stale;
    const floor = found ? await invalidated(call, this.deps, found) : null;
    if (floor === null) return claimed;
    if (claimed.kind === 'lock' || claimed.kind === 'busy') return { ...claimed, stale: null };
    return gatedClaim(call, this.deps, keys, { ...redisLockClaim(this.deps), floor });
  }
}

function isLock(result: PromiseSettledResult<Claim<unknown>>): boolean {
  return result.status === 'fulfilled' && result.value.kind === 'lock';
}
