import type { Redis } from 'ioredis';
import { ConfigError, RedisConnectionError } from '../common/errors.js';
import { refusal } from './refused.js';

/**
 * The database a `redis://host:port/<db>` URL names (ioredis also reads `?db=<db>`, which the
 * path overrides); 0 when it names none.
 *
 * ioredis takes whatever is there to parseInt: `/abc` becomes SELECT NaN, which Redis refuses on
 * every connection, and the refusal reaches nobody but an unhandled rejection (a stack trace, a
 * crash). So it is checked here, as the configuration is read: a whole number or nothing. `name`
 * is the setting (REDIS_URL, ...), for the message, which names host and port, never the password.
 */
export function urlDatabase(name: string, url: URL): number {
  const fromPath = url.pathname === '' || url.pathname === '/' ? undefined : decodePath(url.pathname.slice(1));
  const raw = fromPath ?? url.searchParams.get('db') ?? undefined;
  if (raw === undefined || raw === '') return 0;
  if (!/^\d{1,9}$/.test(raw)) {
    throw new ConfigError(
      `${name}: the database of Redis at ${url.hostname}:${url.port || '6379'} must be a whole number (redis://host:port/<db>, e.g. /0 or /1); got "${raw}"`,
    );
  }
  return Number(raw);
}

function decodePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/**
 * SELECT the URL's database on the start-up probe, so that a database the server does not have
 * (`/99` where `databases` is 16) stops the command at start with one line. ioredis selects it
 * on every connection by itself, but only reports a refusal as an error event: the connection
 * then stays on database 0, and a producer would enqueue there, a worker consume from there.
 */
export async function selectDatabase(probe: Redis, db: number, where: string): Promise<void> {
  if (db === 0) return; // ioredis sends no SELECT for database 0 either
  try {
    await probe.select(db);
  } catch (err) {
    const message = (err as Error)?.message ?? String(err);
    if (/DB index is out of range/i.test(message)) {
      throw new RedisConnectionError(
        `cannot use Redis at ${where}: database ${db} does not exist there (SELECT ${db}: ${message}; the server's "databases" setting says how many it has, 16 by default: 0-15)`,
        { cause: err },
      );
    }
    const refused = refusal(err);
    if (refused !== undefined) {
      throw new RedisConnectionError(
        `cannot use Redis at ${where}: ${refused}; the URL names database ${db}, which needs SELECT (add +select to the user's ACL; see docs/managed-redis.md)`,
        { cause: err },
      );
    }
    throw err;
  }
}
