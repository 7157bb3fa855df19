/**
 * The command-line tools: bad flags and bad environment give one clear `error:` line on stderr
 * and exit code 2 (bad usage or configuration); `--help` prints usage and exits 0.
 * Each command runs as a real process, `node --import tsx <entry>`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisUrl } from './support/redis.js';
import { nonEmptyLines, runCommand, type CommandRun as Run } from './support/run-command.js';
import { closedPort } from './support/ports.js';

/** Run a command to its end (killed after `timeoutMs`, which only bounds a hang). */
function run(entry: string, args: string[], env: Record<string, string> = {}, timeoutMs = 90_000): Promise<Run> {
  // A working REDIS_URL unless a test says otherwise, so nothing touches a Redis on 6379;
  // LOG_DIR outside the repository (a worker opens its log file before it connects).
  return runCommand(entry, args, { REDIS_URL: redisUrl(), QUEUE_NAME: 'q-cli-test', LOG_DIR: LOG_DIR, ...env }, timeoutMs);
}

/** Created before the tests, removed after. */
let LOG_DIR = join(tmpdir(), 'cs-cli-test-unset');
beforeAll(async () => {
  LOG_DIR = await mkdtemp(join(tmpdir(), 'cs-cli-'));
});
afterAll(async () => {
  await rm(LOG_DIR, { recursive: true, force: true });
});

/** Exit 2, and stderr is exactly one line that starts with `error:` and matches `names`. */
function expectUsageError(result: Run, names: RegExp): void {
  const context = JSON.stringify(result);
  expect(result.code, context).toBe(2);
  const lines = nonEmptyLines(result.stderr);
  expect(lines, context).toHaveLength(1);
  expect(lines[0], context).toMatch(/^error: /);
  expect(lines[0], context).toMatch(names);
}

const BURST = 'scripts/burst.ts';
const FLEET = 'scripts/fleet.ts';
const DEMO = 'scripts/demo.ts';
const LOGS = 'scripts/logs.ts';
const LOAD = 'scripts/load.ts';
const WORKER = 'workers/worker.ts';

describe.concurrent('bad flags: one error line, exit 2', { timeout: 120_000 }, () => {
  const cases: [string, string, string[], RegExp][] = [
    ['burst --jobs 0', BURST, ['--jobs', '0'], /--jobs.*'0'.*1 to 1000000/],
    ['burst --jobs abc', BURST, ['--jobs', 'abc'], /--jobs.*'abc'.*whole number/],
    ['burst --strategy nope', BURST, ['--strategy', 'nope'], /--strategy.*'nope'.*none, local-lock, redis-lock/],
    ['burst --bogus', BURST, ['--bogus'], /unknown option '--bogus'/],
    ['burst --params [1]', BURST, ['--params', '[1]'], /--params.*'\[1\]'.*"params" must be an object/],
    ['burst --params {bad', BURST, ['--params', '{bad'], /--params.*expected a JSON object/],
    ['fleet --workers 0', FLEET, ['--workers', '0'], /--workers.*'0'.*1 to 64/],
    ['demo --strategies none,nope', DEMO, ['--strategies', 'none,nope'], /--strategies.*'none,nope'.*none, local-lock/],
    ['demo --load-duration 0', DEMO, ['--load-duration', '0'], /--load-duration.*'0'.*1 to 3600/],
    ['demo --load-strategies nope', DEMO, ['--load-strategies', 'nope'], /--load-strategies.*'nope'.*none, local-lock/],
    ['logs --by nope', LOGS, ['--by', 'nope'], /--by.*'nope'.*strategy, key, run, worker/],
    ['load --rate 0', LOAD, ['--rate', '0'], /--rate.*'0'.*1 to 100000/],
    ['load --burst 5', LOAD, ['--burst', '5'], /--burst takes <seconds>:<jobs>/],
    [
      'load --flush-at 20 --duration 10',
      LOAD,
      ['--flush-at', '20', '--duration', '10'],
      /--flush-at at 20 s is not within the traffic's 10 s/,
    ],
    ['load --zipf-s x', LOAD, ['--zipf-s', 'x'], /--zipf-s.*'x'.*a number from 0 to 10/],
    ['load --strategies nope', LOAD, ['--strategies', 'nope'], /--strategies.*'nope'.*none, local-lock/],
    ['load --compute nope.mjs', LOAD, ['--compute', 'nope.mjs'], /compute module .*nope\.mjs: no such file/],
    ['logs --run ""', LOGS, ['--run', ''], /--run.*empty/],
    ['worker --concurrency 0', WORKER, ['--concurrency', '0'], /--concurrency.*'0'.*1 to 10000/],
    ['worker --metrics-port 70000', WORKER, ['--metrics-port', '70000'], /--metrics-port.*'70000'.*0 to 65535/],
    [
      'fleet --workers 3 --metrics-port 65534',
      FLEET,
      ['--workers', '3', '--metrics-port', '65534'],
      /ports up to 65536; the last port is 65535/,
    ],
    [
      'worker --metrics-host 192.0.2.1 (not an address of this machine)',
      WORKER,
      ['--metrics-port', '0', '--metrics-host', '192.0.2.1'],
      /cannot serve metrics on 192\.0\.2\.1: not an address of this machine/,
    ],
  ];
  for (const [name, entry, args, names] of cases) {
    it(name, async () => expectUsageError(await run(entry, args), names));
  }

  it('a misspelt flag names the problem on the first line (commander may add a suggestion)', async () => {
    const result = await run(BURST, ['--job', '5']);
    expect(result.code).toBe(2);
    const lines = nonEmptyLines(result.stderr);
    expect(lines[0]).toMatch(/^error: unknown option '--job'/);
    // The only second line allowed is commander's hint.
    expect(lines.slice(1)).toEqual(lines.length > 1 ? [expect.stringMatching(/^\(Did you mean --jobs\?\)$/)] : []);
  });
});

