import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { RedisServerStartError } from '../common/errors.js';
import { ensureRedisServerBinary } from './install.js';
import { sendCommands, parseInfo, RespErrorReply, type ProbeTarget } from './probe.js';

/**
 * A private redis-server for tests and the demo: a free loopback port, a temporary directory,
 * no RDB snapshots, `noeviction` (BullMQ's requirement). Whoever starts one stops it.
 */
export interface EmbeddedRedis {
  /** `redis://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Redis's working directory (AOF files live here when appendOnly is on). */
  dir: string;
  pid: number;
  /** SHUTDOWN NOSAVE, wait for the exit (SIGKILL after 5 s), remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface EmbeddedRedisOptions {
  /** @default a free port; on a lost race for it, up to two other free ports are tried */
  port?: number;
  /** @default a new directory from fs.mkdtemp, removed by stop() */
  dir?: string;
  /** @default false: a private server's data is disposable */
  appendOnly?: boolean;
  /** More redis-server arguments, e.g. ['--requirepass', 'x']. */
  extraArgs?: string[];
  /** Passed to ensureRedisServerBinary. @default true */
  allowInstall?: boolean;
  log?: (line: string) => void;
}

const HOST = '127.0.0.1';
const START_TIMEOUT_MS = 10_000;
const KILL_AFTER_MS = 5_000;
const PORT_ATTEMPTS = 3;
const TAIL_LINES = 15;

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
  const binary = await ensureRedisServerBinary({
    ...(options.allowInstall !== undefined && { allowInstall: options.allowInstall }),
    ...(options.log && { log: options.log }),
  });
  const ownsDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(path.join(os.tmpdir(), 'cache-stampede-redis-')));
  try {
    // Only a port we picked ourselves may be swapped for another one.
    const attempts = options.port === undefined ? PORT_ATTEMPTS : 1;
    for (let attempt = 1; ; attempt++) {
      const port = options.port ?? (await findFreePort());
      try {
        return await launch(binary, port, dir, ownsDir, options);
      } catch (err) {
        if (!(err instanceof PortInUse) || attempt >= attempts) throw err instanceof PortInUse ? err.startError : err;
      }
    }
  } catch (err) {
    if (ownsDir) await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** The port was taken between findFreePort and redis-server's bind. */
class PortInUse extends Error {
  constructor(readonly startError: RedisServerStartError) {
    super(startError.message);
  }
}

interface Live {
  child: ChildProcess;
  dir: string;
  ownsDir: boolean;
}

/**
 * Servers still running. If the parent exits without stopping them (a crash, process.exit),
 * they are killed synchronously here rather than left orphaned. Signals are the caller's
 * business: on Ctrl-C the child is in the terminal's process group and gets SIGINT too.
 */
const live = new Set<Live>();
let exitHandlerInstalled = false;

function killAllSync(): void {
  for (const { child, dir, ownsDir } of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
    if (ownsDir) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  }
  live.clear();
}

async function launch(
  binary: string,
  port: number,
  dir: string,
  ownsDir: boolean,
  options: EmbeddedRedisOptions,
): Promise<EmbeddedRedis> {
  const args = [
    '--port', String(port),
    '--bind', HOST,
    '--dir', dir,
    '--save', '',
    '--appendonly', options.appendOnly ? 'yes' : 'no',
    '--daemonize', 'no',
    '--protected-mode', 'yes',
    '--maxmemory-policy', 'noeviction',
    ...(options.extraArgs ?? []),
  ];
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // Keep the last lines of Redis's log for error messages. Reading must go on for the
  // server's whole life: a full pipe would block redis-server on its next log write.
  const tail: string[] = [];
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line.trim()) tail.push(line.trimEnd());
    tail.splice(0, Math.max(0, tail.length - TAIL_LINES));
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);

  let exitInfo: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = signal ? `signal ${signal}` : `code ${code}`;
      resolve();
    });
    child.once('error', (err) => {
      // spawn failed (e.g. EACCES): there is no process to wait for.
      exitInfo = `could not start: ${err.message}`;
      resolve();
    });
  });
  const entry: Live = { child, dir, ownsDir: false };
  live.add(entry);
  void exited.then(() => live.delete(entry));
  if (!exitHandlerInstalled) {
    process.on('exit', killAllSync);
    exitHandlerInstalled = true;
  }

  // A server started with --requirepass answers nothing but AUTH until it gets it.
  const passwordAt = (options.extraArgs ?? []).indexOf('--requirepass');
  const password = passwordAt === -1 ? undefined : options.extraArgs?.[passwordAt + 1];
  const target: ProbeTarget = { host: HOST, port, ...(password !== undefined && { password }) };
  const deadline = Date.now() + START_TIMEOUT_MS;
  let up = false;
  while (exitInfo === undefined && Date.now() < deadline) {
    if (await answersAsPid(target, child.pid)) {
      up = true;
      break;
    }
    await Promise.race([exited, delay(50)]);
  }
  if (!up || exitInfo !== undefined) {
    // Decide the reason before killing: afterwards every failure would look like "SIGKILL".
    const why = exitInfo === undefined
      ? `did not answer PING within ${START_TIMEOUT_MS / 1000} s`
      : `exited (${exitInfo}) before answering PING`;
    if (exitInfo === undefined) {
      child.kill('SIGKILL');
      await exited;
    }
    const error = new RedisServerStartError(
      `redis-server on ${HOST}:${port} ${why}; last output:\n${tail.map((l) => `  ${l}`).join('\n') || '  (none)'}`,
    );
    if (tail.some((l) => l.includes('Address already in use'))) throw new PortInUse(error);
    throw error;
  }

  // Running: the exit handler now owns the cleanup of the directory too.
  entry.ownsDir = ownsDir;
  // A forgotten stop() must not keep the parent alive; the exit handler kills the child.
  child.unref();
  for (const stream of [child.stdout, child.stderr]) (stream as unknown as net.Socket).unref();

  let stopping: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    if (exitInfo === undefined) {
      // Hold the event loop open until the exit is observed.
      child.ref();
      try {
        const replies = await sendCommands(target, [['SHUTDOWN', 'NOSAVE']], 2000);
        // Success means the server closed the connection without a reply.
        if (replies[0] instanceof RespErrorReply) child.kill('SIGTERM');
      } catch {
        child.kill('SIGTERM');
      }
      const killer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
      await exited;
      clearTimeout(killer);
    }
    live.delete(entry);
    if (ownsDir) await rm(dir, { recursive: true, force: true });
  };

  return {
    url: `redis://${HOST}:${port}`,
    port,
    dir,
    pid: child.pid!,
    stop: () => (stopping ??= stop()),
  };
}

/**
 * PONG from *our* child: when two servers race for one port, the loser must not mistake
 * the winner's PONG for its own (it is about to exit with "Address already in use").
 */
async function answersAsPid(target: ProbeTarget, pid: number | undefined): Promise<boolean> {
  try {
    const [pong, info] = await sendCommands(target, [['PING'], ['INFO', 'server']], 500);
    return pong === 'PONG' && typeof info === 'string' && parseInfo(info).get('process_id') === String(pid);
  } catch {
    return false;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
