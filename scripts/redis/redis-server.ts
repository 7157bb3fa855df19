import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { RedisServerStartError } from '../common/errors.js';
import { hostPort } from './cluster-url.js';
import { ensureRedisServerBinary } from './install.js';
import { parseInfo, RespErrorReply, sendCommands, type ProbeTarget } from './probe.js';

/**
 * The one way this project starts a redis-server, with one of two lifetimes:
 *
 * - embedded (tests, demo, bench, faults): a private child on a free loopback port, stopped by
 *   whoever started it, and killed if this process exits first rather than left orphaned;
 * - daemon (`npm run redis -- start`): a session of its own that outlives the command, with
 *   `redis.pid` in its directory; a later command stops it through its port (local-server.ts).
 *
 * We detach the daemon ourselves rather than pass `--daemonize yes`, so that either way the
 * process we spawn is the server: a start that fails is seen at once, not after a timeout, and
 * everything the server prints goes to `redis.log` in its directory, where a failure is explained.
 */

export interface EmbeddedRedis {
  /** `redis://127.0.0.1:<port>` (`rediss://` with `tls`) */
  url: string;
  port: number;
  /** Redis's working directory (AOF files live here when appendOnly is on). */
  dir: string;
  pid: number;
  /** SHUTDOWN NOSAVE, wait for the exit (SIGKILL after 5 s), remove a temporary dir. Idempotent. */
  stop(): Promise<void>;
}

export interface EmbeddedRedisOptions {
  /** @default a free port; on a lost race for it, up to two other free ports are tried */
  port?: number;
  /** @default a new temporary directory, removed by stop() */
  dir?: string;
  /** @default false: a private server's data is disposable */
  appendOnly?: boolean;
  /** More redis-server arguments, e.g. ['--requirepass', 'x']. */
  extraArgs?: string[];
  /** A Redis Cluster node, with a free bus port too: port + 10000 may not exist. */
  clusterNode?: boolean;
  /**
   * A cluster node's `cluster-node-timeout`: how long a master may be unreachable before the
   * others count it failed and its replica takes over. @default 5000
   */
  clusterNodeTimeoutMs?: number;
  /** Where installing a missing redis-server is announced (see ensureRedisServerBinary). */
  log?: (line: string) => void;
  /**
   * TLS only, as managed services run it: the port speaks TLS and there is no plain-text one
   * (a cluster node's bus too). Clients are not asked for certificates.
   */
  tls?: ServerTls;
}

/** PEM files of the server's certificate, its key and the CA that signed it. */
export interface ServerTls {
  certFile: string;
  keyFile: string;
  caFile: string;
}

const HOST = '127.0.0.1';
const PORT_ATTEMPTS = 3;
const START_TIMEOUT_MS = 10_000;
const KILL_AFTER_MS = 5_000;
const LOG_TAIL_LINES = 15;
const DEFAULT_NODE_TIMEOUT_MS = 5000;

/** A free TCP port on the loopback interface (free now; a race with another process is possible). */
export function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, host: HOST, exclusive: true }, () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startEmbeddedRedis(options: EmbeddedRedisOptions = {}): Promise<EmbeddedRedis> {
  const temporary = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'cache-stampede-redis-')));
  let server: Launched;
  try {
    server = await launchOnFreePorts(options, dir, temporary);
  } catch (err) {
    if (temporary) await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const { child, target, exited } = server;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      // Hold the event loop open until the exit is observed.
      child.ref();
      const replies = await sendCommands(target, [['SHUTDOWN', 'NOSAVE']], 2000).catch(() => undefined);
      // Success is the server closing the connection without a reply.
      if (!replies || replies[0] instanceof RespErrorReply) child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
      await exited;
      clearTimeout(killer);
    }
    if (temporary) await rm(dir, { recursive: true, force: true });
  };
  let stopping: Promise<void> | undefined;
  const url = `${options.tls ? 'rediss' : 'redis'}://${HOST}:${target.port}`;
  return { url, port: target.port, dir, pid: child.pid!, stop: () => (stopping ??= stop()) };
}

