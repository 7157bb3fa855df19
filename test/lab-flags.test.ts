/**
 * The lab's flags at their edges (issue 23, findings 13 to 16): bad input is one `error:` line that
 * names the flag the user typed, exit code 2, no stack trace, checked before connecting anywhere
 * and before anything is created.
 */
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort } from './support/ports.js';
import { redisUrl, uniquePrefix } from './support/redis.js';
import { type CommandRun, nonEmptyLines, runCommand } from './support/run-command.js';

let dir = '';
let env: Record<string, string> = {};
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cs-lab-flags-'));
  env = { REDIS_URL: redisUrl(), QUEUE_NAME: `q-${uniquePrefix('lab-flags')}`, LOG_DIR: join(dir, 'logs') };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Exit 2, and stderr is exactly one line: `error: ...` matching `names`; nothing on stdout. */
function expectOneLine(result: CommandRun, names: RegExp): void {
  const context = JSON.stringify(result);
  expect(result.code, context).toBe(2);
  expect(nonEmptyLines(result.stderr), context).toEqual([expect.stringMatching(/^error: /)]);
  expect(result.stderr, context).toMatch(names);
  expect(result.stdout, context).toBe('');
}

describe.concurrent('worker --worker-id must be a safe file name: it names the log (finding 13)', { timeout: 120_000 }, () => {
  for (const id of ['a b/c', '', '../up', '.hidden', 'x'.repeat(65)]) {
    it(JSON.stringify(id.length > 20 ? `${id.slice(0, 8)}... (${id.length})` : id), async () => {
      // A closed port: refused before connecting, and before the log directory is made.
      const port = await closedPort();
      const logDir = join(dir, `logs-${uniquePrefix('id')}`);
      const result = await runCommand('workers/worker.ts', ['--worker-id', id], {
        ...env,
        LOG_DIR: logDir,
        REDIS_URL: `redis://127.0.0.1:${port}`,
      });
      expectOneLine(result, /--worker-id.*letters, digits/);
      await expect(stat(logDir)).rejects.toMatchObject({ code: 'ENOENT' });
    });
  }
});

describe.concurrent('--metrics-host names the flag, not METRICS_HOST (finding 14)', { timeout: 120_000 }, () => {
  for (const entry of ['workers/worker.ts', 'scripts/fleet.ts']) {
    it(entry, async () => {
      const result = await runCommand(entry, ['--metrics-port', '0', '--metrics-host', 'bad host!'], env);
      expectOneLine(result, /--metrics-host.*'bad host!'.*a host name or an IP address/);
      expect(result.stderr).not.toContain('METRICS_HOST');
    });
  }
  it('METRICS_HOST is still named when it is the variable that is wrong', async () => {
    const result = await runCommand('workers/worker.ts', ['--metrics-port', '0'], { ...env, METRICS_HOST: 'bad host!' });
    expectOneLine(result, /METRICS_HOST must be a host name or an IP address/);
  });
});

describe.concurrent('logs --html creates the file asked for, nothing else (finding 15)', { timeout: 120_000 }, () => {
  /** A directory with one log line in it, and a regular file beside it. */
  async function setUp(): Promise<{ logs: string; file: string; base: string }> {
    const base = join(dir, uniquePrefix('html'));
    const logs = join(base, 'logs');
    await mkdir(logs, { recursive: true });
    await writeFile(
      join(logs, 'w.ndjson'),
      `${JSON.stringify({ level: 30, time: 1, event: 'job.completed', strategy: 'none', key: 'k', runId: 'r', workerId: 'w', latencyMs: 1, source: 'computed' })}\n`,
    );
    const file = join(base, 'a-file');
    await writeFile(file, 'not a directory');
    return { logs, file, base };
  }

  it('a path under a regular file: one line naming it, exit 2', async () => {
    const { logs, file } = await setUp();
    const result = await runCommand('scripts/logs.ts', [logs, '--html', join(file, 'report.html')], env);
    expectOneLine(
      result,
      new RegExp(`cannot write the HTML report to ${reEscape(join(file, 'report.html'))}: ${reEscape(file)} is a file, not a directory`),
    );
  });

  it('a path in a directory that does not exist: one line, and no directory is created', async () => {
    const { logs, base } = await setUp();
    const target = join(base, 'missing', 'deeper', 'report.html');
    const result = await runCommand('scripts/logs.ts', [logs, '--html', target], env);
    expectOneLine(
      result,
      new RegExp(
        `cannot write the HTML report to ${reEscape(target)}: directory ${reEscape(join(base, 'missing', 'deeper'))} does not exist`,
      ),
    );
    expect((await readdir(base)).sort()).toEqual(['a-file', 'logs']);
  });

  it('a directory as the file: one line naming it', async () => {
    const { logs, base } = await setUp();
    const result = await runCommand('scripts/logs.ts', [logs, '--html', base], env);
    expectOneLine(result, new RegExp(`cannot write the HTML report to ${reEscape(base)}: it is a directory`));
  });

  it('a file in a directory that exists is written, and its path printed', async () => {
    const { logs, base } = await setUp();
    const target = join(base, 'report.html');
    const result = await runCommand('scripts/logs.ts', [logs, '--html', target], env);
    expect(result.code, JSON.stringify(result)).toBe(0);
    expect(result.stdout).toContain(`html report: ${target}`);
    expect((await stat(target)).isFile()).toBe(true);
  });
});

describe.concurrent('burst --run-id is checked before connecting (finding 16)', { timeout: 120_000 }, () => {
  for (const runId of ['', 'r'.repeat(129)]) {
    it(`--run-id of ${runId.length} characters: one line naming the flag, nothing sent`, async () => {
      // Redis on a closed port: the flag is refused before any connection (or warning) is tried.
      const port = await closedPort();
      const result = await runCommand('scripts/burst.ts', ['--jobs', '1', '--run-id', runId], {
        ...env,
        REDIS_URL: `redis://127.0.0.1:${port}`,
      });
      expectOneLine(result, /--run-id.*"runId" must be a string of 1 to 128 characters/);
    });
  }
});

function reEscape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
