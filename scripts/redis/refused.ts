import { errorMessage } from '../../src/errors.js';

/**
 * Managed Redis services and least-privilege ACL users refuse some commands: an ACL answers
 * `NOPERM this user has no permissions to run the 'client|list' command`, a service that renamed
 * or disabled a command answers `ERR unknown command 'CLIENT'`. A check that only helps (a
 * warning, a convenience) then steps aside with one line instead of stopping the work.
 *
 * Returns Redis's first line when `err` is such a refusal, undefined for anything else (a lost
 * connection, a timeout), which the caller should still treat as a failure.
 */
export function refusal(err: unknown): string | undefined {
  const message = errorMessage(err).split('\n')[0]!;
  return /^(NOPERM\b|ERR unknown command\b|ERR unknown subcommand\b)/i.test(message) ? message : undefined;
}
