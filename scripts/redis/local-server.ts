import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { StampedeError } from '../../src/errors.js';
import { ConfigError, RedisServerStartError } from '../common/errors.js';
import { ensureRedisServerBinary } from './install.js';
import { sendCommands, parseInfo, RespErrorReply, type ProbeTarget } from './probe.js';

/**
 * The long-lived local redis-server behind `npm run redis -- start|stop|status`: one per
 * working directory, daemonized, its data, pid file and log under `.redis/`, on the port of
 * REDIS_URL. Unlike the embedded server it outlives the command that started it, so it keeps
 * its data (AOF, fsync every second) between sessions.
 */

export interface LocalTarget extends ProbeTarget {
  /** `host:port`, for messages (never the password). */
  where: string;
}

export interface LocalPaths {
  dir: string;
  pidFile: string;
  logFile: string;
}

export type ServerStatus =
  | { running: false }
  /** `pid`, `version` and `usedMemory` are missing when the server refused INFO (e.g. NOAUTH). */
  | { running: true; pid?: number; version?: string; usedMemory?: string; problem?: string };

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;

/** Where to talk to the local server; refuses URLs that do not point at this machine. */
export function localTargetFromUrl(url: string): LocalTarget {
  const u = new URL(url);
  if (u.protocol !== 'redis:') {
    throw new ConfigError(`REDIS_URL uses ${u.protocol}//; the local redis-server speaks plain redis:// only`);
  }
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!isLoopback(host)) {
    throw new ConfigError(
      `REDIS_URL points at ${host}, not this machine; a local redis-server needs a loopback host such as redis://127.0.0.1:6379`,
    );
  }
  const port = Number(u.port || 6379);
  return {
    host,
    port,
    where: `${host.includes(':') ? `[${host}]` : host}:${port}`,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    username: u.username ? decodeURIComponent(u.username) : undefined,
  };
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  return net.isIPv6(host) && (host === '::1' || host === '0:0:0:0:0:0:0:1');
}

export function localPaths(cwd: string = process.cwd()): LocalPaths {
  const dir = path.resolve(cwd, '.redis');
  return { dir, pidFile: path.join(dir, 'redis.pid'), logFile: path.join(dir, 'redis.log') };
}

/** Whatever answers on the target's port, whoever started it. */
export async function serverStatus(target: LocalTarget): Promise<ServerStatus> {
  let replies;
  try {
    replies = await sendCommands(target, [['PING'], ['INFO', 'server'], ['INFO', 'memory']], 2000);
  } catch {
    return { running: false };
  }
  const [pong, server, memory] = replies;
  if (pong instanceof RespErrorReply) return { running: true, problem: pong.message };
  if (pong !== 'PONG' || typeof server !== 'string' || typeof memory !== 'string') return { running: false };
  const info = new Map([...parseInfo(server), ...parseInfo(memory)]);
  const pid = Number(info.get('process_id'));
  return {
    running: true,
    ...(Number.isInteger(pid) && { pid }),
    ...(info.has('redis_version') && { version: info.get('redis_version')! }),
    ...(info.has('used_memory_human') && { usedMemory: info.get('used_memory_human')! }),
  };
}

export function describeStatus(target: LocalTarget, status: ServerStatus): string {
  if (!status.running) return `no redis-server running on ${target.where}`;
  const details = [
    status.pid !== undefined && `pid ${status.pid}`,
    status.version && `version ${status.version}`,
    status.usedMemory && `used memory ${status.usedMemory}`,
    status.problem && `it answered: ${status.problem}`,
  ].filter(Boolean);
  return `redis-server running on ${target.where}${details.length ? ` (${details.join(', ')})` : ''}`;
}

/**
 * Start a daemonized redis-server unless something already answers on the port.
 * Resolves once it answers PING; `alreadyRunning` says whether it was there before.
 */
