import { spawn } from 'node:child_process';
import { existsSync, statSync, accessSync, constants } from 'node:fs';
import path from 'node:path';
import { RedisServerMissingError } from '../common/errors.js';

export const MISSING_REDIS_MESSAGE =
  'redis-server not found on PATH; install it (apt-get install redis-server, or brew install redis) or set REDIS_URL to a running Redis';

export interface EnsureRedisOptions {
  /** Install Debian's redis-server package when missing (root on Debian/Ubuntu only). @default true */
  allowInstall?: boolean;
  /** Where to say what is happening. @default a line on stderr */
  log?: (line: string) => void;
  /** Environment to read PATH and CACHE_STAMPEDE_NO_INSTALL from. @default process.env */
  env?: NodeJS.ProcessEnv;
}

/**
 * The path of a runnable redis-server. When there is none, and we are root on Debian/Ubuntu,
 * installs the distribution package (saying so); anywhere else throws one clear line naming
 * the install commands and REDIS_URL. Never installs anything silently.
 */
export async function ensureRedisServerBinary(options: EnsureRedisOptions = {}): Promise<string> {
  const env = options.env ?? process.env;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const found = findOnPath('redis-server', env.PATH);
  if (found) return found;

  const aptGet = findOnPath('apt-get', env.PATH);
  const mayInstall =
    (options.allowInstall ?? true) &&
    env.CACHE_STAMPEDE_NO_INSTALL !== '1' &&
    process.getuid?.() === 0 &&
    existsSync('/etc/debian_version') &&
    aptGet !== undefined;
  if (!mayInstall) throw new RedisServerMissingError(MISSING_REDIS_MESSAGE);

  log("redis-server not found; installing Debian's redis-server package with apt-get");
  const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
  await run(aptGet, ['update', '-qq'], aptEnv);
  await run(aptGet, ['install', '-y', '-qq', 'redis-server'], aptEnv);
  const installed = findOnPath('redis-server', env.PATH);
  if (!installed) throw new RedisServerMissingError(`apt-get installed redis-server but it is not on PATH; ${MISSING_REDIS_MESSAGE}`);
  // Debian's package does not start a service in containers; callers start redis-server themselves.
  return installed;
}

/** First executable file called `name` in a PATH string; empty entries (meaning ".") are skipped on purpose. */
export function findOnPath(name: string, pathValue: string | undefined): string | undefined {
  for (const dir of (pathValue ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not there or not executable: keep looking
    }
  }
  return undefined;
}

/** Run apt-get quietly; on failure, one line with its exit code and last output line. */
function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (err) => reject(new RedisServerMissingError(`could not run ${command}: ${err.message}; ${MISSING_REDIS_MESSAGE}`)));
    child.on('close', (code) => {
      if (code === 0) return resolve();
      const last = output.trim().split('\n').pop()?.trim() ?? '';
      const detail = last ? `: ${last}` : '';
      reject(
        new RedisServerMissingError(`${path.basename(command)} ${args.join(' ')} failed (exit ${code})${detail}; ${MISSING_REDIS_MESSAGE}`),
      );
    });
  });
}
