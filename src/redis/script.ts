import { createHash } from 'node:crypto';
import type { RedisPort } from './port.js';
import { emitEvent, type EventSource } from '../events.js';

type Arg = string | number;

/**
 * A Lua script run with EVALSHA, falling back to EVAL when Redis answers NOSCRIPT
 * (after a restart, a failover or SCRIPT FLUSH). EVAL also puts the script back in the
 * cache, so the next call is an EVALSHA again.
 *
 * The fallback is logged once as `script.not-cached` (a warning) each time the script is found
 * missing: calls that were already under way when it was found missing (on this or another
 * connection) hit the same empty cache and do not log it again. A call started after the
 * script was sent back finds it missing only if the cache was emptied again, and logs.
 */
export class LuaScript<Result = unknown> {
  readonly sha: string;
  /** Calls started so far; each call's number orders it against the warnings. */
  private started = 0;
  /** NOSCRIPT answers to calls numbered up to this one are covered by the last warning. */
  private coveredThrough = 0;
  /** EVALs under way: until one completes, the cache is still known to be empty. */
  private reloading = 0;

  constructor(
    readonly name: string,
    readonly source: string,
    /** How many KEYS it takes; `any`: as many as each call gives (a batch). */
    readonly numberOfKeys: number | 'any',
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(redis: RedisPort, keys: readonly string[], args: readonly Arg[], source?: EventSource): Promise<Result> {
    if (this.numberOfKeys !== 'any' && keys.length !== this.numberOfKeys) {
      throw new Error(`script ${this.name} takes ${this.numberOfKeys} keys, got ${keys.length}`);
    }
    const seq = ++this.started;
    try {
      return (await redis.evalsha(this.sha, keys, args)) as Result;
    } catch (err) {
      if (!isNoScript(err)) throw err;
      if (seq > this.coveredThrough && this.reloading === 0) {
        this.coveredThrough = this.started;
        if (source) emitEvent(source, 'warn', 'script.not-cached', { script: this.name });
      }
      this.reloading += 1;
      try {
        return (await redis.eval(this.source, keys, args)) as Result;
      } finally {
        this.reloading -= 1;
        // Any call started before now was sent before the script was back: its NOSCRIPT, if it
        // gets one, is this same emptying of the cache.
        this.coveredThrough = this.started;
      }
    }
  }
}

/**
 * NOSCRIPT, also when a Redis Cluster client wraps it: ioredis reports the error that came last of
 * a command's redirections that way ("Too many Cluster redirections. Last error: ReplyError:
 * NOSCRIPT ..."), e.g. an EVALSHA MOVED to a master that has just taken over and has not cached
 * the script yet.
 */
function isNoScript(err: unknown): boolean {
  return err instanceof Error && /^(?:Too many Cluster redirections\. Last error: ReplyError: )?NOSCRIPT\b/.test(err.message);
}
