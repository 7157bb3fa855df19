/**
 * The packed package with each Redis client it accepts, alone: one tarball, one empty project per
 * client (the client at an exact version, and @types/node), installed without a peer-dependency
 * warning and without any other client or the lab's tooling coming along. In each, a plain-node
 * script runs the guard and the lock subpath against the test Redis, and a TypeScript consumer
 * type-checks, without skipLibCheck, and refuses what is not a client.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Consumer,
  createConsumer,
  installedPackages,
  LAB_TOOLING,
  manifest,
  packTarball,
  runNode,
  typeCheck,
} from './support/consumer-project.js';
import { redisUrl, uniquePrefix } from './support/redis.js';

interface Client {
  /** What npm installs, exact. */
  spec: string;
  /** The packages that are this client: any of the others' found in the project is a client pulled in. */
  owns: string[];
  /** ESM that defines `redis` (connected, database 1), `numsub(channel)`, `close()`. */
  connect: string;
  /** TypeScript that imports the client and defines `redis` and `cluster` (type-checked only, never run). */
  declare: string;
  /** Errors in the client's own .d.ts that tsc reports without skipLibCheck (see IOREDIS_6_LIB_ERRORS). */
  libErrors?: RegExp;
}

/** The packages that make up each client library; a project with one client must have none of the rest. */
const CLIENT_PACKAGES = ['ioredis', 'iovalkey', 'redis', '@redis/client'];

const ioredisLike = (name: string, version: string): Client => ({
  spec: `${name}@${version}`,
  owns: [name],
  connect: `
    import { Redis } from '${name}';
    const redis = new Redis(process.env.REDIS_URL, { db: 1 });
    const numsub = async (channel) => (await redis.call('PUBSUB', 'NUMSUB', channel))[1];
    const close = () => redis.quit();
  `,
  declare: `
    import { Cluster, Redis } from '${name}';
    const redis = new Redis({ lazyConnect: true });
    const cluster = new Cluster([{ host: 'localhost', port: 7000 }], { lazyConnect: true });
  `,
});

const nodeRedis = (version: string): Client => ({
  spec: `redis@${version}`,
  owns: ['redis', '@redis/client'],
  connect: `
    import { createClient } from 'redis';
    const redis = createClient({ url: process.env.REDIS_URL, database: 1 });
    await redis.connect();
    const numsub = async (channel) => Number((await redis.sendCommand(['PUBSUB', 'NUMSUB', channel]))[1]);
    const close = () => redis.close();
  `,
  declare: `
    import { createClient, createCluster } from 'redis';
    const redis = createClient({ url: 'redis://localhost:6379' });
    await redis.connect();
    const cluster = createCluster({ rootNodes: [{ url: 'redis://localhost:7000' }] });
    await cluster.connect();
  `,
});

/**
 * ioredis 6.1.0's index.d.ts exports its error classes, whose .d.ts files import 'redis-errors',
 * a dependency that ships no types (ioredis 5 and iovalkey 0.4 do not export those files). Under
 * `strict` (noImplicitAny) without skipLibCheck that is TS7016 in ioredis's own files, in any
 * project that imports ioredis 6, with or without this package; nothing of the package's.
 */
const IOREDIS_6_LIB_ERRORS = /^node_modules\/ioredis\/built\/errors\/\w+\.d\.ts\(\d+,\d+\): error TS7016: .*'redis-errors'/;

const CLIENTS: Client[] = [
  ioredisLike('ioredis', manifest.devDependencies.ioredis!),
  { ...ioredisLike('ioredis', '6.1.0'), libErrors: IOREDIS_6_LIB_ERRORS },
  ioredisLike('iovalkey', manifest.devDependencies.iovalkey!),
  nodeRedis('5.12.4'),
  nodeRedis(manifest.devDependencies.redis!),
];

let dir: string;
/** Every client's project, installing side by side from the moment the tarball exists. */
const consumers = new Map<string, Promise<Consumer>>();

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'cache-stampede-clients-'));
  const tarball = await packTarball(dir);
  for (const client of CLIENTS) {
    const project = path.join(dir, client.spec.replace(/[@/]/g, '-'));
    const installing = createConsumer(project, tarball, [client.spec, `@types/node@${manifest.devDependencies['@types/node']}`]);
    installing.catch(() => {}); // awaited (and reported) by the client's own beforeAll
    consumers.set(client.spec, installing);
  }
}, 120_000);

