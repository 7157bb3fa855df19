import { emitEvent } from '../../events.js';
import type { Call, Answer, StrategyDeps } from '../context.js';
import { computeUnlocked, freshHit, readChecked } from './steps.js';

/** No protection: every caller that misses recomputes. This is the stampede. */
export async function getWithoutProtection<T>(call: Call<T>, deps: StrategyDeps): Promise<Answer<T>> {
  const keys = deps.keys(call.key);
  const { cached, fence } = await readChecked(call, deps, keys);
  const hit = freshHit(call, cached);
  if (hit) return hit;
  emitEvent(call, 'info', 'cache.miss');
  return computeUnlocked(call, deps, keys, fence);
}
