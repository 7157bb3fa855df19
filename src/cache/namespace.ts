import type { EventFields } from '../events.js';
import type { BatchResult, ComputeMany } from './context.js';
import { type GuardNamespace, IN_NAMESPACE, type InvalidateOptions, type StampedeGuard } from './guard.js';
import { checkNamespaceName, type Mark } from './tags.js';

/** The guard's invalidation of marks (guard.ts), which a namespace's clear() calls with its own. */
export type Invalidate = (marks: Mark[], options: InvalidateOptions, fields: EventFields['tags.invalidated']) => Promise<void>;

/**
 * A namespace: the guard's own calls on the keys `<name>:<key>` (`<outer>:<inner>:<key>` inside
 * another), each value marked with the namespace's path and those of the namespaces around it, so
 * that `clear()` covers it as `invalidateTags` covers a tag (tags.ts). Its calls require the
 * marks: a value at one of its keys that the namespace did not write (the guard's own `set` of
 * `users:42`, say) counts as missing here. The computation and the answers see the caller's keys,
 * without the prefix. A view holds nothing but its path: cheap to make per request.
 */
export function namespaceOf(guard: StampedeGuard, invalidate: Invalidate, outer: readonly string[], name: string): GuardNamespace {
  const path = [...outer.slice(-1), name].join('/');
  const ns = [...outer, path];
  const prefix = `${ns.at(-1)!.split('/').join(':')}:`;
  const inside = <O extends object>(options: O | undefined): O => ({ ...options, [IN_NAMESPACE]: ns }) as O;
  const own = (key: string) => (typeof key === 'string' ? prefix + key : key);
  const bare = (key: string) => key.slice(prefix.length);

  return {
    name: path,
    getOrCompute: (key, compute, options) =>
      guard.getOrCompute(own(key), ((ctx) => compute({ ...ctx, key })) as typeof compute, inside(options)),
    async getManyOrCompute<T>(
      keys: readonly string[],
      computeMany: ComputeMany<T>,
      options?: Parameters<StampedeGuard['getManyOrCompute']>[2],
    ) {
      const asked = Array.isArray(keys) ? keys.map(own) : keys;
      const inner: ComputeMany<T> = async (held, ctx) => {
        const values = await computeMany(held.map(bare), {
          signal: ctx.signal,
          setTtl: (key, ttl) => ctx.setTtl(own(key), ttl),
          skipCache: (key) => ctx.skipCache(own(key)),
          addTags: (key, tags) => ctx.addTags(own(key), tags),
        });
        if (typeof values !== 'object' || values === null) return values;
        const entries = values instanceof Map ? [...values] : Object.entries(values);
        return new Map(entries.map(([key, value]) => [own(key as string), value as T]));
      };
      const answered = await guard.getManyOrCompute(asked, inner, inside(options));
      return new Map([...answered].map(([key, result]) => [bare(key), result])) as BatchResult<T>;
    },
    set: (key, value, options) => guard.set(own(key), value, inside(options)),
    delete: (key, options) => guard.delete(own(key), inside(options)),
    invalidateTags: (tags, options) => guard.invalidateTags(tags, options),
    namespace: (inner) => namespaceOf(guard, invalidate, ns, checkNamespaceName(inner)),
    clear: (options = {}) => invalidate([`ns:${path}`], options, { tags: [], namespace: path }),
  };
}