describe.concurrent('bad environment: one error line, exit 2', { timeout: 120_000 }, () => {
  it('burst with REDIS_URL=http://x', async () => {
    expectUsageError(await run(BURST, [], { REDIS_URL: 'http://x' }), /REDIS_URL must start with redis:\/\/ or rediss:\/\//);
  });
  it('fleet with REDIS_URL that is not a URL', async () => {
    expectUsageError(await run(FLEET, [], { REDIS_URL: 'not a url' }), /REDIS_URL is not a valid URL/);
  });
  it('worker with METRICS_PORT=abc', async () => {
    expectUsageError(await run(WORKER, [], { METRICS_PORT: 'abc' }), /METRICS_PORT must be a whole number, got "abc"/);
  });
  it('fleet with METRICS_HOST that is not a host', async () => {
    expectUsageError(
      await run(FLEET, ['--metrics-port', '0'], { METRICS_HOST: 'a b' }),
      /METRICS_HOST must be a host name or an IP address/,
    );
  });
  it('burst with LOG_LEVEL=loud', async () => {
    expectUsageError(await run(BURST, [], { LOG_LEVEL: 'loud' }), /LOG_LEVEL must be one of .*"loud"/);
  });
  it('a password in a bad REDIS_URL is not repeated', async () => {
    const result = await run(BURST, [], { REDIS_URL: 'http://user:s3cret@x' });
    expectUsageError(result, /REDIS_URL/);
    expect(result.stderr + result.stdout).not.toContain('s3cret');
  });

  // burst and fleet share the start-up probe; the worker goes through its own start-up path.
  for (const entry of [BURST, WORKER]) {
    it(`${entry} with an unreachable REDIS_URL (closed port) names host:port and gives up`, async () => {
      const port = await closedPort();
      // The probe gives up after its 3 s connect timeout at most; run()'s bound only stops a hang
      // (no timing assertion: on a loaded box even starting node can take seconds).
      const result = await run(entry, [], { REDIS_URL: `redis://127.0.0.1:${port}` });
      expectUsageError(result, new RegExp(`127\\.0\\.0\\.1:${port}.*connection refused`));
    });
  }
});

describe.concurrent('--help: usage on stdout, exit 0', { timeout: 120_000 }, () => {
  for (const entry of [BURST, FLEET, DEMO, LOGS, LOAD, WORKER]) {
    it(entry, async () => {
      const result = await run(entry, ['--help'], { REDIS_URL: 'http://not-used-by-help' });
      expect(result.code, JSON.stringify(result)).toBe(0);
      expect(result.stdout).toMatch(/^Usage: \w+ /);
      expect(result.stdout).toMatch(/--help/);
      expect(result.stderr).toBe('');
    });
  }
});
