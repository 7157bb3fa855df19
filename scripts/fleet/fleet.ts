import { fileURLToPath } from 'node:url';
import type { Writable } from 'node:stream';
import { concurrently, type CloseEvent, type Command } from 'concurrently';
import { isReadyLine } from '../../workers/ready-line.js';

export interface FleetOptions {
  workers: number;
  /** Jobs per worker at once; the worker's default when absent. */
  concurrency?: number;
  /** Extra environment for every worker (REDIS_URL, LOG_DIR, ...). */
  env?: Record<string, string>;
  /** The user's compute module for every worker (an absolute path); absent: the simulated computation. */
  computeModule?: string;
  /** Extra command-line arguments for every worker. */
  workerArgs?: string[];
  /**
   * Prometheus metrics: worker i serves them on `port + i - 1` (every worker on a free port of
   * its own when `port` is 0); absent: none.
   */
  metrics?: { port: number; host: string };
  /** Where the prefixed worker output goes. @default process.stdout */
  outputStream?: Writable;
}

export interface Fleet {
  readonly commands: Command[];
  /** The workers (by name) that said they consume the queue (workers/ready-line.ts). */
  readonly ready: ReadonlySet<string>;
  /** Resolves when every worker has exited, with how each exited. */
  readonly exited: Promise<CloseEvent[]>;
  /** Ask every running worker to stop gracefully; resolves when all have exited. */
  stop(signal?: NodeJS.Signals): Promise<CloseEvent[]>;
}

const WORKER_ENTRY = fileURLToPath(new URL('../../workers/worker.ts', import.meta.url));
// Resolved from here, not from the caller's working directory.
const TSX_LOADER = import.meta.resolve('tsx');

/**
 * Start N worker processes through concurrently, named `worker-1`..`worker-N` and prefixed
 * in the output. Node runs the TypeScript entry through tsx's loader directly (no tsx CLI in
 * between), so a signal reaches the worker once. A worker that dies is reported and the
 * others keep serving: no kill-others.
 */
export function startFleet(options: FleetOptions): Fleet {
  const args = [
    ...(options.concurrency !== undefined ? ['--concurrency', String(options.concurrency)] : []),
    ...(options.computeModule !== undefined ? ['--compute', options.computeModule] : []),
    ...(options.workerArgs ?? []),
  ];
  const out = options.outputStream ?? process.stdout;
  const { commands, result } = concurrently(
    Array.from({ length: options.workers }, (_, i) => ({
      name: `worker-${i + 1}`,
      // `exec` replaces the shell, so signals and the exit code are the worker's own.
      command: [
        'exec',
        quote(process.execPath),
        '--import',
        quote(TSX_LOADER),
        quote(WORKER_ENTRY),
        '--worker-id',
        `worker-${i + 1}`,
        ...args.map(quote),
        ...(options.metrics
          ? ['--metrics-port', String(metricsPort(options.metrics.port, i + 1)), '--metrics-host', quote(options.metrics.host)]
          : []),
      ].join(' '),
      // COMPUTE_MODULE and METRICS_PORT blanked: a fleet runs the module it was given (--compute),
      // else the simulation, and serves metrics when it was told to, never because of the
      // caller's environment (every worker would try the same port).
      env: { ...options.env, COMPUTE_MODULE: '', METRICS_PORT: '', FORCE_COLOR: '0' },
    })),
    {
      prefix: 'name',
      prefixColors: out === process.stdout && process.stdout.isTTY ? ['cyan', 'magenta', 'yellow', 'green', 'blue'] : false,
      outputStream: out,
      killOthersOn: [],
      handleInput: false,
    },
  );

  const ready = new Set<string>();
  let stopping = false;
  for (const command of commands) {
    // Watched from the start: the output is not kept, and a worker may say it is ready at once.
    watchLines(command, (line) => {
      if (isReadyLine(line, command.name)) ready.add(command.name);
    });
    command.close.subscribe((event) => {
      if (!stopping && event.exitCode !== 0) {
        out.write(`[fleet] ${command.name} exited with ${describeExit(event)}; the other workers keep serving\n`);
      }
    });
  }
  // concurrently rejects when any command failed; every close event is wanted either way.
  const exited = result.then(
    (events) => events,
    (events: CloseEvent[]) => events,
  );
  return {
    commands,
    ready,
    exited,
    stop(signal = 'SIGTERM') {
      stopping = true;
      for (const command of commands) if (command.state === 'started') command.kill(signal);
      return exited;
    },
  };
}

/** Worker n's metrics port (n from 1): one port each from `first` on; 0 stays 0 (a free port each). */
export function metricsPort(first: number, n: number): number {
  return first === 0 ? 0 : first + n - 1;
}

function watchLines(command: Command, onLine: (line: string) => void): void {
  let partial = '';
  command.stdout.subscribe((chunk) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop()!;
    for (const line of lines) onLine(line);
  });
}

function describeExit(event: CloseEvent): string {
  return typeof event.exitCode === 'number' ? `code ${event.exitCode}` : `signal ${event.exitCode}`;
}

function quote(arg: string): string {
  return /^[\w./:=@-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
