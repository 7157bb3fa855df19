import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { loadConfig, DEFAULT_REDIS_URL, type ConfigOverrides } from '../scripts/common/config.js';
import { ConfigError, RedisConnectionError } from '../scripts/common/errors.js';
import { redactUrl } from '../scripts/common/logging.js';
import { assertRedisReachable, describeRedisUrl } from '../scripts/redis/connection.js';
import { findFreePort, startEmbeddedRedis, type EmbeddedRedis } from '../scripts/redis/redis-server.js';
import { redisUrl } from './support/redis.js';

const PASSWORD = 's3cret-pw';

/** The error assertRedisReachable rejects with, and how long it took. */
async function rejection(url: string): Promise<{ error: RedisConnectionError; ms: number }> {
  const started = performance.now();
  const outcome = await assertRedisReachable(url).then(
    () => null,
    (err: unknown) => err,
  );
  const ms = performance.now() - started;
  expect(outcome, `${redactUrl(url)} should be rejected`).toBeInstanceOf(RedisConnectionError);
  return { error: outcome as RedisConnectionError, ms };
}

function expectClear({ error, ms }: { error: RedisConnectionError; ms: number }, hostPort: string, cause: RegExp, secrets: string[] = []) {
  expect(error.code).toBe('E_REDIS_CONNECT');
  expect(error.message).toContain(hostPort);
  expect(error.message).toMatch(cause);
  // Not ioredis's bare "Connection is closed.": the cause must be said.
  expect(error.message).not.toMatch(/connection is closed/i);
  for (const secret of secrets) expect(error.message).not.toContain(secret);
  // A clear error at start-up, not a client retrying forever.
  expect(ms).toBeLessThan(5_000);
}

describe('assertRedisReachable', () => {
  let secured: EmbeddedRedis;
  let plain: EmbeddedRedis;

  beforeAll(async () => {
    [secured, plain] = await Promise.all([startEmbeddedRedis(), startEmbeddedRedis()]);
    // Set the password at run time: the launcher's readiness probe (PING without AUTH) cannot
    // see a server started with --requirepass.
    const admin = new Redis(secured.url, { maxRetriesPerRequest: 0 });
    await admin.config('SET', 'requirepass', PASSWORD);
    admin.disconnect();
  });

  afterAll(async () => {
    if (secured) {
      // Let stop() shut the server down with a plain SHUTDOWN.
      const admin = new Redis(`redis://:${PASSWORD}@127.0.0.1:${secured.port}`, { maxRetriesPerRequest: 0 });
      await admin.config('SET', 'requirepass', '').catch(() => {});
      admin.disconnect();
    }
    await Promise.all([secured?.stop(), plain?.stop()]);
  });

  it('succeeds on a reachable server, and with the right password', async () => {
    await expect(assertRedisReachable(redisUrl())).resolves.toEqual([]);
    await expect(assertRedisReachable(plain.url)).resolves.toEqual([]);
    await expect(assertRedisReachable(`redis://:${PASSWORD}@127.0.0.1:${secured.port}`)).resolves.toEqual([]);
    await expect(assertRedisReachable(`redis://default:${PASSWORD}@127.0.0.1:${secured.port}/0`)).resolves.toEqual([]);
  });

  it('a closed port: connection refused', async () => {
    const port = await findFreePort(); // nothing listens there
    expectClear(await rejection(`redis://127.0.0.1:${port}`), `127.0.0.1:${port}`, /connection refused/);
  });

  it('an unknown host', async () => {
    // Where DNS itself cannot be reached, the lookup may time out instead of failing.
    expectClear(await rejection('redis://no-such-host.invalid:6379'), 'no-such-host.invalid:6379', /unknown host|timed out/);
  });

  it('a wrong password: says so, without repeating either password', async () => {
    const url = `redis://:wrong-pw@127.0.0.1:${secured.port}`;
    expectClear(await rejection(url), `127.0.0.1:${secured.port}`, /wrong password/, ['wrong-pw', PASSWORD]);
    const withUser = `redis://default:wrong-pw@127.0.0.1:${secured.port}`;
    expectClear(await rejection(withUser), `127.0.0.1:${secured.port}`, /wrong password/, ['wrong-pw']);
  });

  it('no password for a server that requires one', async () => {
    expectClear(await rejection(`redis://127.0.0.1:${secured.port}`), `127.0.0.1:${secured.port}`, /password is required/);
  });

  it('a password for a server that has none', async () => {
    const url = `redis://:some-pw@127.0.0.1:${plain.port}`;
    expectClear(await rejection(url), `127.0.0.1:${plain.port}`, /password was given but the server has none/, ['some-pw']);
  });

  it('keeps the original error as the cause', async () => {
    const port = await findFreePort();
    const { error } = await rejection(`redis://127.0.0.1:${port}`);
    expect((error.cause as { code?: string }).code).toBe('ECONNREFUSED');
  });
});

