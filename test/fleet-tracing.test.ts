/**
 * Tracing across the fleet (issue 26): one trace from a producer's request to the one
 * computation it waited for.
 *
 * - The span file exporter writes the line format the span reader is built on.
 * - A worker stopped gracefully exports every span of the jobs it finished, from its buffer.
 * - A worker whose OTLP collector is out of reach completes its jobs, warns once and stops in time.
 * - A redis-lock burst of 30 jobs on one cold key over 3 real worker processes exporting over
 *   OTLP/HTTP (to a receiver this test runs), the producer tracing in this process (in memory):
 *   30 traces, each rooted at its `get-value` span; one computation; each waiter's guard span
 *   links to it.
 */
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Queue } from 'bullmq';
import { BullMQOtel } from 'bullmq-otel';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBurst, type BurstSummary } from '../scripts/burst/burst.js';
import { createRedis } from '../scripts/redis/connection.js';
import { SpanFileExporter, type SpanLine } from '../scripts/tracing/span-file-exporter.js';
import { REQUEST_SPAN, traceRequests } from '../scripts/tracing/traced-client.js';
import { createGetValueClient, type GetValueClient } from '../src/bullmq/client.js';
import type { GetValueData } from '../src/bullmq/job-data.js';
import { createQueue } from '../src/bullmq/queue.js';
import { closeAll, redisUrl, uniquePrefix } from './support/redis.js';
import { spawnWorker, type WorkerProcess } from './support/worker-process.js';

const WORKERS = 3;
const JOBS = 30;
// Long enough that every job of the burst is taken while the one holder computes.
const COMPUTE_MS = 500;
// At most 10 jobs a worker: the 30 jobs in flight together span all three workers.
const CONCURRENCY = 10;

const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;

/** A span as this test compares them, from the producer's memory or a worker's OTLP export. */
interface Seen {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  service: string;
  pid: number | undefined;
  attributes: Record<string, unknown>;
  links: Array<{ traceId: string; spanId: string }>;
}

async function stopWorker(worker: WorkerProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | string | undefined> {
  if (!worker) return undefined;
  if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill(signal);
  return worker.exit;
}

describe('the span file exporter', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cs-span-file-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('writes one JSON line per ended span, in the contract format', async () => {
    const path = join(dir, 'spans-unit.jsonl');
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'unit-service' }),
      spanProcessors: [new SimpleSpanProcessor(new SpanFileExporter(path, { workerId: 'worker-9' }))],
    });
    const tracer = provider.getTracer('unit');
    const root = tracer.startSpan('root', { kind: SpanKind.SERVER, attributes: { n: 1 } });
    const other = tracer.startSpan('other');
    const child = tracer.startSpan(
      'child',
      { kind: SpanKind.CONSUMER, links: [{ context: other.spanContext(), attributes: { why: 'waited' } }] },
      trace.setSpan(context.active(), root),
    );
    child.addEvent('step', { at: 'middle' });
    child.setStatus({ code: SpanStatusCode.ERROR, message: 'it failed' });
    child.end();
    other.end();
    root.end();
    await provider.shutdown();

    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    const spans = lines.map((line) => JSON.parse(line) as SpanLine);
    const [c, o, r] = spans as [SpanLine, SpanLine, SpanLine];
    expect(Object.keys(c)).toEqual([
      'traceId',
      'spanId',
      'parentSpanId',
      'name',
      'kind',
      'startTime',
      'endTime',
      'durationMs',
      'status',
      'attributes',
      'links',
      'events',
      'service',
      'pid',
      'workerId',
    ]);
    expect(r).not.toHaveProperty('parentSpanId');
    for (const span of spans) {
      expect(span.traceId).toMatch(HEX32);
      expect(span.spanId).toMatch(HEX16);
      expect(span.service).toBe('unit-service');
      expect(span.pid).toBe(process.pid);
      expect(span.workerId).toBe('worker-9');
      expect(span.endTime).toBeGreaterThanOrEqual(span.startTime);
      expect(span.startTime).toBeGreaterThan(Date.now() - 60_000);
      expect(span.durationMs).toBeCloseTo(span.endTime - span.startTime, 3);
    }
    expect(c).toMatchObject({
      traceId: r.traceId,
      parentSpanId: r.spanId,
      name: 'child',
      kind: 'CONSUMER',
      status: { code: 'ERROR', message: 'it failed' },
      attributes: {},
      links: [{ traceId: o.traceId, spanId: o.spanId, attributes: { why: 'waited' } }],
      events: [{ name: 'step', attributes: { at: 'middle' } }],
    });
    expect(c.events[0]!.time).toBeGreaterThanOrEqual(c.startTime);
    expect(r).toMatchObject({ name: 'root', kind: 'SERVER', status: { code: 'UNSET' }, attributes: { n: 1 }, links: [], events: [] });
    expect(o).toMatchObject({ kind: 'INTERNAL' });
    expect(o.traceId).not.toBe(r.traceId);
  });
});

