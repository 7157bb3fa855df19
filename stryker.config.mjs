// @ts-check
/**
 * Mutation testing of the library core: `npm run mutate` (see docs/development.md). Each mutant is
 * a small change to the code (a flipped condition, a removed call, a changed constant); a good
 * test suite fails on it. perTest coverage runs only the tests that reach a mutant, and the
 * incremental file lets a second run re-test only what changed since the first.
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  vitest: { configFile: 'vitest.mutate.config.ts' },
  coverageAnalysis: 'perTest',
  mutate: ['src/cache/**/*.ts', 'src/lock/**/*.ts', 'src/redis/script.ts', 'src/redis/notifier.ts', '!src/**/index.ts'],
  // Mutants in module-level code (constants, the Lua text) would need every test for each one.
  ignoreStatic: true,
  incremental: true,
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  // event-recorder writes each mutant's result as it is tested (reports/mutation/events/): a long
  // run can be read before it ends.
  reporters: ['clear-text', 'progress', 'html', 'json', 'event-recorder'],
  eventReporter: { baseDir: 'reports/mutation/events' },
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: '.stryker-tmp',
  // Stryker rewrites a tsconfig with TypeScript's compiler API, which TypeScript 7 no longer has;
  // ours needs no rewriting (nothing outside the sandbox), so point it at a file that is not there.
  tsconfigFile: 'tsconfig.stryker-does-not-rewrite.json',
  // The tests mostly wait on Redis and timers: on 2 cores, 5 runners keep them busy.
  concurrency: 5,
  // A mutant that hangs a wait is killed by its timeout: the covering tests' own time x 1.5 plus this.
  timeoutMS: 10_000,
  thresholds: { high: 90, low: 80, break: null },
};
