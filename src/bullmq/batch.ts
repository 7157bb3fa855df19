import type { Compute, ComputeMany } from '../cache/context.js';
import type { GetManyData, GetValueData } from './job-data.js';

/** A batch computation made of a single key's computation, and what each key's computation threw. */
export interface KeyByKey {
  computeMany: ComputeMany<unknown>;
  /** Per key, what its computation threw (the guard only learns that the batch left the key out). */
  errors: Map<string, unknown>;
}

/**
 * The batch computation of a worker whose computation has no batch form: the single computation
 * of each held key, all at once, each with the job's fields as a single job of that key would
 * carry them (`strategy` redis-lock), the batch's signal, and the key's own `setTtl` and
 * `skipCache`. A key whose computation throws is left out of the values, so it fails alone; what
 * it threw is kept in `errors` for the job's result and its line.
 */
export function keyByKey(computeOf: (data: GetValueData) => Compute<unknown>, data: GetManyData): KeyByKey {
  const errors = new Map<string, unknown>();
  const { keys: _keys, ...fields } = data;
  const computeMany: ComputeMany<unknown> = async (held, ctx) => {
    const values = new Map<string, unknown>();
    await Promise.all(
      held.map(async (key) => {
        try {
          const compute = computeOf({ ...fields, key });
          const value = await compute({
            key,
            signal: ctx.signal,
            setTtl: (ttl) => ctx.setTtl(key, ttl),
            skipCache: () => ctx.skipCache(key),
            addTags: (tags) => ctx.addTags(key, tags),
          });
          values.set(key, value);
          errors.delete(key);
        } catch (err) {
          errors.set(key, err);
        }
      }),
    );
    return values;
  };
  return { computeMany, errors };
}
