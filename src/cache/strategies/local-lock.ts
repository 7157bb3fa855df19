import { cacheKeys } from '../../keys.js';
import { logEvent } from '../../logger.js';
import type { Call, GuardResult, StrategyDeps } from '../context.js';
import { isFresh } from '../envelope.js';
import { recompute } from '../recompute.js';
import { readEnvelope, writeEnvelope } from '../store.js';

/**
 * A per-key mutex inside this process, as in the classic single-process fix: callers in one
 * process take turns, so the process computes once; other processes know nothing of it and
 * each computes too.
 */
export async function getWithLocalLock<T>(call: Call<T>, deps: StrategyDeps): Promise<GuardResult<T>> {
  const keys = cacheKeys(deps.keyPrefix, call.key);
  const cached = await readEnvelope<T>(deps.redis, keys);
  if (cached && isFresh(cached)) {
    logEvent(call.log, 'info', 'cache.hit');
    return { value: cached.value, source: 'cache' };
  }
  logEvent(call.log, 'info', 'cache.miss');

  return deps.mutex.runExclusive(call.key, async (waited) => {
    // Double-checked locking: whoever held the mutex before us has probably filled the cache
    // while we queued; reading again under the mutex is what turns N misses into 1 computation.
    const filled = await readEnvelope<T>(deps.redis, keys);
    if (filled && isFresh(filled)) return { value: filled.value, source: waited ? 'waited' : 'cache' };

    const envelope = await recompute(call, deps, 0);
    await writeEnvelope(deps.redis, keys, envelope, null, deps.graceMs, call.log);
    logEvent(call.log, 'info', 'cache.write', { fence: 0 });
    return { value: envelope.value, source: 'computed' };
  });
}
