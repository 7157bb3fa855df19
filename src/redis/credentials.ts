/** Commands whose arguments are credentials: `AUTH [user] password`, `HELLO ... AUTH user password`. */
const AUTH_COMMANDS = new Set(['auth', 'hello']);
/** Where an error carries another: a cluster's error holds the node's as `lastNodeError`. */
const NESTED = ['lastNodeError', 'cause'] as const;

/**
 * ioredis puts the failed command on a reply error, `err.command = { name, args }`. When an AUTH
 * fails on a reconnect (a rotated password, a disabled ACL user), those args are the user name
 * and the password, and a logger that serializes the error (pino's does) writes them out. Blank
 * such args, in place, before an error is logged; nothing else changes, so the error still says
 * which command failed and why.
 */
export function hideCredentials(err: unknown, depth = 0): void {
  if (typeof err !== 'object' || err === null || depth > 3) return;
  const command = (err as { command?: { name?: unknown; args?: unknown } }).command;
  if (typeof command?.name === 'string' && AUTH_COMMANDS.has(command.name.toLowerCase()) && Array.isArray(command.args)) {
    command.args = command.args.map(() => '[redacted]');
  }
  for (const field of NESTED) hideCredentials((err as Record<string, unknown>)[field], depth + 1);
}
