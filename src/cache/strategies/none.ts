import { emitEvent } from '../../events.js';
import type { Call, Answer, StrategyDeps } from '../context.js';
import { readWithFence } from '../store.js';
import { computeUnlocked, freshHit } from './steps.js';

/** No protection: every caller that misses recomputes. This is the stampede. */
export async function getWithoutProtection<T>(call: Call<T>, deps: StrategyDeps): Promise<Answer<T>> {
  const keys = deps.keys(call.key);
  const { cached, fence } = await deps.gate.run(keys.value, () => readWithFence<T>(deps.redis, keys));
  const hit = freshHit(call, cached);
  if (hit) return hit;
  emitEvent(call, 'info', 'cache.miss');
  return computeUnlocked(call, deps, keys, fence);
}
