import { ComputeTimeoutError, GuardClosedError, InvalidValueError, OptionsError } from '../errors.js';
import { toJson } from '../json-value.js';
import { emitEvent } from '../events.js';
import { MAX_TIMER_MS, onAbort, unrefTimeout } from '../timers.js';
import type { Envelope } from './envelope.js';
import type { Call, StrategyDeps, ValueTtl } from './context.js';
import { checkTags, MAX_TAGS } from './tags.js';

/**
 * Run the caller's computation once, logging it: one `recompute.start` is one recomputation
 * (the log report counts exactly these), `recompute.end` carries `durationMs`.
 *
 * The computation's signal aborts after the compute timeout, when the guard closes, and when
 * `lockLost` does. On a timeout or close this rejects at once, without waiting for a
 * computation that ignores its signal, so waiters are told now. A lost lock only asks the
 * computation to stop: if it finishes anyway, its write still comes and the fence decides.
 * Returns the envelope to store, with the given fence.
 *
 * Nothing of the call outlives it: the listeners on the guard's long-lived signal and on
 * `lockLost` are removed and the timer cleared when it settles (a listener left on a long-lived
 * signal would keep the call's promise, and its value, alive for as long as the guard).
 */
export async function recompute<T>(
  call: Call<T>,
  deps: StrategyDeps,
  fence: number,
  { lockLost, degraded, bornAt }: { lockLost?: AbortSignal; degraded?: boolean; bornAt?: number } = {},
): Promise<Envelope<T>> {
  // A closed guard starts no computation (one that reached here after close, a queued local-lock caller say).
  if (deps.signal.aborted) throw new GuardClosedError();
  const started = performance.now();
  const controller = new AbortController();
  let giveUp!: (reason: unknown) => void;
  const givenUp = new Promise<never>((_resolve, reject) => (giveUp = reject));
  const stop = (reason: unknown, rejectNow: boolean) => {
    controller.abort(reason);
    if (rejectNow) giveUp(reason);
  };
  const detach = [onAbort(deps.signal, () => stop(deps.signal.reason, true))];
  if (lockLost) detach.push(onAbort(lockLost, () => stop(lockLost.reason, false)));
  const timer =
    deps.computeTimeoutMs > 0
      ? unrefTimeout(
          () => stop(new ComputeTimeoutError(call.key, `computation of "${call.key}" took longer than ${deps.computeTimeoutMs} ms`), true),
          deps.computeTimeoutMs,
        )
      : undefined;

  emitEvent(call, 'info', 'recompute.start', degraded ? { fence, degraded } : { fence });
  // Traced: the computation runs in a span of its own, so the caller's own spans nest under it.
  const span = call.trace?.startCompute(fence);
  const decided: { ttl?: ValueTtl; skip?: true; tags?: string[] } = {};
  const computing = () =>
    call.compute({
      key: call.key,
      signal: controller.signal,
      setTtl: (ttl) => {
        decided.ttl = checkValueTtl(ttl);
      },
      skipCache: () => {
        decided.skip = true;
      },
      addTags: (tags) => {
        const all = new Set([...call.tags, ...(decided.tags ?? []), ...checkTags(tags, 'addTags')]);
        if (all.size > MAX_TAGS) throw new OptionsError('addTags', `a value carries at most ${MAX_TAGS} tags, got ${all.size}`);
        decided.tags = [...all];
      },
    });
  let value: T;
  try {
    value = await Promise.race([span ? span.run(computing) : computing(), givenUp]);
    // A value that does not survive JSON is a failed computation: stored, every other process
    // would read something else (or, for undefined, nothing, and compute again).
    checkValue(call.key, value);
  } catch (err) {
    emitEvent(call, 'error', 'recompute.failed', { durationMs: elapsed(started), fence, err });
    span?.end(err);
    throw err;
  } finally {
    clearTimeout(timer);
    for (const off of detach) off();
  }
  const computeMs = elapsed(started);
  emitEvent(
    call,
    'info',
    'recompute.end',
    decided.skip ? { durationMs: computeMs, fence, uncached: true } : { durationMs: computeMs, fence },
  );
  span?.end();
  const now = Date.now();
  // Jitter shortens the fresh time at random, so keys written together do not expire together.
  const ttlMs = Math.max(1, Math.round((decided.ttl?.ttlMs ?? call.ttlMs) * (1 - deps.ttlJitter * deps.random())));
  const envelope: Envelope<T> = { value, fence, computedAt: now, computeMs, ttlMs, freshUntil: now + ttlMs };
  if (decided.ttl?.graceMs !== undefined) envelope.graceMs = decided.ttl.graceMs;
  if (decided.skip) envelope.uncached = true;
  markEnvelope(envelope, call, deps, decided.tags, fence > 0 ? fence : bornAt);
  // Its waiters, in any process, link their spans to the computation's.
  const trace = span?.traceparent();
  if (trace !== undefined) envelope.trace = trace;
  return envelope;
}