describe('describeRedisUrl', () => {
  it('names host and port only', () => {
    expect(describeRedisUrl('redis://:pw@example.com:6380/2')).toBe('example.com:6380');
    expect(describeRedisUrl('redis://example.com')).toBe('example.com:6379');
    expect(describeRedisUrl('rediss://user:pw@10.0.0.1:7000')).toBe('10.0.0.1:7000');
  });
});

describe('redactUrl', () => {
  it.each([
    ['redis://user:secret@host:6379/0', 'redis://user:***@host:6379/0'],
    ['redis://:secret@host:6379', 'redis://:***@host:6379'],
    ['redis://secret@host:6379', 'redis://***@host:6379'],
    ['rediss://default:p%40ss@host:6380', 'rediss://default:***@host:6380'],
    ['redis://host:6379', 'redis://host:6379'],
    ['redis://host:6379/0', 'redis://host:6379/0'],
    ['not a url', 'not a url'],
    ['redis://u:p@ss@host:6379/0', 'redis://u:***@host:6379/0'],
    ['cannot reach redis://a:b@h:1 now', 'cannot reach redis://a:***@h:1 now'],
    ['rediss://h:1/0?password=xyz&db=1', 'rediss://h:1/0?password=***&db=1'],
    ['mail me at x@y.com', 'mail me at x@y.com'],
  ])('%s -> %s', (input, expected) => {
    expect(redactUrl(input)).toBe(expected);
  });

  it('leaves nothing of the password in a URL with credentials', () => {
    for (const url of ['redis://u:hunter2@h:1', 'redis://:hunter2@h:1/3', 'rediss://hunter2@h']) {
      expect(redactUrl(url)).not.toContain('hunter2');
    }
  });
});

