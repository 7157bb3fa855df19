import { cacheKeys } from '../../keys.js';
import { logEvent } from '../../logger.js';
import type { Call, GuardResult, StrategyDeps } from '../context.js';
import { isFresh } from '../envelope.js';
import { recompute } from '../recompute.js';
import { readEnvelope, writeEnvelope } from '../store.js';

/** No protection: every caller that misses recomputes. This is the stampede. */
export async function getWithoutProtection<T>(call: Call<T>, deps: StrategyDeps): Promise<GuardResult<T>> {
  const keys = cacheKeys(deps.keyPrefix, call.key);
  const cached = await readEnvelope<T>(deps.redis, keys);
  if (cached && isFresh(cached)) {
    logEvent(call.log, 'info', 'cache.hit');
    return { value: cached.value, source: 'cache' };
  }
  logEvent(call.log, 'info', 'cache.miss');
  const envelope = await recompute(call, deps, 0);
  await writeEnvelope(deps.redis, keys, envelope, null, deps.graceMs, call.log);
  logEvent(call.log, 'info', 'cache.write', { fence: 0 });
  return { value: envelope.value, source: 'computed' };
}
