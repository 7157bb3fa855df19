/**
 * `npm run invalidate` (issue 28) as a real process: `--help`; bad flags and a bad or unreachable
 * Redis give one `error:` line and exit 2; `--namespace` clears a namespace (and one inside
 * another) that a guard of this process wrote; `--tags` reaches only the values under its
 * KEY_PREFIX; `--json` says what it did. (Tagged jobs through a worker: job-tags.test.ts.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { closeGuards, processGuard } from './support/guards.js';
import { closedPort } from './support/ports.js';
import { redisUrl, uniquePrefix } from './support/redis.js';
import { nonEmptyLines, runCommand, type CommandRun } from './support/run-command.js';

const INVALIDATE = 'scripts/invalidate.ts';
afterEach(closeGuards);

function run(args: string[], env: Record<string, string> = {}): Promise<CommandRun> {
  return runCommand(INVALIDATE, args, { REDIS_URL: redisUrl(), ...env });
}

/** Exit 2, and stderr is exactly one line that starts with `error:` and matches `names`. */
function expectUsageError(result: CommandRun, names: RegExp): void {
  const context = JSON.stringify(result);
  expect(result.code, context).toBe(2);
  expect(nonEmptyLines(result.stderr), context).toEqual([expect.stringMatching(/^error: /)]);
  expect(result.stderr, context).toMatch(names);
  expect(result.stdout, context).toBe('');
}

describe.concurrent('npm run invalidate: usage and bad input', { timeout: 120_000 }, () => {
  it('--help: usage on stdout, exit 0, whatever REDIS_URL says', async () => {
    const result = await run(['--help'], { REDIS_URL: 'http://not-used-by-help' });
    expect(result.code, JSON.stringify(result)).toBe(0);
    expect(result.stdout).toMatch(/^Usage: invalidate /);
    expect(result.stdout).toMatch(/--tags <list>/);
    expect(result.stdout).toMatch(/--namespace <path>/);
    expect(result.stderr).toBe('');
  });

  const cases: [string, string[], RegExp][] = [
    ['nothing to invalidate', [], /give --tags or --namespace/],
    ['both --tags and --namespace', ['--tags', 'a', '--namespace', 'users'], /give --tags or --namespace \(one of them\)/],
    ['an empty tag in the list', ['--tags', 'a,,b'], /--tags.*'a,,b'.*a tag is a string of 1 to 256 characters, got ""/],
    ['an empty list', ['--tags', ''], /--tags.*a tag is a string of 1 to 256 characters, got ""/],
    ['65 tags', ['--tags', Array.from({ length: 65 }, (_, i) => `t${i}`).join(',')], /--tags.*at most 64 tags, got 65/],
    ['a namespace name with a space', ['--namespace', 'a b'], /--namespace.*'a b'.*a namespace name is 1 to 64 of/],
    ['an empty inner namespace', ['--namespace', 'users/'], /--namespace.*'users\/'.*got ""/],
    ['an unknown flag', ['--tag', 'a'], /unknown option '--tag'/],
  ];
  for (const [name, args, names] of cases) {
    it(name, async () => {
      const result = await run(args);
      expect(result.code, JSON.stringify(result)).toBe(2);
      // commander may add its "(Did you mean ...?)" hint to an unknown flag: the first line names the problem.
      const lines = nonEmptyLines(result.stderr);
      expect(lines[0], JSON.stringify(result)).toMatch(/^error: /);
      expect(lines[0], JSON.stringify(result)).toMatch(names);
      expect(lines.slice(1)).toEqual(lines.length > 1 ? [expect.stringMatching(/^\(Did you mean --tags\?\)$/)] : []);
    });
  }

  it('REDIS_URL that is not a Redis URL: named, its password not repeated', async () => {
    const result = await run(['--tags', 'a'], { REDIS_URL: 'http://user:s3cret@x' });
    expectUsageError(result, /REDIS_URL must start with redis:\/\/ or rediss:\/\//);
    expect(result.stderr).not.toContain('s3cret');
  });

  it('an unreachable Redis (closed port): host:port and the cause', async () => {
    const port = await closedPort();
    expectUsageError(
      await run(['--tags', 'a'], { REDIS_URL: `redis://127.0.0.1:${port}` }),
      new RegExp(`127\\.0\\.0\\.1:${port}.*connection refused`),
    );
  });

  it('a wrong password: host:port and the cause, the password not repeated', async () => {
    const port = new URL(redisUrl()).port;
    const result = await run(['--namespace', 'users'], { REDIS_URL: `redis://nobody:s3cret@127.0.0.1:${port}` });
    expectUsageError(result, new RegExp(`cannot use Redis at 127\\.0\\.0\\.1:${port}: wrong password`));
    expect(result.stderr).not.toContain('s3cret');
  });
});

describe('npm run invalidate against values a guard wrote', { timeout: 120_000 }, () => {
  it('--namespace users/eu clears the inner namespace only; --namespace users clears both', async () => {
    const prefix = uniquePrefix('invalidate-ns');
    const { guard } = processGuard({ keyPrefix: prefix });
    let n = 0;
    const compute = async () => `v${++n}`;
    const users = guard.namespace('users');
    const eu = users.namespace('eu');
    const read = async () => ({ users: await users.getOrCompute('42', compute), eu: await eu.getOrCompute('42', compute) });
    expect(await read()).toEqual({ users: { value: 'v1', source: 'computed' }, eu: { value: 'v2', source: 'computed' } });

    const inner = await run(['--namespace', 'users/eu', '--json'], { KEY_PREFIX: prefix });
    expect(inner.code, JSON.stringify(inner)).toBe(0);
    expect(JSON.parse(inner.stdout)).toEqual({
      namespace: 'users/eu',
      keyPrefix: prefix,
      redis: `127.0.0.1:${new URL(redisUrl()).port}`,
      ms: expect.any(Number),
    });
    expect(await read()).toEqual({ users: { value: 'v1', source: 'cache' }, eu: { value: 'v3', source: 'computed' } });

    const outer = await run(['--namespace', 'users'], { KEY_PREFIX: prefix });
    expect(outer.code, JSON.stringify(outer)).toBe(0);
    expect(outer.stdout).toMatch(
      new RegExp(
        `^invalidated namespace users \\(its keys users:\\*\\) under key prefix ${prefix} on 127\\.0\\.0\\.1:\\d+ in [\\d.]+ ms\\n$`,
      ),
    );
    expect(await read()).toEqual({ users: { value: 'v4', source: 'computed' }, eu: { value: 'v5', source: 'computed' } });
  });

  it('--tags reaches the values under its KEY_PREFIX only', async () => {
    const [mine, theirs] = [uniquePrefix('invalidate-mine'), uniquePrefix('invalidate-theirs')];
    const a = processGuard({ keyPrefix: mine });
    const b = processGuard({ keyPrefix: theirs });
    let n = 0;
    const compute = async () => `v${++n}`;
    await a.guard.getOrCompute('k', compute, { tags: ['shared', 'x'] });
    await b.guard.getOrCompute('k', compute, { tags: ['shared'] });

    const result = await run(['--tags', 'shared,y'], { KEY_PREFIX: mine });
    expect(result.code, JSON.stringify(result)).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^invalidated tags shared, y under key prefix ${mine} `));
    expect(await a.guard.getOrCompute('k', compute, { tags: ['shared', 'x'] })).toEqual({ value: 'v3', source: 'computed' });
    expect(await b.guard.getOrCompute('k', compute, { tags: ['shared'] })).toEqual({ value: 'v2', source: 'cache' });
  });
});
