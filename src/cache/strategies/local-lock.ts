import { emitEvent } from '../../events.js';
import type { Call, Answer, StrategyDeps } from '../context.js';
import { isFresh } from '../envelope.js';
import { computeUnlocked, freshHit, readChecked } from './steps.js';

/**
 * A per-key mutex inside this process, as in the classic single-process fix: callers in one
 * process take turns, so the process computes once; other processes know nothing of it and
 * each computes too.
 */
export async function getWithLocalLock<T>(call: Call<T>, deps: StrategyDeps): Promise<Answer<T>> {
  const keys = deps.keys(call.key);
  const hit = freshHit(call, (await readChecked(call, deps, keys)).cached);
  if (hit) return hit;
  emitEvent(call, 'info', 'cache.miss');

  return deps.mutex.runExclusive(call.key, async (waited) => {
    // Double-checked locking: whoever held the mutex before us has probably filled the cache
    // while we queued; reading again under the mutex is what turns N misses into 1 computation.
    const { cached: filled, fence } = await readChecked(call, deps, keys);
    if (filled && isFresh(filled)) return { value: filled.value, source: waited ? 'waited' : 'cache', envelope: filled };

    return computeUnlocked(call, deps, keys, fence);
  });
}
