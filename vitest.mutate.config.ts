import { defineConfig } from 'vitest/config';

/**
 * The tests `npm run mutate` runs against each mutant of the library core (stryker.config.mjs):
 * the ones that exercise the guard, the lock and their Redis scripts in the test process itself.
 * Tests whose subject runs in child processes (fleets, the demo, the bench, fault scenarios)
 * cannot see a mutant activated in the test process, so they are left to `npm test`.
 */
export default defineConfig({
  test: {
    include: [
      'test/acquire-resend.test.ts',
      'test/databases.test.ts',
      'test/envelope.test.ts',
      'test/events.test.ts',
      'test/failure-backoff.test.ts',
      'test/failure-policy.test.ts',
      'test/fair-lock.test.ts',
      'test/guard-edges.test.ts',
      'test/holder-edge-cases.test.ts',
      'test/holder-gone.test.ts',
      'test/json-value.test.ts',
      'test/keyed-mutex.test.ts',
      'test/keys-expire.test.ts',
      'test/keys.test.ts',
      'test/l1.test.ts',
      'test/log-events.test.ts',
      'test/notified-value.test.ts',
      'test/notifier.test.ts',
      'test/options-bounds.test.ts',
      'test/options.test.ts',
      'test/reconnect.test.ts',
      'test/redis-lock.test.ts',
      'test/refresh-reread.test.ts',
      'test/scripts.test.ts',
      'test/set-delete.test.ts',
      'test/strategies.test.ts',
      'test/swr-xfetch.test.ts',
      'test/wait-missed-failure.test.ts',
      'test/waiting.test.ts',
      'test/watchdog.test.ts',
    ],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
