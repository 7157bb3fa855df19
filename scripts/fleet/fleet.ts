import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { createConcurrently, LogError, LogOutput, Logger, type CloseEvent, type Command, type FlowController } from 'concurrently';
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
  /**
   * Resolves when every worker has exited, with how each exited: its own exit code, or the
   * signal that ended it (never rewritten: a worker stopped by a signal it handled exits 0).
   */
  readonly exited: Promise<CloseEvent[]>;
  /** Ask every running worker to stop gracefully; resolves when all have exited. */
  stop(signal?: NodeJS.Signals): Promise<CloseEvent[]>;
}

/** Signals to the fleet's own process that it passes on to every worker, as a stop. */
const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

const WORKER_ENTRY = fileURLToPath(new URL('../../workers/worker.ts', import.meta.url));
// Resolved from here, not from the caller's working directory.
const TSX_LOADER = import.meta.resolve('tsx');

/**
 * Start N worker processes through concurrently, named `worker-1`..`worker-N` and prefixed
 * in the output. Node runs the TypeScript entry through tsx's loader directly (no tsx CLI in
 * between), so a signal reaches the worker once. A worker that dies is reported and the
 * others keep serving: no kill-others.
 *
 * concurrently's core with only the flow controllers a fleet wants: its output and spawn errors
 * logged; not its exit lines (the fleet says which worker exited, and how, itself), and not its
 * signal handling, which rewrites every exit code to 0 after a SIGINT (hiding a worker that
 * failed to stop) and not after a SIGTERM: the fleet passes SIGINT, SIGTERM and SIGHUP on itself
 * and keeps each worker's own exit code.
 */
export function startFleet(options: FleetOptions): Fleet {
  const args = [
    ...(options.concurrency !== undefined ? ['--concurrency', String(options.concurrency)] : []),
    ...(options.computeModule !== undefined ? ['--compute', options.computeModule] : []),
    ...(options.workerArgs ?? []),
  ];
  const out = options.outputStream ?? process.stdout;
  const colors = out === process.stdout && process.stdout.isTTY;
  const logger = new Logger({ prefixFormat: 'name' });
  if (!colors) logger.toggleColors(false);
  let stopping = false;
  const stopAll = (signal: NodeJS.Signals) => {
    stopping = true;
    for (const command of commands) if (command.state === 'started') command.kill(signal);
  };
  // A stop signal to the fleet's process is passed on; an output that broke (`npm run fleet | head`)
  // stops the workers gracefully, and what they still say goes nowhere (concurrently would throw
  // on its next write, and the workers would outlive the fleet).
  let outputBroke = false;
  const onOutputError = () => {
    outputBroke = true;
    stopAll('SIGTERM');
  };
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (!outputBroke) out.write(chunk);
      done();
    },
  });
  const say = (line: string) => sink.write(`${line}\n`);
  const forwardSignals: FlowController = {
    handle(handled) {
      for (const signal of FORWARDED_SIGNALS) process.on(signal, stopAll);
      out.on('error', onOutputError);
      return {
        commands: handled,
        onFinish: () => {
          for (const signal of FORWARDED_SIGNALS) process.off(signal, stopAll);
          out.off('error', onOutputError);
        },
      };
    },
  };
  const { commands, result } = createConcurrently(
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
      logger,
      prefixColors: colors ? ['cyan', 'magenta', 'yellow', 'green', 'blue'] : [],
      outputStream: sink,
      controllers: [new LogError({ logger }), new LogOutput({ logger }), forwardSignals],
    },
  );

  const ready = new Set<string>();
  for (const command of commands) {
    // Watched from the start: the output is not kept, and a worker may say it is ready at once.
    watchLines(command, (line) => {
      if (isReadyLine(line, command.name)) ready.add(command.name);
    });
    command.close.subscribe((event) => {
      if (event.exitCode === 0) return;
      const how = `${command.name} exited with ${describeExit(event)}`;
      if (stopping) {
        say(`[fleet] ${how} while stopping`);
        return;
      }
      const running = commands.some((c) => c.state === 'started');
      say(`[fleet] ${how}; ${running ? 'the other workers keep serving' : 'no worker is left'}`);
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
      stopAll(signal);
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
