import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findFreePort } from '../redis/redis-server.js';

/**
 * Fault 8, commands: bad command-line flags and bad environment given to the real entry points
 * (`workers/worker.ts`, `scripts/*.ts`), each in a fresh process. Each must end quickly with
 * one clear `error: ...` line and exit code 2: no stack trace, no hang, and never the password.
 */
export interface CommandCase {
  name: string;
  /** Project file to run, e.g. `workers/worker.ts`. */
  entry: string;
  args: string[];
  env: Record<string, string>;
  /** What the error line must say. */
  expect: RegExp;
}

export interface CommandResult {
  name: string;
  exitCode: number | string | null;
  /** The line that starts with `error:` (or the first line of output). */
  errorLine: string;
  ms: number;
  matched: boolean;
  stackTrace: boolean;
  /** The secret appeared in the output or in a log file the process wrote. */
  leaked: boolean;
  timedOut: boolean;
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSX = import.meta.resolve('tsx');
const TIMEOUT_MS = 45_000;

export interface Servers {
  /** Port of a Redis that wants `password`. */
  securedPort: number;
  /** Port of a Redis without a password. */
  openPort: number;
  password: string;
}

/** Every case, against the given servers; `secret` is the recognisable password. */
export async function commandCases(servers: Servers): Promise<CommandCase[]> {
  const { securedPort, openPort, password } = servers;
  const closedPort = await findFreePort();
  const auth = `:${password}@`;
  const worker = 'workers/worker.ts';
  const url = (u: string) => ({ REDIS_URL: u });
  const good = url(`redis://${auth}127.0.0.1:${securedPort}`);
  return [
    // Flags.
    {
      name: 'burst --jobs abc',
      entry: 'scripts/burst.ts',
      args: ['--jobs', 'abc'],
      env: good,
      expect: /error: option '--jobs <n>' argument 'abc' is invalid\. expected a whole number/,
    },
    {
      name: 'burst --strategy nope',
      entry: 'scripts/burst.ts',
      args: ['--strategy', 'nope'],
      env: good,
      expect: /argument 'nope' is invalid\. expected one of none, local-lock, redis-lock/,
    },
    { name: 'burst --bogus', entry: 'scripts/burst.ts', args: ['--bogus'], env: good, expect: /error: unknown option '--bogus'/ },
    {
      name: 'worker --lock-duration 5',
      entry: worker,
      args: ['--lock-duration', '5'],
      env: good,
      expect: /argument '5' is invalid\. expected 100 to/,
    },
    {
      name: 'worker --stalled-interval 1e3',
      entry: worker,
      args: ['--stalled-interval', '1e3'],
      env: good,
      expect: /argument '1e3' is invalid\. expected a whole number/,
    },
    {
      name: 'fleet --workers -1',
      entry: 'scripts/fleet.ts',
      args: ['--workers', '-1'],
      env: good,
      expect: /argument '-1' is invalid\. expected 1 to 64/,
    },
    // Environment: the URL.
    {
      name: 'unparsable REDIS_URL',
      entry: worker,
      args: [],
      env: url(`redis://${auth}127.0.0.1:notaport`),
      expect: /error: REDIS_URL is not a valid URL/,
    },
    { name: 'REDIS_URL not a URL at all', entry: worker, args: [], env: url(password), expect: /error: REDIS_URL is not a valid URL/ },
    {
      name: 'http:// REDIS_URL',
      entry: worker,
      args: [],
      env: url(`http://${auth}127.0.0.1:${securedPort}`),
      expect: /error: REDIS_URL must start with redis:\/\/ or rediss:\/\/, got http:/,
    },
    {
      name: 'bad QUEUE_REDIS_URL',
      entry: worker,
      args: [],
      env: { ...good, QUEUE_REDIS_URL: `redis://${auth}[::1` },
      expect: /error: QUEUE_REDIS_URL is not a valid URL/,
    },
    // Environment: where the URL leads.
    {
      name: 'closed port',
      entry: worker,
      args: [],
      env: url(`redis://${auth}127.0.0.1:${closedPort}`),
      expect: new RegExp(`error: cannot use Redis at 127\\.0\\.0\\.1:${closedPort}: connection refused`),
    },
    {
      name: 'unknown host',
      entry: worker,
      args: [],
      env: url(`redis://${auth}no-such-host.invalid:6379`),
      expect: /error: cannot use Redis at no-such-host\.invalid:6379: (unknown host|connection timed out)/,
    },
    {
      name: 'wrong password',
      entry: worker,
      args: [],
      env: url(`redis://:wrong-${password}@127.0.0.1:${securedPort}`),
      expect: /error: cannot use Redis at 127\.0\.0\.1:\d+: wrong password/,
    },
    {
      name: 'wrong password (producer)',
      entry: 'scripts/burst.ts',
      args: ['--jobs', '1'],
      env: url(`redis://:wrong-${password}@127.0.0.1:${securedPort}`),
      expect: /error: cannot use Redis at 127\.0\.0\.1:\d+: wrong password/,
    },
    {
      name: 'no password for a secured server',
      entry: worker,
      args: [],
      env: url(`redis://127.0.0.1:${securedPort}`),
      expect: /error: cannot use Redis at 127\.0\.0\.1:\d+: a password is required/,
    },
    {
      name: 'password for an open server',
      entry: worker,
      args: [],
      env: url(`redis://${auth}127.0.0.1:${openPort}`),
      expect: /error: cannot use Redis at 127\.0\.0\.1:\d+: a password was given but the server has none/,
    },
    {
      name: 'TLS to a plain port',
      entry: worker,
      args: [],
      env: url(`rediss://${auth}127.0.0.1:${securedPort}`),
      expect:
        /error: cannot use Redis at 127\.0\.0\.1:\d+: (TLS handshake failed|connection timed out \(no TLS handshake: rediss:\/\/ to a plain-text port\?\))/,
    },
    // Environment: the other settings.
    {
      name: 'LOCK_TTL_MS=abc',
      entry: worker,
      args: [],
      env: { ...good, LOCK_TTL_MS: 'abc' },
      expect: /error: LOCK_TTL_MS must be a number, got "abc"/,
    },
    {
      name: 'ON_REDIS_DOWN=ignore',
      entry: worker,
      args: [],
      env: { ...good, ON_REDIS_DOWN: 'ignore' },
      expect: /error: ON_REDIS_DOWN must be one of compute, error, got "ignore"/,
    },
    {
      name: 'WORKER_CONCURRENCY=0',
      entry: worker,
      args: [],
      env: { ...good, WORKER_CONCURRENCY: '0' },
      expect: /error: WORKER_CONCURRENCY must be between 1 and 10000, got 0/,
    },
    {
      name: 'LOG_LEVEL=loud',
      entry: worker,
      args: [],
      env: { ...good, LOG_LEVEL: 'loud' },
      expect: /error: LOG_LEVEL must be one of .*got "loud"/,
    },
    {
      name: 'QUEUE_NAME with glob characters',
      entry: worker,
      args: [],
      env: { ...good, QUEUE_NAME: 'q*?[x]' },
      expect: /error: QUEUE_NAME must be 1-64 letters/,
    },
  ];
}

/** Run one case in a fresh process with its own LOG_DIR; `secret` must appear nowhere. */
export async function runCommandCase(c: CommandCase, secret: string): Promise<CommandResult> {
  const logDir = await mkdtemp(path.join(os.tmpdir(), 'cs-faults-cmd-'));
  const started = Date.now();
  try {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      // Nothing from the caller's shell leaks into a case.
      REDIS_URL: '',
      QUEUE_REDIS_URL: '',
      CACHE_REDIS_URL: '',
      QUEUE_NAME: 'faults-bad-command',
      LOG_DIR: logDir,
      FORCE_COLOR: '0',
      NO_COLOR: '1',
      DEBUG: '',
      ...c.env,
    };
    const child = spawn(process.execPath, ['--import', TSX, path.join(ROOT, c.entry), ...c.args], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, TIMEOUT_MS);
    const exitCode = await new Promise<number | string | null>((resolve) => child.once('close', (code, signal) => resolve(code ?? signal)));
    clearTimeout(timer);
    const logs = await readAll(logDir);
    const errorLine = output.split('\n').find((line) => line.startsWith('error:')) ?? output.split('\n')[0] ?? '';
    return {
      name: c.name,
      exitCode,
      errorLine,
      ms: Date.now() - started,
      matched: c.expect.test(errorLine),
      stackTrace: /^\s+at /m.test(output),
      leaked: output.includes(secret) || logs.includes(secret),
      timedOut,
    };
  } finally {
    await rm(logDir, { recursive: true, force: true });
  }
}

/** Run cases a few at a time (each is a Node process with tsx: CPU-bound at start). */
export async function runCommandCases(cases: CommandCase[], secret: string, parallel = 3): Promise<CommandResult[]> {
  const results: CommandResult[] = new Array(cases.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < cases.length) {
        const i = next++;
        results[i] = await runCommandCase(cases[i]!, secret);
      }
    }),
  );
  return results;
}

async function readAll(dir: string): Promise<string> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const texts = await Promise.all(names.map((name) => readFile(path.join(dir, name), 'utf8').catch(() => '')));
  return texts.join('\n');
}
