import { defineConfig } from 'vitest/config';

/**
 * The guard's behaviour on each client library it accepts (issue 29): every test runs with
 * ioredis; the model checker runs again with iovalkey and node-redis, the cluster failovers with
 * node-redis (iovalkey has no sharded subscribers: the guard refuses its Cluster) (TEST_REDIS_CLIENT,
 * read by test/support/clients.ts). test/clients.test.ts runs its cases on all
 * three itself.
 */
const AGAIN_ON_EACH_CLIENT = {
  iovalkey: ['test/model/guard-model.test.ts'],
  'node-redis': ['test/model/guard-model.test.ts', 'test/cluster-failover.test.ts'],
};

export default defineConfig({
  test: {
    // One private redis-server for the whole run; each test file uses its own key prefix
    // and queue name, so files can run side by side.
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests spawn worker processes; on a 2-core box more parallel files only add contention.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'ioredis', include: ['test/**/*.test.ts'], env: { TEST_REDIS_CLIENT: 'ioredis' } } },
      ...(['iovalkey', 'node-redis'] as const).map((library) => ({
        extends: true as const,
        test: { name: library, include: AGAIN_ON_EACH_CLIENT[library], env: { TEST_REDIS_CLIENT: library } },
      })),
    ],
  },
});
