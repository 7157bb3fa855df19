import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedRedis, type EmbeddedRedis } from '../redis/redis-server.js';

/**
 * The private redis-server of one fault scenario: AOF on with `appendfsync everysec` (what a
 * production queue would run), in a directory this scenario owns, so it can be shut down and
 * started again on the same port with the same AOF file, as a Redis restart in production.
 */
export interface FaultRedis {
  /** `redis://127.0.0.1:<port>`, without a password even when the server has one. */
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** Pid of the running server (changes on restart). */
  readonly pid: number;
  readonly running: boolean;
  /** SHUTDOWN (Redis flushes and fsyncs the AOF first) and wait for the process to exit. */
  shutdown(): Promise<void>;
  /** Start again on the same port and directory: the AOF is loaded back. */
  start(): Promise<void>;
  /** SIGSTOP the server: it keeps its connections and answers nothing (SIGCONT: `resume`). */
  pause(): void;
  resume(): void;
  /**
   * SIGKILL the server (paused or not) and wait for it to exit: no SHUTDOWN, the AOF is what
   * Redis had written (every acknowledged write: appendfsync everysec only delays the fsync).
   */
  kill(): Promise<void>;
  /** Shut down (if running) and delete the directory. Idempotent. */
  stop(): Promise<void>;
}

export interface FaultRedisOptions {
  /** More redis-server arguments (`--maxmemory-policy allkeys-lru`, `--requirepass x`). */
  extraArgs?: string[];
  log?: (line: string) => void;
}

export async function startFaultRedis(options: FaultRedisOptions = {}): Promise<FaultRedis> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cs-faults-redis-'));
  const extraArgs = ['--appendfsync', 'everysec', ...(options.extraArgs ?? [])];
  const launch = (port?: number) =>
    startEmbeddedRedis({ dir, appendOnly: true, extraArgs, ...(port !== undefined && { port }), ...(options.log && { log: options.log }) });
  let server: EmbeddedRedis | null;
  try {
    server = await launch();
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const { port, url } = server;
  let stopped = false;
  let paused = false;
  const resume = () => {
    if (server && paused) process.kill(server.pid, 'SIGCONT');
    paused = false;
  };
  return {
    url,
    port,
    dir,
    get pid() {
      return server?.pid ?? -1;
    },
    get running() {
      return server !== null;
    },
    pause() {
      if (!server || paused) return;
      process.kill(server.pid, 'SIGSTOP');
      paused = true;
    },
    resume,
    async kill() {
      if (!server) return;
      process.kill(server.pid, 'SIGKILL');
      paused = false;
      // Its exit is observed; stop() then has nothing to send (or its SHUTDOWN is refused).
      await server.stop();
      server = null;
    },
    async shutdown() {
      resume();
      // EmbeddedRedis.stop sends SHUTDOWN NOSAVE: NOSAVE skips an RDB snapshot (there is none
      // configured), the AOF is still flushed and fsynced before the process exits.
      await server?.stop();
      server = null;
    },
    async start() {
      if (server) return;
      if (stopped) throw new Error('this fault Redis was stopped for good');
      server = await launch(port);
    },
    async stop() {
      stopped = true;
      resume();
      await server?.stop();
      server = null;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
