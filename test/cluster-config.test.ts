import { describe, expect, it } from 'vitest';
import { loadConfig } from '../scripts/common/config.js';
import { ConfigError } from '../scripts/common/errors.js';
import { redactUrl } from '../scripts/common/logging.js';
import { formatClusterUrl, isClusterUrl, parseClusterUrl } from '../scripts/redis/cluster-url.js';
import { createRedis, describeRedisUrl } from '../scripts/redis/connection.js';
import { localClusterTargets } from '../scripts/redis/local-cluster.js';

const NODES = '127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002';

describe('naming a cluster', () => {
  it('parses redis+cluster:// URLs: nodes, credentials, TLS', () => {
    expect(parseClusterUrl('REDIS_URL', `redis+cluster://${NODES}`)).toEqual({
      tls: false,
      nodes: [7000, 7001, 7002].map((port) => ({ host: '127.0.0.1', port })),
    });
    expect(parseClusterUrl('REDIS_URL', 'rediss+cluster://app:p%40ss@cache-1:6380,[::1]:7000,cache-2/')).toEqual({
      tls: true,
      username: 'app',
      password: 'p@ss',
      nodes: [
        { host: 'cache-1', port: 6380 },
        { host: '::1', port: 7000 },
        { host: 'cache-2', port: 6379 },
      ],
    });
    expect(isClusterUrl('redis://h:1')).toBe(false);
    expect(
      formatClusterUrl([
        { host: '127.0.0.1', port: 1 },
        { host: '::1', port: 2 },
      ]),
    ).toBe('redis+cluster://127.0.0.1:1,[::1]:2');
  });

  it.each([
    ['redis+cluster://', /host:port/],
    ['redis+cluster://a:1,,b:2', /host:port/],
    ['redis+cluster://a:99999', /not host:port/],
    ['redis+cluster://:hunter2@a:1/2', /database 0/],
    ['redis+cluster://a:1?x=1', /nothing else/],
  ])('rejects %s clearly, repeating no password', (url, message) => {
    expect(() => parseClusterUrl('REDIS_URL', url)).toThrow(message);
    expect(() => parseClusterUrl('REDIS_URL', url)).not.toThrow(/hunter2/);
  });

  it('describes and redacts a cluster URL without its password', () => {
    const url = `redis+cluster://:hunter2@${NODES}`;
    expect(describeRedisUrl(url)).toBe(`cluster ${NODES}`);
    expect(redactUrl(url)).toBe(`redis+cluster://:***@${NODES}`);
  });

  it('REDIS_CLUSTER_NODES is the same as a redis+cluster:// REDIS_URL, for queue and cache alike', () => {
    const config = loadConfig({}, { REDIS_CLUSTER_NODES: ` ${NODES.replaceAll(',', ', ')} ` });
    expect(config).toMatchObject({
      redisUrl: `redis+cluster://${NODES}`,
      redisUrlGiven: true,
      queueRedisUrl: `redis+cluster://${NODES}`,
      cacheRedisUrl: `redis+cluster://${NODES}`,
    });
    expect(loadConfig({}, { REDIS_URL: `redis+cluster://${NODES}` }).cacheRedisUrl).toBe(`redis+cluster://${NODES}`);
  });

  it('lets the queue and the cache each be one node or a cluster', () => {
    const split = loadConfig({}, { QUEUE_REDIS_URL: 'redis://queue:6379', CACHE_REDIS_CLUSTER_NODES: 'c1:7000,c2:7000' });
    expect(split).toMatchObject({ queueRedisUrl: 'redis://queue:6379', cacheRedisUrl: 'redis+cluster://c1:7000,c2:7000' });
    const reverse = loadConfig({}, { QUEUE_REDIS_CLUSTER_NODES: 'q1:7000', CACHE_REDIS_URL: 'redis://cache:6379' });
    expect(reverse).toMatchObject({ queueRedisUrl: 'redis+cluster://q1:7000', cacheRedisUrl: 'redis://cache:6379' });
  });

  it('refuses a URL and a node list for the same Redis, and a URL in a node list', () => {
    expect(() => loadConfig({}, { REDIS_URL: 'redis://h:1', REDIS_CLUSTER_NODES: NODES })).toThrow(
      /REDIS_URL or REDIS_CLUSTER_NODES, not both/,
    );
    expect(() => loadConfig({}, { CACHE_REDIS_URL: 'redis://h:1', CACHE_REDIS_CLUSTER_NODES: NODES })).toThrow(ConfigError);
    expect(() => loadConfig({}, { REDIS_CLUSTER_NODES: 'redis://:hunter2@h:1' })).toThrow(/comma-separated list of host:port/);
    expect(() => loadConfig({}, { QUEUE_REDIS_CLUSTER_NODES: 'a:1,b:x' })).toThrow(/QUEUE_REDIS_CLUSTER_NODES/);
    // A flag replaces the environment entirely.
    expect(loadConfig({ redisUrl: 'redis://flag:1' }, { REDIS_URL: 'redis://h:1', REDIS_CLUSTER_NODES: NODES }).redisUrl).toBe(
      'redis://flag:1',
    );
  });

  it('createRedis, for one node only, refuses a cluster URL (createRedisClient takes both)', () => {
    expect(() => createRedis(`redis+cluster://:hunter2@${NODES}`, 'producer')).toThrow(/single Redis, not the cluster 127\.0\.0\.1:7000/);
    expect(() => createRedis(`redis+cluster://:hunter2@${NODES}`, 'producer')).not.toThrow(/hunter2/);
  });

  it('the local cluster runs on the named loopback nodes, else on 7000-7002', () => {
    expect(localClusterTargets(`redis+cluster://${NODES.replaceAll('700', '2700')}`).map((t) => t.port)).toEqual([27000, 27001, 27002]);
    expect(localClusterTargets('redis://127.0.0.1:6379', '/nonexistent').map((t) => t.where)).toEqual(NODES.split(','));
    expect(() => localClusterTargets('redis+cluster://10.0.0.1:7000,10.0.0.2:7000,10.0.0.3:7000')).toThrow(/not this machine/);
    expect(() => localClusterTargets('redis+cluster://127.0.0.1:7000')).toThrow(/at least 3/);
  });
});
