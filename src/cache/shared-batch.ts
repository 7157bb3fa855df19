import { ComputeError, ComputeTimeoutError } from '../errors.js';
import { onAbort, unrefTimeout } from '../timers.js';
import { checkTags } from './tags.js';
import type { BatchContext, Compute, ComputeContext, ComputeMany, StrategyDeps, ValueTtl } from './context.js';

type BatchValues<T> = ReadonlyMap<string, T> | Readonly<Record<string, T>>;

/**
 * The one call of a batch computation (`getManyOrCompute`) for the keys a call holds, shared by
 * their computations: each key is computed as getOrCompute computes one (recompute.ts: its
 * events, its fence, its timeout, its write, its waiters), and takes its value from this call,
 * which starts when the first of them asks. A key the batch left out fails alone.
 */
export class SharedBatch<T> {
  private running: Promise<BatchValues<T>> | undefined;
  /** What the batch's signal aborts with at the compute timeout; each key then fails as its own timeout would. */
  private readonly timedOut = new Error('the batch computation timed out');
  private readonly decided = new Map<string, { ttl?: ValueTtl; skip?: true; tags?: readonly string[] }>();

  constructor(
    private readonly keys: string[],
    private readonly computeMany: ComputeMany<T>,
    private readonly deps: Pick<StrategyDeps, 'signal' | 'computeTimeoutMs'>,
  ) {}

  /** The computation of `key`: its value out of the batch's one call. */
  computeOf(key: string): Compute<T> {
    return async (ctx: ComputeContext) => {
      const values = await this.start().catch((err: unknown) => {
        if (err !== this.timedOut) throw err;
        throw new ComputeTimeoutError(key, `computation of "${key}" took longer than ${this.deps.computeTimeoutMs} ms`);
      });
      const found = values instanceof Map ? values.has(key) : Object.hasOwn(values, key);
      if (!found) throw new ComputeError(key, `the batch computation returned no value for "${key}"`);
      const decided = this.decided.get(key);
      if (decided?.ttl) ctx.setTtl(decided.ttl);
      if (decided?.skip) ctx.skipCache();
      if (decided?.tags) ctx.addTags(decided.tags);
      return values instanceof Map ? (values.get(key) as T) : (values as Record<string, T>)[key]!;
    };
  }

  private start(): Promise<BatchValues<T>> {
    this.running ??= this.run();
    return this.running;
  }

  /**
   * The call, with a signal of its own: aborted when the guard closes or at the compute timeout
   * (each key's computation is also bounded by it; a lost lock stops only that key's).
   */
  private async run(): Promise<BatchValues<T>> {
    const controller = new AbortController();
    const detach = onAbort(this.deps.signal, () => controller.abort(this.deps.signal.reason));
    const timer =
      this.deps.computeTimeoutMs > 0 ? unrefTimeout(() => controller.abort(this.timedOut), this.deps.computeTimeoutMs) : undefined;
    const ctx: BatchContext = {
      signal: controller.signal,
      setTtl: (key, ttl) => this.decided.set(key, { ...this.decided.get(key), ttl }),
      skipCache: (key) => this.decided.set(key, { ...this.decided.get(key), skip: true }),
      addTags: (key, tags) => {
        const before = this.decided.get(key);
        this.decided.set(key, { ...before, tags: [...(before?.tags ?? []), ...checkTags(tags, 'addTags')] });
      },
    };
    try {
      const values = await this.computeMany([...this.keys], ctx);
      if (typeof values !== 'object' || values === null)
        throw new ComputeError(this.keys[0] ?? '', `the batch computation must return a Map or an object of values, got ${String(values)}`);
      return values;
    } finally {
      clearTimeout(timer);
      detach();
    }
  }
}
