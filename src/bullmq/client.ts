import { randomUUID } from 'node:crypto';
import { type ConnectionOptions, Queue, QueueEvents, type Telemetry } from 'bullmq';
import { ClientClosedError, EnqueueError, InvalidJobDataError, JobFailedError, JobTimeoutError, OptionsError } from '../errors.js';
import type { Strategy } from '../cache/strategy.js';
import type { SupportedRedisClient } from '../redis/client.js';
import { clientLibrary } from '../redis/adapt.js';
import { dropEventsConnection, duplicateForEvents, isClusterConnection, lastEventId } from './connection.js';
import { MAX_TIMER_MS, unrefTimeout } from '../timers.js';
import {
  BATCH_STRATEGY,
  isBatchJob,
  parseJobData,
  type GetManyData,
  type GetManyResult,
  type GetValueData,
  type GetValueResult,
  type JobData,
  type JobParams,
} from './job-data.js';
import { DEFAULT_QUEUE_NAME, JOB_NAME, queuePrefix } from './names.js';
import { DEFAULT_JOB_OPTIONS } from './queue.js';

export interface GetValueClientOptions {
  /**
   * The queue's Redis, for enqueueing: a producer connection that fails fast (e.g.
   * `maxRetriesPerRequest: 1`). The client shares it and never closes it; it opens one
   * connection of its own for the queue's events, and closes that.
   */
  connection: SupportedRedisClient;
  /** @default 'cache-stampede' */
  queueName?: string;
  /** How long a get waits for its job when the call does not say, ms. @default 30000 */
  timeoutMs?: number;
  /**
   * BullMQ's telemetry for the queue the client enqueues on, e.g. `new BullMQOtel()` (package
   * `bullmq-otel`) with an OpenTelemetry SDK registered: each enqueue is then an `add` span, a
   * child of the context active when `get` or `request` was called, and its context travels in
   * the job (`opts.telemetry.metadata`), so a worker with telemetry continues the trace in its
   * `process` span. @default none (no spans, nothing added to the job)
   */
  telemetry?: Telemetry;
}

export interface GetOptions {
  /** @default 'redis-lock' */
  strategy?: Strategy;
  /** Parameters for the computation: a plain JSON object, at most 16 KB. They must not change the value. */
  params?: JobParams;
  /** How long to wait for the job, ms. @default the client's timeoutMs */
  timeoutMs?: number;
  /** Groups jobs in the workers' logs (a request id, say). */
  runId?: string;
  /** Tags of the value (of every key, for getMany): `invalidateTags` of one makes it count as missing fleet-wide. */
  tags?: string[];
}

/** Options of `getMany`: a batch is always computed under redis-lock, so there is no `strategy`. */
export type GetManyOptions = Omit<GetOptions, 'strategy'>;

export interface GetValueClient {
  /**
   * Ask the fleet for the value of `key`: enqueue a get-value job and resolve with its result
   * (`value`, `source`, `strategy`, `workerId`). Rejects with JobFailedError (the job failed;
   * `reason` says why), JobTimeoutError, EnqueueError, InvalidJobDataError (bad key or params,
   * nothing enqueued) or ClientClosedError.
   */
  get<T = unknown>(key: string, options?: GetOptions): Promise<GetValueResult<T>>;
  /** The same with the job's data as the queue contract has it (the lab sends `computeMs` this way). */
  request<T = unknown>(data: GetValueData, options?: { timeoutMs?: number }): Promise<GetValueResult<T>>;
  /** Gets waiting for their job now. */
  readonly pending: number;
  /** Reject the gets still waiting (ClientClosedError) and close what the client opened. */
  close(): Promise<void>;
}

/** The client `createGetManyClient` makes: a GetValueClient that also asks for many keys in one job. */
export interface GetManyClient extends GetValueClient {
  /**
   * Ask the fleet for the values of `keys` (1 to 1000, none twice) in ONE batch job: the worker
   * answers the cached keys, computes the missing ones it holds in one batch call of its
   * computation, waits for those held elsewhere. Resolves `{ keys, results, strategy, workerId }`,
   * `results[key]` being `{ value, source }` or `{ error }` (a key fails alone). Rejects as `get`
   * does, for the whole job.
   */
  getMany<T = unknown>(keys: string[], options?: GetManyOptions): Promise<GetManyResult<T>>;
  /** The same with the batch job's data as the queue contract has it (`keys`, `strategy: "redis-lock"`, ...). */
  requestMany<T = unknown>(data: GetManyData, options?: { timeoutMs?: number }): Promise<GetManyResult<T>>;
}