/**
 * Tags and namespaces, and the moment its computation began (the holder's fence, or the server's
 * TIME asked before computing): what an invalidation is compared with (tags.ts). A marked value
 * lives at most `tagRetentionMs` from when its computation began, as long as an invalidation's record does: an invalidation is
 * never forgotten while a value it covers could still be read.
 */
export function markEnvelope(
  envelope: Envelope,
  call: Pick<Call<unknown>, 'tags' | 'ns'>,
  deps: Pick<StrategyDeps, 'graceMs' | 'tagRetentionMs'>,
  added: readonly string[] | undefined,
  bornAt: number | undefined,
): void {
  const tags = added ? [...new Set([...call.tags, ...added])] : call.tags;
  if (tags.length === 0 && call.ns.length === 0) return;
  if (tags.length > 0) envelope.tags = [...tags];
  if (call.ns.length > 0) envelope.ns = [...call.ns];
  envelope.bornAt = bornAt ?? 0;
  // Counted from when its computation began, as an invalidation that covers it began after that:
  // a computation that outlasts the invalidation must not outlive its record (tags.ts, RECORD_SLACK_MS).
  const longest = Math.max(1, deps.tagRetentionMs - Math.ceil(envelope.computeMs));
  const life = envelope.ttlMs + (envelope.graceMs ?? deps.graceMs);
  if (life > longest) {
    envelope.ttlMs = Math.min(envelope.ttlMs, longest);
    envelope.freshUntil = envelope.computedAt + envelope.ttlMs;
    envelope.graceMs = longest - envelope.ttlMs;
  }
}

/**
 * What a computation asked of its value's lifetime (`setTtl`), checked where it asks: a bad value
 * throws inside the computation, which then fails with it.
 */
function checkValueTtl(ttl: unknown): ValueTtl {
  if (typeof ttl !== 'object' || ttl === null) throw new OptionsError('setTtl', `setTtl takes { ttlMs?, graceMs? }, got ${String(ttl)}`);
  const checked: ValueTtl = {};
  for (const name of ['ttlMs', 'graceMs'] as const) {
    const ms = (ttl as ValueTtl)[name];
    if (ms === undefined) continue;
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > MAX_TIMER_MS)
      throw new OptionsError(name, `setTtl: ${name} must be a number of ms from 0 to ${MAX_TIMER_MS}, got ${String(ms)}`);
    checked[name] = Math.round(ms);
  }
  return checked;
}

/** Throws InvalidValueError when `value` would not come back from JSON as it is. */
export function checkValue(key: string, value: unknown): void {
  const { problem } = toJson(value);
  if (problem) throw new InvalidValueError(key, `the value of "${key}" does not survive JSON: ${problem}`);
}

export function elapsed(startedAt: number): number {
  return Math.round((performance.now() - startedAt) * 100) / 100;
}
