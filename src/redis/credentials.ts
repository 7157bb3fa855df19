/**
 * ioredis puts the failed command on a reply error, `err.command = { name, args }`. When an AUTH
 * fails on a reconnect (a rotated password, a disabled ACL user), those args are the user name
 * and the password, and a logger that serializes the error (pino's does) writes them out. A
 * cluster's error carries the node's error as `lastNodeError`. Blank such args before an error
 * is logged; nothing else is changed, so the error still says which command failed and why.
 */
const AUTH_COMMANDS = new Set(['auth', 'hello']);
const NESTED = ['lastNodeError', 'cause'] as const;

export function hideCredentials(err: unknown, depth = 0): void {
  if (typeof err !== 'object' || err === null || depth > 3) return;
  const command = (err as { command?: { name?: unknown; args?: unknown } }).command;
  if (typeof command?.name === 'string' && AUTH_COMMANDS.has(command.name.toLowerCase()) && Array.isArray(command.args)) {
    command.args = command.args.map(() => '[redacted]');
  }
  for (const field of NESTED) hideCredentials((err as Record<string, unknown>)[field], depth + 1);
}
