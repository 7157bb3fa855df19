import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { logEvent, type Logger } from '../logger.js';

type Arg = string | number;

/**
 * A Lua script run with EVALSHA, falling back to EVAL when Redis answers NOSCRIPT
 * (after a restart, a failover or SCRIPT FLUSH). EVAL also puts the script back in the
 * cache, so the next call is an EVALSHA again.
 *
 * The fallback is logged once as `script.not-cached` (a warning): concurrent calls that
 * hit the same empty cache do not each log it; the flag resets after a successful EVALSHA.
 */
export class LuaScript<Result = unknown> {
  readonly sha: string;
  private warned = false;

  constructor(
    readonly name: string,
    readonly source: string,
    readonly numberOfKeys: number,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(redis: Redis, keys: readonly string[], args: readonly Arg[], logger?: Logger): Promise<Result> {
    if (keys.length !== this.numberOfKeys) {
      throw new Error(`script ${this.name} takes ${this.numberOfKeys} keys, got ${keys.length}`);
    }
    try {
      const result = (await redis.evalsha(this.sha, this.numberOfKeys, ...keys, ...args)) as Result;
      this.warned = false;
      return result;
    } catch (err) {
      if (!isNoScript(err)) throw err;
      if (!this.warned) {
        this.warned = true;
        if (logger) logEvent(logger, 'warn', 'script.not-cached', { script: this.name });
      }
      return (await redis.eval(this.source, this.numberOfKeys, ...keys, ...args)) as Result;
    }
  }
}

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}
