/**
 * The guard's spans, on a real Redis, collected by OpenTelemetry's in-memory exporter. Guards
 * with their own connections stand for separate processes: what links a waiter to the holder's
 * computation is what crosses processes (the traceparent inside the stored value), not memory
 * they share.
 */
import { context, trace, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { decodeEnvelope } from '../src/cache/envelope.js';
import { cacheKeys } from '../src/keys.js';
import { openTelemetry } from '../src/otel/index.js';
import { closeGuards, processGuard } from './support/guards.js';
import { closeAll, connect, uniquePrefix } from './support/redis.js';
import { sleep, waitUntil } from './support/wait.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const tracer: Tracer = provider.getTracer('test');
const contextManager = new AsyncLocalStorageContextManager();

beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
});
afterAll(async () => {
  context.disable();
  await provider.shutdown();
});
beforeEach(() => exporter.reset());
afterEach(closeGuards);
const admin = connect();
afterAll(() => closeAll(admin));

const spans = () => exporter.getFinishedSpans();
/** A span's events but the one-off `script.not-cached` of a script's first run on a fresh Redis. */
const steps = (s: ReadableSpan) => s.events.map((e) => e.name).filter((n) => n !== 'script.not-cached');
const named = (name: string) => spans().filter((s) => s.name === name);
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
const attr = (s: ReadableSpan, name: string) => s.attributes[name];

/** A request of the caller's own, as a web framework would start it: the guard's span nests under it. */
function inRequest<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const span = tracer.startSpan(name, { root: true });
  return context.with(trace.setSpan(context.active(), span), fn).finally(() => span.end());
}