/** Only ports we picked ourselves may be swapped for others when another process binds them first. */
async function launchOnFreePorts(options: EmbeddedRedisOptions, dir: string, temporaryDir: boolean): Promise<Launched> {
  const attempts = options.port === undefined ? PORT_ATTEMPTS : 1;
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await findFreePort());
    const busPort = options.clusterNode ? await findFreePort() : undefined;
    try {
      return await launch({ ...options, host: HOST, port, dir, busPort }, 'embedded', temporaryDir);
    } catch (err) {
      const lostRace = err instanceof RedisServerStartError && err.message.includes('Address already in use');
      if (!lostRace || attempt >= attempts) throw err;
    }
  }
}

/** A daemon's pid, by which a later stop tells it from a server someone else started. */
export function pidFileIn(dir: string): string {
  return path.join(dir, 'redis.pid');
}

/** Resolves once the daemon answers PING. */
export async function startRedisDaemon(options: LaunchOptions): Promise<void> {
  await launch(options, 'daemon', false);
}

interface LaunchOptions extends Omit<EmbeddedRedisOptions, 'port'> {
  /** `localhost` listens on both loopback addresses. */
  host: string;
  port: number;
  dir: string;
  /** A cluster node's bus port, when not port + 10000. */
  busPort?: number;
}

interface Launched {
  child: ChildProcess;
  /** Where it answers, with the password of a `--requirepass` among the arguments. */
  target: ProbeTarget;
  exited: Promise<void>;
}

async function launch(options: LaunchOptions, lifetime: 'embedded' | 'daemon', temporaryDir: boolean): Promise<Launched> {
  const binary = await ensureRedisServerBinary(options.log && { log: options.log });
  const { host, port, dir, extraArgs = [] } = options;
  // biome-ignore format: flag and value side by side
  const args = [
    ...portArgs(port, options.tls, options.clusterNode),
    // `localhost` may resolve to either family; "-::1" binds IPv6 only where it exists.
    '--bind', ...(host === 'localhost' ? ['127.0.0.1', '-::1'] : [host]),
    '--protected-mode', 'yes',
    '--dir', dir,
    '--daemonize', 'no',
    '--save', '',
    '--appendonly', options.appendOnly ? 'yes' : 'no',
    '--maxmemory-policy', 'noeviction',
    ...(lifetime === 'daemon' ? ['--pidfile', pidFileIn(dir)] : []),
    // nodes.conf is relative to --dir.
    ...(options.clusterNode
      ? ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', String(options.clusterNodeTimeoutMs ?? DEFAULT_NODE_TIMEOUT_MS)]
      : []),
    ...(options.busPort ? ['--cluster-port', String(options.busPort)] : []),
    ...extraArgs,
  ];
  mkdirSync(dir, { recursive: true });
  const logFile = path.join(dir, 'redis.log');
  // A reused directory holds earlier runs' lines; only this run's explain its failure.
  const logStart = statSync(logFile, { throwIfNoEntry: false })?.size ?? 0;
  // A file, not a pipe: nothing to drain for the server's whole life, and a daemon goes on
  // writing to it after we are gone.
  const logFd = openSync(logFile, 'a');
  const child = spawn(binary, args, { stdio: ['ignore', logFd, logFd], detached: lifetime === 'daemon' });
  closeSync(logFd);

  let exitInfo: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = signal ? `signal ${signal}` : `code ${code}`;
      resolve();
    });
    // spawn failed (e.g. EACCES): there is no process to wait for.
    child.once('error', (err) => {
      exitInfo = `could not start: ${err.message}`;
      resolve();
    });
  });
  if (lifetime === 'embedded') killOnExit(child, temporaryDir ? dir : undefined, exited);

  const passwordAt = extraArgs.indexOf('--requirepass');
  const target: ProbeTarget = {
    host,
    port,
    ...(passwordAt !== -1 && { password: extraArgs[passwordAt + 1] }),
    ...(options.tls && { tls: { caFile: options.tls.caFile } }),
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  let up = false;
  while (!up && exitInfo === undefined && Date.now() < deadline) {
    up = await answersAsPid(target, child.pid);
    if (!up) await Promise.race([exited, delay(50)]);
  }
  if (up) {
    // Neither a daemon nor a forgotten stop() may keep this process alive (the exit handler
    // kills an embedded child).
    child.unref();
    return { child, target, exited };
  }
  // Decide the reason before killing: afterwards every failure would look like "SIGKILL".
  const why =
    exitInfo === undefined ? `did not answer PING within ${START_TIMEOUT_MS / 1000} s` : `exited (${exitInfo}) before answering PING`;
  if (exitInfo === undefined && lifetime === 'embedded') {
    child.kill('SIGKILL');
    await exited;
  }
  // A slow daemon may only be loading a large AOF: it is left to finish, without us.
  child.unref();
  const lines = readFileSync(logFile)
    .subarray(logStart)
    .toString()
    .split('\n')
    .filter((line) => line.trim());
  const tail =
    lines
      .slice(-LOG_TAIL_LINES)
      .map((line) => `  ${line.trimEnd()}`)
      .join('\n') || '  (none)';
  throw new RedisServerStartError(
    `redis-server on ${hostPort(target)} ${why}; last lines of ${temporaryDir ? 'its log' : logFile}:\n${tail}`,
  );
}

