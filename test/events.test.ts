/**
 * The guard's events (subscribeEvents, on node:diagnostics_channel): every step of a call is one
 * event carrying the call's key, strategy and context, and the same step is the log line, with
 * the same fields. Real Redis; guards with their own connections stand for processes.
 */
import { hasSubscribers } from 'node:diagnostics_channel';
import type { Job } from 'bullmq';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createProcessor } from '../src/bullmq/processor.js';
import { EVENTS_CHANNEL, subscribeEvents, type GuardEvent } from '../src/events.js';
import { closeGuards, processGuard } from './support/guards.js';
import { uniquePrefix } from './support/redis.js';
import { deferred } from './support/wait.js';

/**
 * Events of one test's calls (the key prefix is in no event, so filter by key), without
 * `script.not-cached`: whether a script was already cached depends on the tests before.
 */
function recordEvents(keyPrefix: string) {
  const events: GuardEvent[] = [];
  const stop = subscribeEvents((e) => {
    if (e.key?.startsWith(keyPrefix) && e.event !== 'script.not-cached') events.push(e);
  });
  unsubscribes.push(stop);
  return events;
}
const unsubscribes: (() => void)[] = [];
afterEach(() => {
  for (const stop of unsubscribes.splice(0)) stop();
});
afterAll(() => closeGuards());

const names = (events: GuardEvent[]) => events.map((e) => e.event);

/** Resolves once `events` holds an event that `matches` (already there, or when it comes). */
function nextEvent(events: GuardEvent[], matches: (e: GuardEvent) => boolean): Promise<void> {
  if (events.some(matches)) return Promise.resolve();
  return new Promise((resolve) => {
    const stop = subscribeEvents((e) => {
      if (matches(e)) {
        stop();
        resolve();
      }
    });
  });
}

