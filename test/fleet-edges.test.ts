/**
 * The fleet at its edges (issue 23, findings 5 and 12), each through the real commands:
 * - stopped by SIGTERM, as a service manager or `timeout` sends it to the fleet's whole process
 *   group, every worker exits cleanly and the fleet says so (exit 0); a worker that keeps getting
 *   SIGTERM while it stops (the fleet forwards the one the group also got) still exits 0;
 * - a compute module the workers cannot use is found once, before any worker starts: one line,
 *   exit code 2; a fleet whose last worker exits says so instead of "the other workers keep serving".
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { occupyPort } from './support/ports.js';
import { redisUrl, uniquePrefix } from './support/redis.js';
import { nonEmptyLines, runCommand } from './support/run-command.js';
import { projectPath, spawnWorker } from './support/worker-process.js';

let logDir = '';
let env: Record<string, string> = {};
beforeAll(async () => {
  logDir = await mkdtemp(join(tmpdir(), 'cs-fleet-edges-'));
  env = { REDIS_URL: redisUrl(), QUEUE_NAME: `q-${uniquePrefix('fleet-edges')}`, LOG_DIR: logDir };
});
afterAll(async () => {
  await rm(logDir, { recursive: true, force: true });
});

/** The fleet in a process group of its own, as a service manager runs it; its output and exit. */
function spawnFleetGroup(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', projectPath('scripts/fleet.ts'), ...args], {
    cwd: projectPath(''),
    env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exit = new Promise<number | string>((resolve) => child.once('close', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  return {
    child,
    exit,
    stdout: () => stdout,
    stderr: () => stderr,
    async waitFor(pattern: RegExp, timeoutMs = 90_000): Promise<void> {
      const giveUpAt = Date.now() + timeoutMs;
      while (!pattern.test(stdout)) {
        if (Date.now() > giveUpAt || child.exitCode !== null) throw new Error(`no ${pattern} in the fleet's output:\n${stdout}${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
  };
}

describe.concurrent('stopped by SIGTERM (finding 5)', { timeout: 150_000 }, () => {
  it('SIGTERM to the fleet and its process group (as `timeout` sends it) stops every worker cleanly, and the fleet says so (exit 0)', async () => {
    const fleet = spawnFleetGroup(['--workers', '2']);
    try {
      // "logging to": the last line of a worker's start, once it stops gracefully on a signal.
      await fleet.waitFor(/worker-1 logging to [\s\S]*worker-2 logging to |worker-2 logging to [\s\S]*worker-1 logging to /);
      // What `timeout` does: SIGTERM to the fleet, then to its whole process group (a service
      // manager's stop sends it to every process of the group or cgroup, too).
      process.kill(fleet.child.pid!, 'SIGTERM');
      process.kill(-fleet.child.pid!, 'SIGTERM');
      const code = await fleet.exit;
      const output = fleet.stdout() + fleet.stderr();
      expect(output).toContain('[worker-1] worker-1 stopped');
      expect(output).toContain('[worker-2] worker-2 stopped');
      expect(output).toContain('fleet stopped: 2 of 2 workers exited cleanly');
      expect(output).not.toContain('exited with signal');
      expect(code, output).toBe(0);
    } finally {
      if (fleet.child.exitCode === null) process.kill(-fleet.child.pid!, 'SIGKILL');
    }
  });

  it('a worker that keeps getting SIGTERM while it stops, up to its exit, still exits 0', async () => {
    const worker = spawnWorker(env, ['--worker-id', 'sigterm-again']);
    await worker.waitForLine(/sigterm-again logging to /, 90_000);
    worker.child.kill('SIGTERM');
    // Every 2 ms from the first one on, until it has exited: one lands while it exits, where
    // the fleet's forwarded copy of a service manager's SIGTERM can land.
    const again = setInterval(() => {
      if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGTERM');
    }, 2);
    const code = await worker.exit.finally(() => clearInterval(again));
    expect(worker.output()).toContain('sigterm-again stopped');
    expect(code, worker.output()).toBe(0);
  });
});

describe.concurrent('a compute module the workers cannot use (finding 12)', { timeout: 150_000 }, () => {
  const cases: [string, string, RegExp][] = [
    [
      'no function as default export',
      'test/fixtures/compute/no-default.mjs',
      /^error: compute module .*no-default\.mjs has no function as default export .*$/,
    ],
    ['throws on load', 'test/fixtures/compute/throws-on-load.mjs', /^error: compute module .*throws-on-load\.mjs failed to load: .*$/],
    ['missing', 'test/fixtures/compute/not-there.mjs', /^error: compute module .*not-there\.mjs: no such file$/],
  ];
  for (const [name, module, line] of cases) {
    it(`${name}: one line, exit code 2, no worker started`, async () => {
      const result = await runCommand('scripts/fleet.ts', ['--workers', '2', '--compute', module], env, 120_000);
      const context = JSON.stringify(result);
      expect(result.code, context).toBe(2);
      expect(nonEmptyLines(result.stderr), context).toEqual([expect.stringMatching(line)]);
      expect(result.stdout, context).toBe('');
      expect(result.stderr, context).not.toContain('s3cret');
    });
  }

  it('the last worker to exit is not said to leave others serving; a fleet whose every worker refused to start exits 2', async () => {
    const taken = await occupyPort();
    try {
      const result = await runCommand('scripts/fleet.ts', ['--workers', '1', '--metrics-port', String(taken.port)], env, 120_000);
      const context = JSON.stringify(result);
      expect(result.stdout, context).toContain('[fleet] worker-1 exited with code 2; no worker is left');
      expect(result.stdout, context).not.toContain('keep serving');
      expect(result.stdout, context).not.toMatch(/exec .* exited with code/); // concurrently's own exit line
      expect(result.stdout, context).toContain('fleet stopped: 0 of 1 workers exited cleanly');
      expect(result.code, context).toBe(2);
    } finally {
      await taken.close();
    }
  });
});
