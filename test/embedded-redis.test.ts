import { describe, it, expect, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { RedisServerMissingError } from '../scripts/common/errors.js';
import { assertRedisReachable } from '../scripts/redis/connection.js';
import { findFreePort, startEmbeddedRedis } from '../scripts/redis/redis-server.js';
import { ensureRedisServerBinary } from '../scripts/redis/install.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-test-'));
  tempDirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of tempDirs) {
    // A CLI test that failed half-way may have left its daemonized server running.
    const pidFile = path.join(dir, '.redis', 'redis.pid');
    if (existsSync(pidFile)) {
      try {
        process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

async function pingWithIoredis(url: string): Promise<string> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await client.connect();
    return await client.ping();
  } finally {
    client.disconnect();
  }
}

/** Resolves with the connection error code (e.g. ECONNREFUSED), or 'connected'. */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

describe('startEmbeddedRedis', () => {
  it('starts a private server that answers PING, and stop() frees the port and removes its directory', async () => {
    const redis = await startEmbeddedRedis();
    let stopped = false;
    try {
      expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
      expect(redis.pid).toBeGreaterThan(0);
      expect(existsSync(redis.dir)).toBe(true);
      expect(await pingWithIoredis(redis.url)).toBe('PONG');

      await Promise.all([redis.stop(), redis.stop()]);
      await redis.stop(); // idempotent
      stopped = true;
      expect(await tryConnect(redis.port)).toBe('ECONNREFUSED');
      expect(existsSync(redis.dir)).toBe(false);
    } finally {
      if (!stopped) await redis.stop();
    }
  }, 30_000);

  it('runs two servers at once on different ports', async () => {
    const [a, b] = await Promise.all([startEmbeddedRedis(), startEmbeddedRedis()]);
    try {
      expect(a.port).not.toBe(b.port);
      expect(a.dir).not.toBe(b.dir);
      expect(await pingWithIoredis(a.url)).toBe('PONG');
      expect(await pingWithIoredis(b.url)).toBe('PONG');
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  }, 30_000);

  it('starts a server with --requirepass, which answers only with the password, and stops it', async () => {
    const server = await startEmbeddedRedis({ extraArgs: ['--requirepass', 'pw-123'] });
    try {
      expect(await pingWithIoredis(`redis://:pw-123@127.0.0.1:${server.port}`)).toBe('PONG');
      await expect(assertRedisReachable(server.url)).rejects.toThrow(/a password is required/);
    } finally {
      await server.stop();
    }
  }, 30_000);

  it('fails with RedisServerStartError when an explicitly given port is taken', async () => {
    const blocker = net.createServer();
    const port = await findFreePort();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    try {
      await expect(startEmbeddedRedis({ port })).rejects.toMatchObject({
        code: 'E_REDIS_START',
        message: expect.stringContaining('Address already in use'),
      });
    } finally {
      blocker.close();
    }
  }, 30_000);
});

describe('ensureRedisServerBinary', () => {
  it('finds redis-server on PATH', async () => {
    const found = await ensureRedisServerBinary({ allowInstall: false });
    expect(path.basename(found)).toBe('redis-server');
  });

  it('rejects with one clear line when redis-server is missing and installing is not allowed', async () => {
    const error = await ensureRedisServerBinary({ allowInstall: false, env: { PATH: tempDir() } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RedisServerMissingError);
    const message = (error as Error).message;
    expect(message).not.toContain('\n');
    expect(message).toContain('apt-get install redis-server');
    expect(message).toContain('REDIS_URL');
  });

  it('does not run apt-get when CACHE_STAMPEDE_NO_INSTALL=1', async () => {
    const bin = tempDir();
    const marker = path.join(bin, 'apt-get-ran');
    writeFileSync(path.join(bin, 'apt-get'), `#!/bin/sh\ntouch '${marker}'\n`);
    chmodSync(path.join(bin, 'apt-get'), 0o755);
    await expect(ensureRedisServerBinary({ env: { PATH: bin, CACHE_STAMPEDE_NO_INSTALL: '1' }, log: () => {} })).rejects.toBeInstanceOf(
      RedisServerMissingError,
    );
    expect(existsSync(marker)).toBe(false);
  });

  // The install path, with a fake apt-get that "installs" a fake redis-server into the same dir.
  const canInstall = process.getuid?.() === 0 && existsSync('/etc/debian_version');
  it.runIf(canInstall)('as root on Debian, installs with apt-get (saying so) and searches again', async () => {
    const bin = tempDir();
    const calls = path.join(bin, 'calls');
    writeFileSync(
      path.join(bin, 'apt-get'),
      // PATH is only the temp dir here, so the fake finds its own tools.
      `#!/bin/sh\nPATH=/usr/bin:/bin\necho "$DEBIAN_FRONTEND $*" >> '${calls}'\nif [ "$1" = install ]; then printf '#!/bin/sh\\n' > '${bin}/redis-server'; chmod +x '${bin}/redis-server'; fi\n`,
    );
    chmodSync(path.join(bin, 'apt-get'), 0o755);
    const lines: string[] = [];
    const found = await ensureRedisServerBinary({ env: { PATH: bin }, log: (l) => lines.push(l) });
    expect(found).toBe(path.join(bin, 'redis-server'));
    expect(lines).toEqual(["redis-server not found; installing Debian's redis-server package with apt-get"]);
    expect(readFileSync(calls, 'utf8').trim().split('\n')).toEqual([
      'noninteractive update -qq',
      'noninteractive install -y -qq redis-server',
    ]);
  });
});

describe('npm run redis (scripts/redis.ts)', () => {
  const tsx = path.join(root, 'node_modules', '.bin', 'tsx');
  const script = path.join(root, 'scripts', 'redis.ts');

  function cli(args: string[], cwd: string, redisUrl: string): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(tsx, [script, ...args], { cwd, env: { ...process.env, REDIS_URL: redisUrl }, timeout: 60_000 }, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  }

  it('start, status (0), stop, status (3), with data under .redis/ in the current directory', async () => {
    const cwd = tempDir();
    const port = await findFreePort();
    const url = `redis://127.0.0.1:${port}`;

    const start = await cli(['start'], cwd, url);
    expect(start, start.stderr).toMatchObject({ code: 0 });
    expect(start.stdout).toMatch(new RegExp(`redis-server running on 127\\.0\\.0\\.1:${port} \\(pid \\d+, data in \\.redis/\\)`));
    expect(existsSync(path.join(cwd, '.redis', 'redis.pid'))).toBe(true);
    expect(await pingWithIoredis(url)).toBe('PONG');

    const again = await cli(['start'], cwd, url);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already running');

    const running = await cli(['status'], cwd, url);
    expect(running.code).toBe(0);
    expect(running.stdout).toMatch(/running on .* \(pid \d+, version [\d.]+, used memory \S+\)/);

    const stop = await cli(['stop'], cwd, url);
    expect(stop, stop.stderr).toMatchObject({ code: 0 });
    expect(stop.stdout).toContain('stopped');
    expect(await tryConnect(port)).toBe('ECONNREFUSED');

    const stopAgain = await cli(['stop'], cwd, url);
    expect(stopAgain.code).toBe(0);
    expect(stopAgain.stdout).toContain('no redis-server running');

    const notRunning = await cli(['status'], cwd, url);
    expect(notRunning.code).toBe(3);
    expect(notRunning.stdout).toContain('no redis-server running');
  }, 120_000);

  it('refuses a REDIS_URL that is not a loopback address with one error line and exit code 2', async () => {
    const result = await cli(['status'], tempDir(), 'redis://10.1.2.3:6379');
    expect(result.code).toBe(2);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^error: REDIS_URL points at 10\.1\.2\.3/);
  }, 60_000);

  it('rejects an unknown flag with exit code 2', async () => {
    for (const args of [['--bogus'], ['status', '--bogus']]) {
      const result = await cli(args, tempDir(), 'redis://127.0.0.1:6379');
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toContain("unknown option '--bogus'");
    }
  }, 60_000);
});
