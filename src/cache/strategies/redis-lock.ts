import { WaitTimeoutError } from '../../errors.js';
import { cacheKeys, type CacheKeys } from '../../keys.js';
import { logEvent } from '../../logger.js';
import { acquireLock, releaseLock, type LockLease } from '../../lock/redis-lock.js';
import type { Call, GuardResult, StrategyDeps } from '../context.js';
import type { Envelope } from '../envelope.js';
import { elapsed, recompute } from '../recompute.js';
import { readEnvelope, writeEnvelope } from '../store.js';

/**
 * Fleet-wide protection. Inside a process, concurrent callers for one key share one flight
 * (one read, one lock attempt); across processes one holder of the Redis lock recomputes and
 * the others wait for its notification. Exactly one recomputation per key per expiry.
 */
export async function getWithRedisLock<T>(call: Call<T>, deps: StrategyDeps): Promise<GuardResult<T>> {
  const { value: result, shared } = await deps.flight.do(call.key, () => readOrFill(call as Call<unknown>, deps));
  if (!shared) return result as GuardResult<T>;

  // This caller rode on another caller's flight in this process: it hit the cache if that one
  // did, otherwise it waited for a computation it did not run.
  const hit = result.source === 'cache';
  logEvent(call.log, 'info', hit ? 'cache.hit' : 'cache.miss', { coalesced: true });
  logEvent(call.log, 'info', 'flight.joined');
  return { value: result.value as T, source: hit ? 'cache' : 'waited' };
}

async function readOrFill(call: Call<unknown>, deps: StrategyDeps): Promise<GuardResult<unknown>> {
  const keys = cacheKeys(deps.keyPrefix, call.key);
  const cached = await readEnvelope(deps.redis, keys);
  if (cached) {
    logEvent(call.log, 'info', 'cache.hit');
    return { value: cached.value, source: 'cache' };
  }
  logEvent(call.log, 'info', 'cache.miss');
  return fill(call, deps, keys);
}

/** Take the lock and compute, or wait for whoever has it; contend again if it vanished. */
async function fill(call: Call<unknown>, deps: StrategyDeps, keys: CacheKeys): Promise<GuardResult<unknown>> {
  const giveUpAt = Date.now() + deps.maxWaitMs;
  for (;;) {
    const lease = await acquireLock(deps.redis, keys, deps.lockTtlMs, call.log);
    if (lease) return computeAsHolder(call, deps, keys, lease);

    logEvent(call.log, 'info', 'lock.busy');
    const remaining = giveUpAt - Date.now();
    if (remaining <= 0) {
      throw new WaitTimeoutError(`gave up waiting for key "${call.key}" after ${deps.maxWaitMs} ms`);
    }
    const envelope = await waitForHolder(call, deps, keys, Math.min(deps.lockTtlMs, remaining));
    if (envelope) return { value: envelope.value, source: 'waited' };
  }
}

async function computeAsHolder(
  call: Call<unknown>,
  deps: StrategyDeps,
  keys: CacheKeys,
  lease: LockLease,
): Promise<GuardResult<unknown>> {
  logEvent(call.log, 'info', 'lock.acquired', { fence: lease.fence });
  let envelope: Envelope;
  try {
    // Double-checked locking: the previous holder may have written and released between our
    // miss and our acquire. Reading again costs one command per holder, and saves a recompute.
    const filled = await readEnvelope(deps.redis, keys);
    if (filled) {
      await release(call, deps, keys, lease);
      return { value: filled.value, source: 'cache' };
    }
    envelope = await recompute(call, deps, lease.fence);
  } catch (err) {
    // Give the lock back now, so waiters contend again at once instead of waiting out the TTL.
    await release(call, deps, keys, lease).catch(() => {});
    throw err;
  }

  const outcome = await writeEnvelope(deps.redis, keys, envelope, lease, call.log);
  if (outcome.written) logEvent(call.log, 'info', 'cache.write', { fence: lease.fence });
  else logEvent(call.log, 'warn', 'cache.write.rejected', { fence: lease.fence, storedFence: outcome.storedFence });
  if (outcome.released) logEvent(call.log, 'info', 'lock.released', { fence: lease.fence });
  else logEvent(call.log, 'warn', 'lock.lost', { fence: lease.fence });
  return { value: envelope.value, source: 'computed' };
}

async function release(call: Call<unknown>, deps: StrategyDeps, keys: CacheKeys, lease: LockLease): Promise<void> {
  if (await releaseLock(deps.redis, keys, lease, call.log)) {
    logEvent(call.log, 'info', 'lock.released', { fence: lease.fence });
  } else {
    logEvent(call.log, 'warn', 'lock.lost', { fence: lease.fence });
  }
}

/**
 * Wait for the holder's notification, at most `timeoutMs`. Subscribes first, then re-reads:
 * a value written between our miss and our SUBSCRIBE is found by the read, one written after
 * arrives as a message. Returns the value, or null when the holder gave up or vanished.
 */
async function waitForHolder(
  call: Call<unknown>,
  deps: StrategyDeps,
  keys: CacheKeys,
  timeoutMs: number,
): Promise<Envelope | null> {
  const started = performance.now();
  logEvent(call.log, 'info', 'wait.start', { timeoutMs });
  const subscription = await deps.notifier().listen(keys.channel);
  let outcome: 'value' | 'released' | 'timeout' = 'value';
  try {
    let envelope = await readEnvelope(deps.redis, keys);
    if (!envelope) {
      const message = await subscription.next(timeoutMs);
      envelope = message === 'written' ? await readEnvelope(deps.redis, keys) : null;
      if (!envelope) outcome = message === 'timeout' ? 'timeout' : 'released';
    }
    return envelope;
  } finally {
    subscription.close();
    logEvent(call.log, 'info', 'wait.end', { waitedMs: elapsed(started), outcome });
  }
}
