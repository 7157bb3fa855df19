import { InvalidJobDataError, OptionsError, StampedeError } from '../../src/errors.js';

/**
 * The lab's errors. `UserError`s are problems of input or configuration: command-line tools
 * print their message as one line, without a stack trace.
 */
/** Bad input or configuration: the user can fix it, a stack trace would not help. */
export class UserError extends StampedeError {}

export class ConfigError extends UserError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_CONFIG', message, options);
  }
}

/** Redis could not be reached or refused us; the message names the host and the cause. */
export class RedisConnectionError extends UserError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_REDIS_CONNECT', message, options);
  }
}

/** No redis-server binary, and it could not (or may not) be installed. */
export class RedisServerMissingError extends UserError {
  constructor(message: string) {
    super('E_REDIS_MISSING', message);
  }
}

export class RedisServerStartError extends StampedeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_REDIS_START', message, options);
  }
}

/** What a command prints as one line: its own user errors, and the library's bad options or job data. */
export function isUserError(err: unknown): err is StampedeError {
  return err instanceof UserError || err instanceof OptionsError || err instanceof InvalidJobDataError;
}