interface Waiter {
  completed(result: unknown): void;
  failed(reason: string): void;
  abort(err: Error): void;
}

/**
 * How a web service asks the fleet for values.
 *
 * Why not BullMQ's `job.waitUntilFinished(queueEvents, ttl)` (bullmq 6.7, classes/job.js): per
 * call it adds two listeners to the QueueEvents (`completed:<id>`, `failed:<id>`) and one to the
 * Queue (`closing`), so eleven concurrent calls set off Node's MaxListenersExceededWarning (200
 * gave 400 event names and 200 `closing` listeners); it makes an extra round trip to see whether
 * the job already finished; it rejects with a plain Error whose only content is text; and it runs
 * inside an async Promise executor: when that round trip fails (Redis restarting) the error is an
 * unhandled rejection and the promise never settles, its listeners staying for good unless a ttl
 * was given. (It does remove its listeners and timer when it settles.)
 *
 * Here, per client: one QueueEvents with one `completed` and one `failed` listener. Per call: one
 * map entry and one timer, both gone when the call settles, whichever way (value, failure,
 * timeout, enqueue error, close). The job id is chosen before the job is enqueued, so an event
 * can never arrive for an id not yet known; and the events are read from the stream's position
 * taken before the first job, so none is missed (a QueueEvents left to start at '$' misses what
 * happens before its first read, which it sends only after a round trip of its own).
 */
export function createGetValueClient(options: GetValueClientOptions): GetValueClient {
  return createGetManyClient(options);
}

/**
 * The same client, typed with `getMany` and `requestMany` (batch jobs). `createGetValueClient`
 * makes this very client, typed as a GetValueClient, the type that wrappers of a client (the
 * lab's traced client) implement.
 */