describe('a worker process tracing to its span file', () => {
  const prefix = uniquePrefix('trace-file');
  const queueName = `q-${prefix}`;
  let logDir: string;
  let producer: Redis;
  let queue: Queue<GetValueData>;
  let client: GetValueClient;
  let worker: WorkerProcess | undefined;

  beforeAll(async () => {
    logDir = await mkdtemp(join(tmpdir(), 'cs-trace-file-'));
    producer = createRedis(redisUrl(), 'producer');
    queue = createQueue(queueName, producer);
    client = createGetValueClient({ connection: producer, queueName, timeoutMs: 60_000 });
  });
  afterAll(async () => {
    await stopWorker(worker, 'SIGKILL');
    await client?.close();
    await queue?.obliterate({ force: true }).catch(() => {});
    await queue?.close();
    await closeAll(...[producer].filter(Boolean));
    if (logDir && !process.env.KEEP_TEST_LOGS) await rm(logDir, { recursive: true, force: true });
  });

  it('exports the spans still buffered when it stops gracefully: none is lost', async () => {
    // The batch processor would export only a minute later: what reaches the file is the stop's flush.
    worker = spawnWorker(
      {
        REDIS_URL: redisUrl(),
        LOG_DIR: logDir,
        QUEUE_NAME: queueName,
        KEY_PREFIX: prefix,
        OTEL_BSP_SCHEDULE_DELAY: '60000',
        OTEL_SDK_DISABLED: '',
        OTEL_TRACES_EXPORTER: '',
        OTEL_EXPORTER_OTLP_ENDPOINT: '',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '',
        OTEL_SERVICE_NAME: '',
      },
      ['--worker-id', 'tracer-1'],
    );
    await worker.waitForLine(/^tracer-1 logging to /);
    const summary = await runBurst(client, { jobs: 12, keys: 3, strategy: 'redis-lock', computeMs: 200, runId: `${prefix}-run` });
    expect(summary.completed).toBe(12);
    expect(await stopWorker(worker), worker.output()).toBe(0);

    const lines = (await readFile(join(logDir, 'spans-tracer-1.jsonl'), 'utf8')).trimEnd().split('\n');
    const spans = lines.map((line) => JSON.parse(line) as SpanLine);
    const processed = spans.filter((s) => s.name === `process ${queueName}`);
    expect(processed, worker.output()).toHaveLength(12);
    const jobIds = new Set(processed.map((s) => s.attributes['bullmq.job.id']));
    expect(jobIds.size).toBe(12);
    for (const span of spans) {
      expect(span).toMatchObject({ service: 'cache-stampede-worker', pid: worker.child.pid, workerId: 'tracer-1' });
      expect(span.traceId).toMatch(HEX32);
    }
    // The worker's own close is traced too: the last thing before the flush.
    expect(spans.some((s) => s.name === `close ${queueName}`)).toBe(true);
  });

  it('with its OTLP collector out of reach: completes its jobs, warns once, stops in time', async () => {
    const closed = await closedPort();
    worker = spawnWorker(
      {
        REDIS_URL: redisUrl(),
        LOG_DIR: logDir,
        QUEUE_NAME: queueName,
        KEY_PREFIX: prefix,
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${closed}`,
        OTEL_BSP_SCHEDULE_DELAY: '100',
        // A failed export is reported once its retries give up: after 2 s, not the default 10.
        OTEL_EXPORTER_OTLP_TIMEOUT: '2000',
        OTEL_SDK_DISABLED: '',
        OTEL_TRACES_EXPORTER: '',
      },
      ['--worker-id', 'tracer-2'],
    );
    await worker.waitForLine(/^tracer-2 logging to /);
    const summary = await runBurst(client, { jobs: 10, keys: 2, strategy: 'redis-lock', computeMs: 100, runId: `${prefix}-unreachable` });
    expect(summary.completed).toBe(10);
    await worker.waitForLine(/warning: tracing: cannot export spans to http:\/\/127\.0\.0\.1:\d+\/v1\/traces/, 30_000);
    // More jobs, more failed exports: still one warning.
    expect((await runBurst(client, { jobs: 5, keys: 1, strategy: 'none', computeMs: 0, runId: `${prefix}-again` })).completed).toBe(5);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const started = Date.now();
    expect(await stopWorker(worker), worker.output()).toBe(0);
    // The shutdown gives up on the last spans after 5 s.
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(worker.output().match(/cannot export spans/g)).toHaveLength(1);
  });
});

describe(`a redis-lock burst of ${JOBS} jobs on one cold key, ${WORKERS} workers exporting over OTLP`, () => {
  const prefix = uniquePrefix('fleet-trace');
  const queueName = `q-${prefix}`;
  const runId = `${prefix}-burst`;
  let logDir: string;
  let receiver: Server;
  let producer: Redis;
  let queue: Queue<GetValueData>;
  let client: GetValueClient;
  let provider: BasicTracerProvider;
  const memory = new InMemorySpanExporter();
  const workers: WorkerProcess[] = [];
  const exported: Seen[] = [];
  const contentTypes = new Set<string>();
  let summary: BurstSummary;
  let exits: Array<number | string | undefined> = [];
  let spans: Seen[] = [];

  beforeAll(async () => {
    logDir = await mkdtemp(join(tmpdir(), 'cs-fleet-trace-'));
    receiver = await startReceiver(exported, contentTypes);
    const { port } = receiver.address() as { port: number };

    // The producer: this process, tracing in memory, its requests wrapped as the lab's are.
    provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'test-producer' }),
      spanProcessors: [new SimpleSpanProcessor(memory)],
    });
    trace.setGlobalTracerProvider(provider);
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    producer = createRedis(redisUrl(), 'producer');
    queue = createQueue(queueName, producer);
    client = traceRequests(createGetValueClient({ connection: producer, queueName, timeoutMs: 60_000, telemetry: new BullMQOtel() }));

    for (let i = 1; i <= WORKERS; i++) {
      workers.push(
        spawnWorker(
          {
            REDIS_URL: redisUrl(),
            LOG_DIR: logDir,
            QUEUE_NAME: queueName,
            KEY_PREFIX: prefix,
            WORKER_CONCURRENCY: String(CONCURRENCY),
            OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
            OTEL_BSP_SCHEDULE_DELAY: '200',
            OTEL_SDK_DISABLED: '',
            OTEL_TRACES_EXPORTER: '',
            OTEL_SERVICE_NAME: '',
          },
          ['--worker-id', `traced-${i}`],
        ),
      );
    }
    try {
      await Promise.all(workers.map((w, i) => w.waitForLine(new RegExp(`^traced-${i + 1} logging to `), 90_000)));
      summary = await runBurst(
        client,
        { jobs: JOBS, keys: 1, strategy: 'redis-lock', computeMs: COMPUTE_MS, runId },
        { timeoutMs: 60_000 },
      );
    } finally {
      exits = await Promise.all(workers.map((w) => stopWorker(w)));
    }
    spans = [...memory.getFinishedSpans().map(fromMemory), ...exported];
  }, 180_000);

  afterAll(async () => {
    await Promise.all(workers.map((w) => stopWorker(w, 'SIGKILL')));
    await client?.close();
    await queue?.obliterate({ force: true }).catch(() => {});
    await queue?.close();
    await closeAll(...[producer].filter(Boolean));
    await provider?.shutdown();
    trace.disable();
    context.disable();
    propagation.disable();
    await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
    if (logDir && !process.env.KEEP_TEST_LOGS) await rm(logDir, { recursive: true, force: true });
  });

  const requests = () => spans.filter((s) => s.name === REQUEST_SPAN && s.attributes['cache_stampede.run_id'] === runId);
  const traceOf = (traceId: string) => spans.filter((s) => s.traceId === traceId);

  it('every job completed, every worker stopped with exit code 0, the workers sent OTLP/JSON', () => {
    expect(summary.completed, JSON.stringify(summary)).toBe(JOBS);
    expect(exits).toEqual(workers.map(() => 0));
    expect([...contentTypes]).toEqual(['application/json']);
  });

  it(`${JOBS} traces, each rooted at its producer's get-value span, each with a worker's process span`, () => {
    const roots = requests();
    expect(roots).toHaveLength(JOBS);
    expect(new Set(roots.map((r) => r.traceId)).size).toBe(JOBS);
    expect(roots.map((r) => r.attributes['cache_stampede.job.index']).sort((a, b) => Number(a) - Number(b))).toEqual(
      Array.from({ length: JOBS }, (_, i) => i),
    );
    for (const root of roots) {
      expect(root.parentSpanId).toBeUndefined();
      expect(root.attributes).toMatchObject({ 'cache_stampede.job.key': 'key-1', 'cache_stampede.run_id': runId });
      const inTrace = traceOf(root.traceId);
      const byId = new Map(inTrace.map((s) => [s.spanId, s]));
      // One root, and every span of the trace descends from it.
      expect(inTrace.filter((s) => s.parentSpanId === undefined)).toEqual([root]);
      for (const span of inTrace) {
        let at: Seen | undefined = span;
        for (let hops = 0; at?.parentSpanId !== undefined && hops < 20; hops++) at = byId.get(at.parentSpanId);
        expect(at, `${span.name} of ${root.traceId} does not lead back to its root`).toBe(root);
      }
      const processed = inTrace.filter((s) => s.name === `process ${queueName}`);
      expect(processed).toHaveLength(1);
      expect(processed[0]!.service).toBe('cache-stampede-worker');
      expect(byId.get(processed[0]!.parentSpanId!)).toMatchObject({ name: `add ${queueName}.get-value`, parentSpanId: root.spanId });
    }
  });

  it(`the jobs ran in all ${WORKERS} worker processes`, () => {
    const pids = new Set(spans.filter((s) => s.name === `process ${queueName}`).map((s) => s.pid));
    expect(pids).toEqual(new Set(workers.map((w) => w.child.pid)));
  });

  // The guard's spans (cache-stampede/otel, workers/runtime.ts `tracing: openTelemetry()`).
  it('exactly one trace holds the computation; every job that waited links to it', () => {
    const computes = spans.filter((s) => s.name === 'cache-stampede compute');
    expect(computes).toHaveLength(1);
    const compute = computes[0]!;
    const roots = requests();
    expect(roots.filter((r) => r.traceId === compute.traceId)).toHaveLength(1);
    const bySource = (source: string) => roots.filter((r) => r.attributes['cache_stampede.source'] === source);
    expect(bySource('computed').map((r) => r.traceId)).toEqual([compute.traceId]);
    const waited = bySource('waited');
    expect(waited.length, 'most jobs wait for the one computation').toBeGreaterThan(JOBS / 2);
    for (const root of waited) {
      const calls = traceOf(root.traceId).filter((s) => s.name === 'cache-stampede getOrCompute');
      expect(calls, `trace ${root.traceId}`).toHaveLength(1);
      expect(calls[0]!.links.map((l) => l.spanId)).toContain(compute.spanId);
      // Its parent: the worker's process span of the job.
      expect(traceOf(root.traceId).find((s) => s.spanId === calls[0]!.parentSpanId)?.name).toBe(`process ${queueName}`);
    }
    // The jobs of the two workers that did not compute waited on Redis, in a wait span each (a
    // job in the holder's own process may join its computation there, without one).
    const waitSpans = spans.filter((s) => s.name === 'cache-stampede wait' && waited.some((r) => r.traceId === s.traceId));
    expect(waitSpans.length).toBeGreaterThan(0);
  });
});

function fromMemory(span: ReturnType<InMemorySpanExporter['getFinishedSpans']>[number]): Seen {
  return {
    traceId: span.spanContext().traceId,
    spanId: span.spanContext().spanId,
    parentSpanId: span.parentSpanContext?.spanId,
    name: span.name,
    service: String(span.resource.attributes['service.name']),
    pid: process.pid,
    attributes: { ...span.attributes },
    links: span.links.map((l) => ({ traceId: l.context.traceId, spanId: l.context.spanId })),
  };
}

interface OtlpValue {
  stringValue?: string;
  intValue?: number | string;
  doubleValue?: number;
  boolValue?: boolean;
}
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}
interface OtlpBody {
  resourceSpans?: Array<{
    resource?: { attributes?: OtlpAttribute[] };
    scopeSpans?: Array<{
      spans?: Array<{
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        attributes?: OtlpAttribute[];
        links?: Array<{ traceId: string; spanId: string }>;
      }>;
    }>;
  }>;
}

const otlpValue = (v: OtlpValue): unknown =>
  v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined) ?? v.doubleValue ?? v.boolValue;
const attributesOf = (list: OtlpAttribute[] = []) => Object.fromEntries(list.map((a) => [a.key, otlpValue(a.value)]));

/** A minimal OTLP/HTTP receiver: POST /v1/traces, JSON (gzip or not); every span into `into`. */
async function startReceiver(into: Seen[], contentTypes: Set<string>): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      contentTypes.add(String(req.headers['content-type']));
      let raw = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
      const body = JSON.parse(raw.toString('utf8')) as OtlpBody;
      for (const resourceSpans of body.resourceSpans ?? []) {
        const resource = attributesOf(resourceSpans.resource?.attributes);
        for (const scope of resourceSpans.scopeSpans ?? []) {
          for (const span of scope.spans ?? []) {
            into.push({
              traceId: span.traceId,
              spanId: span.spanId,
              parentSpanId: span.parentSpanId || undefined,
              name: span.name,
              service: String(resource['service.name']),
              pid: typeof resource['process.pid'] === 'number' ? resource['process.pid'] : undefined,
              attributes: attributesOf(span.attributes),
              links: (span.links ?? []).map((l) => ({ traceId: l.traceId, spanId: l.spanId })),
            });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

/** A local port nothing listens on (taken, then given back). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
