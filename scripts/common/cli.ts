import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { errorMessage } from '../../src/errors.js';
import { listenHost } from './config.js';
import { isUserError } from './errors.js';
import { STRATEGIES, type Strategy } from '../../src/cache/strategy.js';

/**
 * Shared plumbing for the command-line tools: flags parsed by commander, user errors
 * printed as one line without a stack, exit codes that scripts can rely on:
 * 0 ok, 1 the work failed, 2 bad usage or configuration.
 */
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export function newCommand(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .configureOutput({ outputError: (str, write) => write(str) })
    .exitOverride();
}

/** Run a command's main; turn user errors into one line and an exit code. */
export async function runCli(main: () => Promise<number | undefined>): Promise<void> {
  try {
    const code = await main();
    process.exitCode = code ?? 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed the message (or the help).
      process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
    } else if (isUserError(err)) {
      process.stderr.write(`error: ${err.message}\n`);
      process.exitCode = EXIT_USAGE;
    } else {
      process.stderr.write(`error: ${errorMessage(err)}\n`);
      if (process.env.DEBUG) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
      process.exitCode = EXIT_FAILED;
    }
  }
}

/** commander argument parser for whole numbers in a range, e.g. `--jobs <n>`. */
export function intArg(min: number, max: number) {
  return (raw: string): number => {
    if (!/^-?\d+$/.test(raw.trim())) throw new InvalidArgumentError(`expected a whole number, got "${raw}"`);
    const n = Number(raw);
    if (n < min || n > max) throw new InvalidArgumentError(`expected ${min} to ${max}, got ${n}`);
    return n;
  };
}

/** commander argument parser for one of a fixed set of words. */
export function oneOf<T extends string>(allowed: readonly T[]) {
  return (raw: string): T => {
    if ((allowed as readonly string[]).includes(raw)) return raw as T;
    throw new InvalidArgumentError(`expected one of ${allowed.join(', ')}, got "${raw}"`);
  };
}

/** commander argument parser for an address to listen on, e.g. `--metrics-host <host>` (the flag is named in its error, not the variable). */
export function hostArg(raw: string): string {
  const host = listenHost(raw);
  if (host === undefined) throw new InvalidArgumentError(`expected a host name or an IP address, e.g. 127.0.0.1 or 0.0.0.0, got "${raw}"`);
  return host;
}

/**
 * commander argument parser for a name that becomes part of a file name, e.g. `--worker-id <id>`
 * (its log is `<id>-<pid>.ndjson`): 1 to 64 letters, digits, '_', '.' or '-', not starting with
 * '.', so it can neither be empty, nor reach into another directory, nor hide the file.
 */
export function fileNameArg(what: string) {
  return (raw: string): string => {
    if (/^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$/.test(raw)) return raw;
    throw new InvalidArgumentError(
      `expected 1 to 64 letters, digits, '_', '.' or '-', not starting with '.' (it names ${what}), got "${raw}"`,
    );
  };
}

/**
 * commander argument parser for `--strategies a,b,c` (and `--warm-strategies`...): a
 * comma-separated list of the library's strategies. An InvalidArgumentError, so that commander's
 * one error line names the flag that was wrong.
 */
export function parseStrategies(raw: string): Strategy[] {
  const list = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = list.filter((s) => !(STRATEGIES as readonly string[]).includes(s));
  if (list.length === 0 || bad.length > 0) {
    throw new InvalidArgumentError(`expected a comma-separated list from ${STRATEGIES.join(', ')}`);
  }
  return list as Strategy[];
}
