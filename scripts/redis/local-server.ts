import { existsSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { StampedeError } from '../../src/errors.js';
import { ConfigError } from '../common/errors.js';
import { sendCommands, parseInfo, RespErrorReply, type ProbeTarget, type RespValue } from './probe.js';
import { pidFileIn, startRedisDaemon } from './redis-server.js';

/**
 * The long-lived local redis-server behind `npm run redis -- start|stop|status`: one per
 * working directory, a daemon with its data, pid file and log under `.redis/`, on the port of
 * REDIS_URL. Unlike the embedded server it outlives the command that started it, so it keeps
 * its data between sessions.
 */

export interface LocalTarget extends ProbeTarget {
  /** `host:port`, for messages (never the password). */
  where: string;
}

export type ServerStatus =
  | { running: false }
  /** `pid`, `version` and `usedMemory` are missing when the server refused INFO (e.g. NOAUTH). */
  | { running: true; pid?: number; version?: string; usedMemory?: string; problem?: string };

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

export function localDir(cwd: string = process.cwd()): string {
  return path.resolve(cwd, '.redis');
}

/** Whatever answers on the target's port, whoever started it. */
export async function serverStatus(target: LocalTarget): Promise<ServerStatus> {
  let replies: RespValue[];
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
 * Start a daemon unless something already answers on the port. Resolves once it answers
 * PING; `alreadyRunning` says whether it was there before.
 */
export async function startLocalServer(
  target: LocalTarget,
  /** Another directory than `.redis/`, for a cluster node. */
  options: { dir?: string; clusterNode?: boolean; clusterNodeTimeoutMs?: number } = {},
): Promise<{ alreadyRunning: boolean; status: ServerStatus }> {
  const before = await serverStatus(target);
  if (before.running) return { alreadyRunning: true, status: before };
  // No password even when REDIS_URL has one (it would show in `ps`): the server only listens
  // on loopback, and AUTH against a password-less server is ignored by the probes. The AOF
  // (fsync every second, Redis's default) keeps the data between sessions.
  await startRedisDaemon({ ...options, host: target.host, port: target.port, dir: options.dir ?? localDir(), appendOnly: true });
  return { alreadyRunning: false, status: await serverStatus(target) };
}

/**
 * SHUTDOWN the server on the port, if it is the one this directory's pid file names
 * (or `force`). Waits until the port refuses connections. Never signals a process.
 */
export async function stopLocalServer(
  target: LocalTarget,
  options: { dir?: string; force?: boolean } = {},
): Promise<{ wasRunning: boolean; pid?: number }> {
  const dir = options.dir ?? localDir();
  const pidFile = pidFileIn(dir);
  const status = await serverStatus(target);
  if (!status.running) {
    // Left over from a crash: its pid may belong to another process by now.
    rmSync(pidFile, { force: true });
    return { wasRunning: false };
  }
  const ours = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : undefined;
  if (!options.force && (status.pid === undefined || status.pid !== ours)) {
    throw new ConfigError(
      `the redis-server on ${target.where}${status.pid ? ` (pid ${status.pid})` : ''} was not started from ${path.relative(process.cwd(), dir) || '.'}/; stop it the way it was started, or use --force`,
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