afterAll(async () => {
  await Promise.allSettled(consumers.values());
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe.each(CLIENTS)('the packed package with $spec alone', (client) => {
  let consumer: Consumer;

  beforeAll(async () => {
    consumer = await consumers.get(client.spec)!;
  }, 180_000);

  it('installs without a peer-dependency warning, with no other client and nothing of the lab', async () => {
    expect(consumer.installOutput).not.toMatch(/ERESOLVE|peer|conflicting/i);
    const installed = await installedPackages(consumer.dir);
    const at = client.spec.lastIndexOf('@');
    expect(installed.get(client.spec.slice(0, at))).toEqual(new Set([client.spec.slice(at + 1)]));
    expect(installed.has('cache-stampede')).toBe(true);
    const others = CLIENT_PACKAGES.filter((other) => !client.owns.includes(other));
    expect(others.filter((other) => installed.has(other))).toEqual([]);
    expect(LAB_TOOLING.filter((tool) => installed.has(tool))).toEqual([]);
    // Tracing is optional: no OpenTelemetry package comes with the guard.
    expect([...installed.keys()].filter((pkg) => pkg.startsWith('@opentelemetry'))).toEqual([]);
  });

  it('runs getOrCompute, a waiter on its own subscriber, the lock subpath and the errors with plain node', async () => {
    // Database 1: the guard names its channels after the client's database (pub/sub ignores it),
    // so the waiter is only woken if the guard reads it from this client. The waiter's guard
    // subscribes on a connection of its own, which the holder sees through PUBSUB NUMSUB.
    const script = `
      ${client.connect}
      import { createGuard, OptionsError, subscribeEvents } from 'cache-stampede';
      import { acquireLock, releaseLock, cacheKeys } from 'cache-stampede/lock';
      const prefix = process.env.PREFIX;
      const guard = createGuard({ redis, keyPrefix: prefix });
      const warnings = [];
      const unwatch = subscribeEvents((e) => (e.level === 'warn' || e.level === 'error') && e.event !== 'script.not-cached' && warnings.push(e.event));
      const events = [];
      const unsubscribe = subscribeEvents((e) => e.event !== 'script.not-cached' && events.push([e.event, e.context.id]));
      const first = await guard.getOrCompute('k', async () => ({ answer: 42 }), { context: { id: 1 } });
      const second = await guard.getOrCompute('k', async () => ({ answer: 0 }), { context: { id: 2 } });
      unsubscribe();
      const other = createGuard({ redis, keyPrefix: prefix });
      const channel = cacheKeys(prefix, 'w', 1).channel;
      let waiter;
      let subscribed = false;
      const held = await guard.getOrCompute('w', async () => {
        waiter = other.getOrCompute('w', async () => 'not the holder');
        for (let i = 0; i < 500 && !subscribed; i++) {
          subscribed = Number(await numsub(channel)) === 1;
          if (!subscribed) await new Promise((resolve) => setTimeout(resolve, 10));
        }
        return 'the holder';
      });
      const waited = await waiter;
      const keys = cacheKeys(prefix, 'lock-me');
      const lease = await acquireLock(redis, keys, 1000);
      const taken = await acquireLock(redis, keys, 1000);
      const released = await releaseLock(redis, keys, lease);
      let code;
      try { createGuard({ redis, lockTtlMs: -1 }); } catch (err) { code = err instanceof OptionsError && err.code; }
      let otel;
      try { await import('cache-stampede/otel'); } catch (err) { otel = [err.code, err.message.includes("'@opentelemetry/api'")]; }
      await Promise.all([guard.close(), other.close()]);
      await close();
      unwatch();
      console.log(JSON.stringify({ first, second, events, held, subscribed, waited, fence: typeof lease.fence, taken, released, code, otel, warnings }));
    `;
    const output = await runNode(consumer.dir, 'consumer.mjs', script, { REDIS_URL: redisUrl(), PREFIX: uniquePrefix('pkg-client') });
    expect(output).toEqual({
      first: { value: { answer: 42 }, source: 'computed' },
      second: { value: { answer: 42 }, source: 'cache' },
      events: [
        ['cache.miss', 1],
        ['lock.acquired', 1],
        ['recompute.start', 1],
        ['recompute.end', 1],
        ['cache.write', 1],
        ['lock.released', 1],
        ['cache.hit', 2],
      ],
      held: { value: 'the holder', source: 'computed' },
      subscribed: true,
      waited: { value: 'the holder', source: 'waited' },
      fence: 'number',
      taken: null,
      released: true,
      code: 'E_OPTIONS',
      // Tracing is optional: without @opentelemetry/api the guard runs and the subpath names what is missing.
      otel: ['ERR_MODULE_NOT_FOUND', true],
      warnings: [],
    });
  });

  it('type-checks a TypeScript consumer without skipLibCheck, and refuses a non-client and a wrong option', async () => {
    // An unused @ts-expect-error is itself an error: were the redis option's type to accept
    // anything (an import in the package's .d.ts that does not resolve makes it `any`), this fails.
    const consumerTs = `
      ${client.declare}
      import { createGuard, subscribeEvents, type GuardEvent, type GuardOptions, type GuardResult, type SupportedRedisClient } from 'cache-stampede';
      import { acquireLock, cacheKeys, releaseLock } from 'cache-stampede/lock';
      const guard = createGuard({ redis, subscriber: redis.duplicate(), strategy: 'swr', valueTtlMs: 1000 });
      const result: Promise<GuardResult<number>> = guard.getOrCompute('k', async ({ signal }) => (signal.aborted ? 0 : 1), {
        context: { requestId: 'r-1' },
      });
      void result;
      const onCluster: GuardOptions = { redis: cluster };
      const clients: SupportedRedisClient[] = [redis, cluster];
      void onCluster;
      void clients;
      const keys = cacheKeys('p', 'k');
      const lease = await acquireLock(redis, keys, 1000);
      if (lease) await releaseLock(cluster, keys, lease);
      subscribeEvents((e: GuardEvent) => {
        if (e.event === 'recompute.end') {
          const seconds: number = e.fields.durationMs / 1000;
          void seconds;
        }
      });
      // @ts-expect-error: an object with a get() is not a Redis client
      createGuard({ redis: { get() {} } });
      // @ts-expect-error: nor is a URL
      void acquireLock('redis://localhost:6379', keys, 1000);
      // @ts-expect-error: no such strategy
      createGuard({ redis, strategy: 'sometimes' });
      export {};
    `;
    const errors = await typeCheck(consumer.dir, { 'consumer.ts': consumerTs });
    expect(errors.filter((line) => !client.libErrors?.test(line))).toEqual([]);
  });
});