describe('subscribeEvents', () => {
  it('reports each step of a call with its key, strategy and the context passed, untouched', async () => {
    const a = processGuard({ keyPrefix: uniquePrefix('events') });
    const events = recordEvents('ev:');
    const context = { runId: 'r1', jobId: '7', workerId: 'w1' };
    await a.guard.getOrCompute('ev:1', async () => 42, { strategy: 'redis-lock', context });
    await a.guard.getOrCompute('ev:1', async () => 43, { strategy: 'redis-lock', context });

    expect(names(events)).toEqual([
      'cache.miss',
      'lock.acquired',
      'recompute.start',
      'recompute.end',
      'cache.write',
      'lock.released',
      'cache.hit',
    ]);
    for (const e of events) {
      expect(e).toMatchObject({ key: 'ev:1', strategy: 'redis-lock', level: 'info' });
      expect(e.context).toBe(context);
    }
    const end = events.find((e) => e.event === 'recompute.end');
    expect(end?.event === 'recompute.end' && end.fields.durationMs).toBeGreaterThanOrEqual(0);
    expect(events.at(-1)?.fields).toEqual({ tier: 'redis' });
  });

  it('is what the log lines say: the same events, in the same order, with the same fields', async () => {
    const a = processGuard({ keyPrefix: uniquePrefix('events-lines') });
    const events = recordEvents('lines:');
    for (const strategy of ['none', 'local-lock', 'redis-lock', 'swr', 'xfetch'] as const) {
      await a.guard.getOrCompute(`lines:${strategy}`, async () => strategy, { strategy });
      await a.guard.getOrCompute(`lines:${strategy}`, async () => strategy, { strategy });
    }
    const lines = a.capture.lines.filter((l) => typeof l.event === 'string' && l.event !== 'script.not-cached');
    expect(lines.map((l) => l.event)).toEqual(names(events));
    events.forEach((e, i) => {
      const { level: _level, time: _time, pid: _pid, hostname: _host, msg: _msg, event, ...fields } = lines[i]!;
      expect(event).toBe(e.event);
      expect(fields).toEqual(e.fields);
    });
  });

  it('reports an L1 hit with tier l1, and set and delete with their key and context but no strategy', async () => {
    const a = processGuard({ keyPrefix: uniquePrefix('events-l1'), l1: { maxEntries: 10 } });
    const events = recordEvents('l1:');
    await a.guard.set('l1:k', 'v', { context: { requestId: 'set-1' } });
    await a.guard.getOrCompute('l1:k', async () => 'computed', { strategy: 'swr', context: { requestId: 'get-1' } });
    await a.guard.delete('l1:k', { context: { requestId: 'del-1' } });
    expect(events.map((e) => [e.event, e.strategy, e.context, e.fields])).toEqual([
      ['cache.write', undefined, { requestId: 'set-1' }, { fence: expect.any(Number), set: true }],
      ['cache.hit', 'swr', { requestId: 'get-1' }, { tier: 'l1' }],
      ['cache.delete', undefined, { requestId: 'del-1' }, { existed: true }],
    ]);
  });

  it("a waiter in another process reports its wait's outcome and duration with its own context", async () => {
    const prefix = uniquePrefix('events-wait');
    const holder = processGuard({ keyPrefix: prefix });
    const waiter = processGuard({ keyPrefix: prefix });
    const events = recordEvents('wait:');
    const started = deferred();
    const gate = deferred<string>();
    const computing = holder.guard.getOrCompute(
      'wait:k',
      () => {
        started.resolve();
        return gate.promise;
      },
      { context: { who: 'holder' } },
    );
    await started.promise;
    const waiting = waiter.guard.getOrCompute('wait:k', async () => 'not me', { context: { who: 'waiter' } });
    // Events arrive as they happen: the waiter is waiting before the holder finishes.
    await nextEvent(events, (e) => e.event === 'wait.start');
    gate.resolve('value');
    expect(await waiting).toEqual({ value: 'value', source: 'waited' });
    await computing;
    const waitEnd = events.find((e) => e.event === 'wait.end');
    expect(waitEnd).toMatchObject({ context: { who: 'waiter' }, strategy: 'redis-lock', fields: { outcome: 'value' } });
    expect(waitEnd?.event === 'wait.end' && waitEnd.fields.waitedMs).toBeGreaterThanOrEqual(0);
    expect(events.filter((e) => e.event === 'recompute.start').map((e) => e.context)).toEqual([{ who: 'holder' }]);
  });

  it('a holder whose value a set replaced reports the rejected write and the lost lock, with its context', async () => {
    const prefix = uniquePrefix('events-rejected');
    const holder = processGuard({ keyPrefix: prefix, lockTtlMs: 30_000 });
    const writer = processGuard({ keyPrefix: prefix });
    const events = recordEvents('rej:');
    const started = deferred();
    const gate = deferred<string>();
    const computing = holder.guard.getOrCompute(
      'rej:k',
      () => {
        started.resolve();
        return gate.promise; // ignores its signal: it writes after the set
      },
      { context: { jobId: 'old' } },
    );
    await started.promise;
    await writer.guard.set('rej:k', 'newer');
    gate.resolve('older');
    await computing;
    const ofHolder = events.filter((e) => e.context?.jobId === 'old').map((e) => e.event);
    expect(ofHolder).toContain('cache.write.rejected');
    expect(ofHolder.filter((e) => e === 'lock.lost')).toHaveLength(1);
  });

  it("the processor's job events carry the job's runId, jobId and workerId, also for invalid data", async () => {
    const a = processGuard({ keyPrefix: uniquePrefix('events-job') });
    const events = recordEvents('job:');
    const processor = createProcessor({ guard: a.guard, workerId: 'w-9', compute: () => async () => 'v' });
    const job = (id: string, data: unknown) => ({ id, data, timestamp: Date.now() }) as unknown as Job;
    await processor(job('1', { key: 'job:k', strategy: 'none', runId: 'run-a' }));
    await expect(processor(job('2', { key: 'job:bad', strategy: 'none', computeMs: 5 }))).rejects.toThrow('invalid job data');
    const jobEvents = events.filter((e) => e.event.startsWith('job.'));
    expect(jobEvents.map((e) => [e.event, e.key, e.strategy, e.context])).toEqual([
      ['job.completed', 'job:k', 'none', { runId: 'run-a', jobId: '1', workerId: 'w-9' }],
      ['job.failed', 'job:bad', 'none', { runId: 'none', jobId: '2', workerId: 'w-9' }],
    ]);
    // The guard's events of job 1 carry the same context object as its job.completed.
    const ofJob1 = events.filter((e) => e.context?.jobId === '1');
    expect(new Set(ofJob1.map((e) => e.context)).size).toBe(1);
    expect(names(ofJob1)).toEqual(['cache.miss', 'recompute.start', 'recompute.end', 'cache.write', 'job.completed']);
  });

  it('leaves no subscriber behind once unsubscribed', () => {
    const stop = subscribeEvents(() => {});
    expect(hasSubscribers(EVENTS_CHANNEL)).toBe(true);
    stop();
    for (const other of unsubscribes.splice(0)) other();
    expect(hasSubscribers(EVENTS_CHANNEL)).toBe(false);
  });
});