describe('loadConfig', () => {
  const load = (env: Record<string, string | undefined>, overrides: ConfigOverrides = {}) => loadConfig(overrides, env);

  /** The ConfigError thrown for `env`; its message names `variable` and repeats no password. */
  function configError(env: Record<string, string>, variable: string): ConfigError {
    let thrown: unknown;
    try {
      load(env);
    } catch (err) {
      thrown = err;
    }
    expect(thrown, `loadConfig(${JSON.stringify(Object.keys(env))})`).toBeInstanceOf(ConfigError);
    const error = thrown as ConfigError;
    expect(error.code).toBe('E_CONFIG');
    expect(error.message).toContain(variable);
    expect(error.message).not.toContain('hunter2');
    return error;
  }

  it('gives the documented defaults for an empty environment, frozen', () => {
    const config = load({});
    expect(config).toMatchObject({
      redisUrl: DEFAULT_REDIS_URL,
      redisUrlGiven: false,
      queueRedisUrl: DEFAULT_REDIS_URL,
      cacheRedisUrl: DEFAULT_REDIS_URL,
      queueName: 'cache-stampede',
      logDir: 'logs',
      logLevel: 'info',
      keyPrefix: 'cs',
      strategy: 'redis-lock',
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { logLevel: string }).logLevel = 'debug';
    }).toThrow(TypeError);
    expect(config.logLevel).toBe('info');
  });

  it('reads the environment, treating blank values as unset', () => {
    const config = load({
      REDIS_URL: ' redis://:hunter2@cache.internal:6380/1 ',
      LOG_LEVEL: 'debug',
      QUEUE_NAME: 'q1',
      WORKER_CONCURRENCY: '7',
      LOG_DIR: '',
    });
    expect(config.redisUrl).toBe('redis://:hunter2@cache.internal:6380/1');
    expect(config.redisUrlGiven).toBe(true);
    expect(config.queueRedisUrl).toBe(config.redisUrl);
    expect(config.cacheRedisUrl).toBe(config.redisUrl);
    expect(config.logLevel).toBe('debug');
    expect(config.queueName).toBe('q1');
    expect(config.concurrency).toBe(7);
    expect(config.logDir).toBe('logs');
  });

  it('counts a Redis as named when only the queue and the cache are (the demo then starts no private one)', () => {
    const config = load({ QUEUE_REDIS_URL: 'redis://queue.internal:6379', CACHE_REDIS_URL: 'redis://cache.internal:6379' });
    expect(config).toMatchObject({ redisUrlGiven: true, redisUrl: DEFAULT_REDIS_URL, queueRedisUrl: 'redis://queue.internal:6379' });
  });

  it('reads the TLS settings for rediss:// URLs, and refuses them with one line where they cannot apply', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cs-tls-config-'));
    try {
      const pem = join(dir, 'ca.pem');
      await writeFile(pem, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
      const tls = { REDIS_URL: 'rediss://:hunter2@redis.internal:6380', REDIS_TLS_CA_FILE: pem, REDIS_TLS_SERVERNAME: 'redis.internal' };
      expect(load(tls).tls).toEqual({ caFile: pem, ca: expect.stringContaining('BEGIN CERTIFICATE'), servername: 'redis.internal' });
      expect(load({ QUEUE_REDIS_URL: 'redis://q:1', CACHE_REDIS_URL: 'rediss+cluster://c:1', REDIS_TLS_CA_FILE: pem }).tls.caFile).toBe(
        pem,
      );
      expect(load({}).tls).toEqual({});

      const key = join(dir, 'ca.key');
      await writeFile(key, '-----BEGIN PRIVATE KEY-----\n');
      expect(configError({ ...tls, REDIS_TLS_CA_FILE: key }, 'REDIS_TLS_CA_FILE').message).toMatch(/holds no PEM certificate/);
      expect(configError({ ...tls, REDIS_TLS_CA_FILE: dir }, 'REDIS_TLS_CA_FILE').message).toMatch(/it is a directory/);
      expect(configError({ ...tls, REDIS_TLS_CA_FILE: join(dir, 'none.pem') }, 'REDIS_TLS_CA_FILE').message).toMatch(/no such file/);
      expect(configError({ REDIS_URL: 'redis://:hunter2@h:1', REDIS_TLS_CA_FILE: pem }, 'REDIS_TLS_CA_FILE').message).toMatch(
        /no Redis URL uses TLS/,
      );
      configError({ ...tls, REDIS_TLS_SERVERNAME: '10.0.0.1' }, 'REDIS_TLS_SERVERNAME');
      configError({ ...tls, REDIS_TLS_SERVERNAME: 'not a name' }, 'REDIS_TLS_SERVERNAME');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects an unparsable REDIS_URL', () => {
    configError({ REDIS_URL: 'redis://:hunter2@host:notaport' }, 'REDIS_URL');
    configError({ REDIS_URL: 'localhost' }, 'REDIS_URL');
  });

  it('rejects a URL that is not redis:// or rediss://', () => {
    const error = configError({ REDIS_URL: 'http://user:hunter2@host:6379' }, 'REDIS_URL');
    expect(error.message).toMatch(/redis:\/\//);
    configError({ QUEUE_REDIS_URL: 'https://:hunter2@host' }, 'QUEUE_REDIS_URL');
    configError({ CACHE_REDIS_URL: 'tcp://:hunter2@host:1' }, 'CACHE_REDIS_URL');
  });

  it('rejects a bad LOG_LEVEL, listing the allowed ones', () => {
    const error = configError({ LOG_LEVEL: 'loud', REDIS_URL: 'redis://:hunter2@h:1' }, 'LOG_LEVEL');
    expect(error.message).toMatch(/info/);
  });

  it('rejects a non-numeric or out-of-range WORKER_CONCURRENCY', () => {
    configError({ WORKER_CONCURRENCY: 'many', REDIS_URL: 'redis://:hunter2@h:1' }, 'WORKER_CONCURRENCY');
    configError({ WORKER_CONCURRENCY: '1.5' }, 'WORKER_CONCURRENCY');
    configError({ WORKER_CONCURRENCY: '0' }, 'WORKER_CONCURRENCY');
    configError({ LOCK_TTL_MS: '5' }, 'LOCK_TTL_MS');
    configError({ STRATEGY: 'yolo' }, 'STRATEGY');
    configError({ QUEUE_NAME: 'has space' }, 'QUEUE_NAME');
  });

  it('lets flags override the environment', () => {
    const env = {
      REDIS_URL: 'redis://env-host:6379',
      LOG_LEVEL: 'debug',
      WORKER_CONCURRENCY: '7',
      QUEUE_NAME: 'env-queue',
    };
    const config = load(env, {
      redisUrl: 'redis://flag-host:6380',
      logLevel: 'warn',
      concurrency: 3,
      queueName: 'flag-queue',
    });
    expect(config.redisUrl).toBe('redis://flag-host:6380');
    expect(config.redisUrlGiven).toBe(true);
    expect(config.queueRedisUrl).toBe('redis://flag-host:6380');
    expect(config.logLevel).toBe('warn');
    expect(config.concurrency).toBe(3);
    expect(config.queueName).toBe('flag-queue');
    // A flag replaces the variable entirely: a bad value it overrides does not matter.
    expect(load({ WORKER_CONCURRENCY: 'many' }, { concurrency: 5 }).concurrency).toBe(5);
    expect(load({ REDIS_URL: 'http://nope' }, { redisUrl: 'redis://ok:1' }).redisUrl).toBe('redis://ok:1');
    // Flags are checked too.
    expect(() => load({}, { redisUrl: 'http://user:hunter2@h' })).toThrow(ConfigError);
    expect(() => load({}, { logLevel: 'loud' as 'info' })).toThrow(/LOG_LEVEL/);
  });
});