/** `--port`, or for a TLS-only server no plain port and `--tls-port` with its files (Redis resolves them from --dir). */
function portArgs(port: number, tls: ServerTls | undefined, clusterNode: boolean | undefined): string[] {
  if (!tls) return ['--port', String(port)];
  // biome-ignore format: flag and value side by side
  return [
    '--port', '0',
    '--tls-port', String(port),
    '--tls-cert-file', path.resolve(tls.certFile),
    '--tls-key-file', path.resolve(tls.keyFile),
    '--tls-ca-cert-file', path.resolve(tls.caFile),
    '--tls-auth-clients', 'no',
    ...(clusterNode ? ['--tls-cluster', 'yes'] : []),
  ];
}

/**
 * PONG from *our* process: when two servers race for one port, the loser must not mistake
 * the winner's PONG for its own (it is about to exit with "Address already in use"). A server
 * still loading its AOF answers LOADING: not ready either.
 */
async function answersAsPid(target: ProbeTarget, pid: number | undefined): Promise<boolean> {
  try {
    const [pong, info] = await sendCommands(target, [['PING'], ['INFO', 'server']], 500);
    return pong === 'PONG' && typeof info === 'string' && parseInfo(info).get('process_id') === String(pid);
  } catch {
    return false;
  }
}

/**
 * Embedded servers still running. If this process exits without stopping them (a crash,
 * process.exit), they are killed synchronously here. Signals are the caller's business: on
 * Ctrl-C the child is in the terminal's process group and gets SIGINT too.
 */
const embeddedServers = new Set<{ child: ChildProcess; temporaryDir: string | undefined }>();
let exitHandlerInstalled = false;

function killOnExit(child: ChildProcess, temporaryDir: string | undefined, exited: Promise<void>): void {
  if (!exitHandlerInstalled) process.on('exit', killEmbeddedServersSync);
  exitHandlerInstalled = true;
  const entry = { child, temporaryDir };
  embeddedServers.add(entry);
  void exited.then(() => embeddedServers.delete(entry));
}

function killEmbeddedServersSync(): void {
  for (const { child, temporaryDir } of embeddedServers) {
    child.kill('SIGKILL');
    if (temporaryDir) rmSync(temporaryDir, { recursive: true, force: true, maxRetries: 3 });
  }
}