export async function startLocalServer(
  target: LocalTarget,
  cwd: string = process.cwd(),
  /** Another directory than `.redis/` (a cluster node's), and more redis-server arguments. */
  options: { paths?: LocalPaths; extraArgs?: string[] } = {},
): Promise<{ alreadyRunning: boolean; status: ServerStatus }> {
  const before = await serverStatus(target);
  if (before.running) return { alreadyRunning: true, status: before };

  const binary = await ensureRedisServerBinary();
  const paths = options.paths ?? localPaths(cwd);
  mkdirSync(paths.dir, { recursive: true });
  // No password even when REDIS_URL has one (it would show in `ps`): the server only listens
  // on loopback, and AUTH against a password-less server is ignored by the probes.
  // Absolute paths: redis-server changes into --dir while it reads its arguments.
  const args = [
    '--port', String(target.port),
    // `localhost` may resolve to either family; "-::1" binds IPv6 only where it exists.
    '--bind', ...(target.host === 'localhost' ? ['127.0.0.1', '-::1'] : [target.host]),
    '--protected-mode', 'yes',
    '--dir', paths.dir,
    '--pidfile', paths.pidFile,
    '--logfile', paths.logFile,
    '--daemonize', 'yes',
    '--save', '',
    '--appendonly', 'yes',
    '--appendfsync', 'everysec',
    '--maxmemory-policy', 'noeviction',
    ...(options.extraArgs ?? []),
  ];
  // The launcher forks the daemon and exits at once; its exit code only covers argument errors.
  const launcherExit = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(binary, args, { stdio: 'ignore', cwd });
    child.once('error', reject);
    child.once('exit', (code) => resolve(code));
  });

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (launcherExit === 0 && Date.now() < deadline) {
    const status = await serverStatus(target);
    if (status.running && !status.problem?.startsWith('LOADING')) return { alreadyRunning: false, status };
    await delay(100);
  }
  const why = launcherExit === 0 ? `did not answer within ${START_TIMEOUT_MS / 1000} s` : `exited with code ${launcherExit}`;
  throw new RedisServerStartError(`redis-server on ${target.where} ${why}; last lines of ${relative(cwd, paths.logFile)}:\n${logTail(paths.logFile)}`);
}

/**
 * SHUTDOWN the server on the port, if it is the one this directory's pid file names
 * (or `force`). Waits until the port refuses connections. Never signals a process.
 */
export async function stopLocalServer(
  target: LocalTarget,
  options: { cwd?: string; force?: boolean; paths?: LocalPaths } = {},
): Promise<{ wasRunning: boolean; pid?: number }> {
  const paths = options.paths ?? localPaths(options.cwd);
  const status = await serverStatus(target);
  if (!status.running) {
    // A pid file without a server is left over from a crash; it would confuse the next start.
    rmSync(paths.pidFile, { force: true });
    return { wasRunning: false };
  }
  const ours = readPid(paths.pidFile);
  if (!options.force && (status.pid === undefined || status.pid !== ours)) {
    throw new ConfigError(
      `the redis-server on ${target.where}${status.pid ? ` (pid ${status.pid})` : ''} was not started from ${relative(process.cwd(), paths.dir)}/; stop it the way it was started, or use --force`,
    );
  }
  // SHUTDOWN (not NOSAVE) so the AOF is flushed; on success Redis closes without replying.
  const [reply] = await sendCommands(target, [['SHUTDOWN']], STOP_TIMEOUT_MS).catch(() => []);
  if (reply instanceof RespErrorReply) throw new StampedeError('E_REDIS_STOP', `redis-server refused to shut down: ${reply.message}`);
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while ((await serverStatus(target)).running) {
    if (Date.now() > deadline) throw new StampedeError('E_REDIS_STOP', `redis-server on ${target.where} still answers after SHUTDOWN`);
    await delay(100);
  }
  return { wasRunning: true, ...(status.pid !== undefined && { pid: status.pid }) };
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function logTail(file: string, lines = 10): string {
  if (!existsSync(file)) return '  (no log written)';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).map((l) => `  ${l}`).join('\n');
}

function relative(from: string, to: string): string {
  return path.relative(from, to) || '.';
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