describe('tracing', () => {
  it('a redis-lock burst over two processes: one computation span, and every waiter links to it', async () => {
    const prefix = uniquePrefix('trace-burst');
    const a = processGuard({ keyPrefix: prefix, tracing: openTelemetry({ tracer }) });
    const b = processGuard({ keyPrefix: prefix, tracing: openTelemetry({ tracer }) });
    const compute = async () => {
      // The caller's own span inside the computation: a child of the computation's span.
      tracer.startSpan('fetch from the origin').end();
      await sleep(200);
      return 'value';
    };
    const results = await Promise.all(
      [a, b].flatMap(({ guard }, p) =>
        Array.from({ length: 10 }, (_, i) =>
          inRequest(`request ${p}.${i}`, () => guard.getOrCompute('k', compute, { strategy: 'redis-lock' })),
        ),
      ),
    );

    const requests = spans().filter((s) => s.name.startsWith('request '));
    const calls = named('cache-stampede getOrCompute');
    expect(requests).toHaveLength(20);
    expect(calls).toHaveLength(20);
    // Each call's span is a child of its own request: 20 traces, one per request.
    for (const call of calls) {
      const request = requests.find((r) => r.spanContext().spanId === parentOf(call));
      expect(request, 'the request span the call nests under').toBeDefined();
      expect(call.spanContext().traceId).toBe(request!.spanContext().traceId);
      expect(attr(call, 'cache_stampede.strategy')).toBe('redis-lock');
    }
    expect(new Set(calls.map((c) => c.spanContext().traceId)).size).toBe(20);

    const [computation, ...more] = named('cache-stampede compute');
    expect(more).toEqual([]);
    const holder = calls.find((c) => c.spanContext().spanId === parentOf(computation!))!;
    expect(attr(holder, 'cache_stampede.source')).toBe('computed');
    expect(attr(holder, 'cache_stampede.fence')).toBe(attr(computation!, 'cache_stampede.fence'));
    const [origin] = named('fetch from the origin');
    expect(parentOf(origin!)).toBe(computation!.spanContext().spanId);

    // Every call that waited (in the holder's process or the other one) links to that computation.
    const waited = calls.filter((c) => attr(c, 'cache_stampede.source') === 'waited');
    expect(waited).toHaveLength(results.filter((r) => r.source === 'waited').length);
    expect(waited.length).toBe(19);
    for (const call of waited) {
      expect(call.links.map((l) => l.context.spanId)).toEqual([computation!.spanContext().spanId]);
      expect(call.links[0]!.context.traceId).toBe(computation!.spanContext().traceId);
    }
    // The other process's callers waited through Redis: a wait span each, with how it ended.
    const waits = named('cache-stampede wait');
    expect(waits.length).toBeGreaterThanOrEqual(1);
    for (const w of waits) {
      expect(attr(w, 'cache_stampede.wait.outcome')).toBe('value');
      expect(calls.some((c) => c.spanContext().spanId === parentOf(w))).toBe(true);
    }
    // The holder's value carries its computation's traceparent: what crosses processes.
    const stored = decodeEnvelope<string>(await admin.hget(cacheKeys(prefix, 'k').value, 'envelope'));
    expect(stored?.trace).toBe(`00-${computation!.spanContext().traceId}-${computation!.spanContext().spanId}-01`);
  });

  it('a cache hit: one span, its tier, no link; the key is recorded only when asked, cut to its length', async () => {
    const prefix = uniquePrefix('trace-hit');
    const plain = processGuard({ keyPrefix: prefix, tracing: openTelemetry({ tracer }) });
    const keyed = processGuard({ keyPrefix: prefix, tracing: openTelemetry({ tracer, keys: { maxLength: 8 } }) });
    await plain.guard.getOrCompute('user:42:profile', async () => 'p');
    exporter.reset();
    await plain.guard.getOrCompute('user:42:profile', async () => 'never');
    await keyed.guard.getOrCompute('user:42:profile', async () => 'never');
    const [first, second] = named('cache-stampede getOrCompute');
    expect(attr(first!, 'cache_stampede.source')).toBe('cache');
    expect(attr(first!, 'cache_stampede.tier')).toBe('redis');
    expect(first!.links).toEqual([]);
    expect(steps(first!)).toEqual(['cache.hit']);
    expect(attr(first!, 'cache_stampede.key')).toBeUndefined();
    expect(attr(second!, 'cache_stampede.key')).toBe('user:42:');
    expect(() => openTelemetry({ keys: { maxLength: 0 } })).toThrow(/maxLength/);
  });

  it('set, delete and lock are spans; a failed computation marks its spans failed', async () => {
    const prefix = uniquePrefix('trace-ops');
    const { guard } = processGuard({ keyPrefix: prefix, tracing: openTelemetry({ tracer }) });
    await guard.set('k', 1);
    await guard.delete('k');
    const held = await guard.lock('job');
    await held.release();
    await expect(
      guard.getOrCompute('bad', async () => {
        throw new Error('origin down');
      }),
    ).rejects.toThrow('origin down');

    const [set] = named('cache-stampede set');
    expect(steps(set!)).toEqual(['cache.write']);
    expect(attr(set!, 'cache_stampede.fence')).toBeGreaterThan(0);
    expect(steps(named('cache-stampede delete')[0]!)).toEqual(['cache.delete']);
    expect(attr(named('cache-stampede lock')[0]!, 'cache_stampede.fence')).toBe(held.fence);
    const [failed] = named('cache-stampede compute');
    expect(failed!.status).toMatchObject({ code: 2, message: 'origin down' });
    const call = named('cache-stampede getOrCompute').find((c) => c.spanContext().spanId === parentOf(failed!))!;
    expect(call.status).toMatchObject({ code: 2, message: 'origin down' });
  });

  it('swr: the background refresh is a trace of its own, linked to the request that started it', async () => {
    const prefix = uniquePrefix('trace-swr');
    const { guard } = processGuard({ keyPrefix: prefix, valueTtlMs: 100, tracing: openTelemetry({ tracer }) });
    await guard.getOrCompute('k', async () => 'old', { strategy: 'swr' });
    await sleep(150);
    exporter.reset();
    const served = await inRequest('request', () => guard.getOrCompute('k', async () => 'new', { strategy: 'swr' }));
    expect(served).toEqual({ value: 'old', source: 'stale' });
    await waitUntil('the refresh span ended', () => named('cache-stampede refresh').length === 1);

    const [call] = named('cache-stampede getOrCompute');
    const [refresh] = named('cache-stampede refresh');
    expect(attr(call!, 'cache_stampede.stale.reason')).toBe('refreshing');
    expect(parentOf(refresh!)).toBeUndefined();
    expect(refresh!.spanContext().traceId).not.toBe(call!.spanContext().traceId);
    expect(refresh!.links.map((l) => l.context.spanId)).toEqual([call!.spanContext().spanId]);
    expect(attr(refresh!, 'cache_stampede.refresh.reason')).toBe('stale');
    const [computation] = named('cache-stampede compute');
    expect(parentOf(computation!)).toBe(refresh!.spanContext().spanId);
    // The refresh's own steps are its span's events, not the (ended) request's.
    expect(refresh!.events.map((e) => e.name)).toEqual(
      expect.arrayContaining(['lock.acquired', 'refresh.start', 'recompute.start', 'cache.write', 'refresh.end']),
    );
    expect(call!.events.map((e) => e.name)).not.toContain('refresh.start');
  });

  it('xfetch: an early refresh is a span of its own too', async () => {
    const prefix = uniquePrefix('trace-xfetch');
    // XFetch refreshes when computeMs x beta x -ln(random) reaches the fresh time left: with this
    // random, 50 ms x 27.6 > the 1000 ms a value has: the first read refreshes, always.
    const random = () => 1e-12;
    const { guard } = processGuard({ keyPrefix: prefix, valueTtlMs: 1000, random, tracing: openTelemetry({ tracer }) });
    await guard.getOrCompute(
      'k',
      async () => {
        await sleep(50);
        return 'v';
      },
      { strategy: 'xfetch' },
    );
    exporter.reset();
    await inRequest('request', () => guard.getOrCompute('k', async () => 'v2', { strategy: 'xfetch' }));
    await waitUntil('the refresh span ended', () => named('cache-stampede refresh').length === 1);
    const [call] = named('cache-stampede getOrCompute');
    const [refresh] = named('cache-stampede refresh');
    expect(attr(refresh!, 'cache_stampede.refresh.reason')).toBe('early');
    expect(refresh!.links.map((l) => l.context.spanId)).toEqual([call!.spanContext().spanId]);
  });

  it('a value the guard did not write, with a "trace" that is not a traceparent: read as a value, never linked', () => {
    const envelope = decodeEnvelope('{"value":1,"fence":0,"computedAt":0,"computeMs":0,"ttlMs":1,"freshUntil":9e15,"trace":"<script>"}');
    expect(envelope).not.toBeNull();
    expect(envelope).not.toHaveProperty('trace');
    const zeros = `00-${'0'.repeat(32)}-${'0'.repeat(16)}-01`;
    expect(decodeEnvelope(`{"value":1,"trace":"${zeros}"}`)).not.toHaveProperty('trace');
  });

  it('without an SDK (the API alone): calls work, and the stored value carries no trace', async () => {
    const prefix = uniquePrefix('trace-nosdk');
    const { guard } = processGuard({ keyPrefix: prefix, tracing: openTelemetry() }); // the global provider: none registered
    expect(await guard.getOrCompute('k', async () => 'v')).toEqual({ value: 'v', source: 'computed' });
    const stored = decodeEnvelope(await admin.hget(cacheKeys(prefix, 'k').value, 'envelope'));
    expect(stored).not.toHaveProperty('trace');
    expect(spans()).toEqual([]);
  });

  it('refuses a tracing option that is not one, in one line', async () => {
    const { createGuard } = await import('../src/cache/guard.js');
    expect(() => createGuard({ redis: admin, tracing: {} as never })).toThrow(/tracing must have a startSpan function/);
  });
});
