import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One private redis-server for the whole run; each test file uses its own key prefix
    // and queue name, so files can run side by side.
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests spawn worker processes; on a 2-core box more parallel files only add contention.
    maxWorkers: 2,
  },
});