export function createGetManyClient(options: GetValueClientOptions): GetManyClient {
  const { connection } = options;
  checkConnection(connection);
  const queueName = options.queueName ?? DEFAULT_QUEUE_NAME;
  if (typeof queueName !== 'string' || !/^[^:]{1,128}$/.test(queueName)) {
    throw new OptionsError('queueName', `queueName must be 1 to 128 characters without ':', got ${JSON.stringify(queueName)}`);
  }
  const defaultTimeoutMs = checkTimeout(options.timeoutMs ?? 30_000);
  const prefix = queuePrefix(connection);
  const queue = new Queue<JobData>(queueName, {
    connection: connection as ConnectionOptions,
    prefix,
    defaultJobOptions: DEFAULT_JOB_OPTIONS,
    ...(options.telemetry && { telemetry: options.telemetry }),
  });
  // ioredis reconnects by itself; a get that cannot finish meanwhile ends with its timeout.
  queue.on('error', () => {});
  const waiting = new Map<string, Waiter>();
  let events: Promise<QueueEvents> | null = null;
  let eventsConnection: SupportedRedisClient | null = null;
  let closing: Promise<void> | null = null;

  const onCompleted = ({ jobId, returnvalue }: { jobId: string; returnvalue: unknown }) => waiting.get(jobId)?.completed(returnvalue);
  const onFailed = ({ jobId, failedReason }: { jobId: string; failedReason: string }) => waiting.get(jobId)?.failed(failedReason);

  /** The client's QueueEvents, started on the first get; a start that failed is tried again by the next. */
  const listening = (): Promise<QueueEvents> => {
    if (events) return events;
    events = (async () => {
      const lastSeen = await lastEventId(connection, queue.keys.events!);
      eventsConnection ??= duplicateForEvents(connection);
      const queueEvents = new QueueEvents(queueName, { connection: eventsConnection as ConnectionOptions, prefix, lastEventId: lastSeen });
      queueEvents.on('error', () => {}); // reconnects by itself, reading on from the last event it saw
      queueEvents.on('completed', onCompleted);
      queueEvents.on('failed', onFailed);
      try {
        await queueEvents.waitUntilReady();
      } catch (err) {
        await queueEvents.close().catch(() => {});
        throw err;
      }
      return queueEvents;
    })();
    events.catch(() => {
      events = null;
    });
    return events;
  };

  /** Enqueue one job (single or batch, `batch` says which it must be) and settle with its result. */
  const send = <R>(data: JobData, batch: boolean, timeoutMs = defaultTimeoutMs): Promise<R> => {
    if (closing) return Promise.reject(new ClientClosedError());
    let job: JobData;
    try {
      job = parseJobData(data);
      if (isBatchJob(job) !== batch) {
        throw new InvalidJobDataError(
          batch ? 'a batch job has "keys", not "key" (use request)' : 'a job has "key", not "keys" (use requestMany)',
        );
      }
      checkTimeout(timeoutMs);
    } catch (err) {
      return Promise.reject(err);
    }
    const label = jobLabel(job);
    const jobId = randomUUID();
    return new Promise<R>((resolve, reject) => {
      const settle = (outcome: () => void) => {
        if (!waiting.delete(jobId)) return;
        clearTimeout(timer);
        outcome();
      };
      const timer = unrefTimeout(() => settle(() => reject(new JobTimeoutError(label, jobId, timeoutMs))), timeoutMs);
      waiting.set(jobId, {
        completed: (result) => settle(() => resolve(result as R)),
        failed: (reason) => settle(() => reject(new JobFailedError(label, jobId, reason))),
        abort: (err) => settle(() => reject(err)),
      });
      listening()
        // Not when the call already ended (timed out, or the client closed) while the events started.
        .then(async () => {
          if (waiting.has(jobId)) await queue.add(JOB_NAME, job, { jobId });
        })
        .catch((err: unknown) => waiting.get(jobId)?.abort(new EnqueueError(label, err)));
    });
  };
  const request = <T>(data: GetValueData, timeoutMs?: number) => send<GetValueResult<T>>(data, false, timeoutMs);
  const requestMany = <T>(data: GetManyData, timeoutMs?: number) => send<GetManyResult<T>>(data, true, timeoutMs);

  return {
    get: (key, { strategy = 'redis-lock', params, timeoutMs, runId, tags } = {}) =>
      request(
        {
          key,
          strategy,
          ...(params !== undefined && { params }),
          ...(runId !== undefined && { runId }),
          ...(tags !== undefined && { tags }),
        },
        timeoutMs,
      ),
    request: (data, { timeoutMs } = {}) => request(data, timeoutMs),
    getMany: (keys, { params, timeoutMs, runId, tags } = {}) =>
      requestMany(
        {
          keys,
          strategy: BATCH_STRATEGY,
          ...(params !== undefined && { params }),
          ...(runId !== undefined && { runId }),
          ...(tags !== undefined && { tags }),
        },
        timeoutMs,
      ),
    requestMany: (data, { timeoutMs } = {}) => requestMany(data, timeoutMs),
    get pending() {
      return waiting.size;
    },
    close() {
      closing ??= (async () => {
        for (const waiter of [...waiting.values()]) waiter.abort(new ClientClosedError());
        const queueEvents = await events?.catch(() => null);
        if (queueEvents) {
          queueEvents.off('completed', onCompleted).off('failed', onFailed);
          await queueEvents.close();
        }
        await queue.close();
        if (eventsConnection) dropEventsConnection(eventsConnection);
      })();
      return closing;
    },
  };
}

/** How errors name a job: its key, or a batch's first key and its size. */
function jobLabel(job: JobData): string {
  if (!isBatchJob(job)) return job.key;
  return job.keys.length === 1 ? job.keys[0]! : `${job.keys[0]}, ... (${job.keys.length} keys)`;
}

/** BullMQ takes ioredis (a node or a cluster) and node-redis on one node; the client reads the event stream itself, so node-redis must be connected. */
function checkConnection(connection: unknown): void {
  const library = clientLibrary(connection);
  if (library === null) throw new OptionsError('connection', 'connection must be an ioredis Redis or Cluster, or a node-redis client');
  if (library !== 'node-redis') return;
  if (isClusterConnection(connection as SupportedRedisClient)) {
    throw new OptionsError(
      'connection',
      'connection: BullMQ has no node-redis cluster support; use an ioredis Cluster for a Redis Cluster',
    );
  }
  if (!(connection as { isOpen?: boolean }).isOpen) {
    throw new OptionsError('connection', 'a node-redis connection must be connected first (await client.connect())');
  }
}

function checkTimeout(timeoutMs: unknown): number {
  if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMER_MS) {
    throw new OptionsError('timeoutMs', `timeoutMs must be a whole number of ms from 1 to ${MAX_TIMER_MS}, got ${String(timeoutMs)}`);
  }
  return timeoutMs;
}
