import { createGuard } from '../../src/cache/guard.js';
import type { RedisClient } from '../redis/connection.js';

/** What the lab invalidates: tags, or a namespace (`users`, `users/eu` for one inside another). */
export type InvalidationTarget = { tags: string[] } | { namespace: string };

/** Invalidates for the fleet from a process that serves no values (the command, the load lab's runner). */
export interface Invalidator {
  invalidate(target: InvalidationTarget): Promise<void>;
  close(): Promise<void>;
}

/**
 * A guard on the fleet's cache Redis and key prefix that only invalidates. It has no L1 tier of
 * its own; its invalidations are still announced on the L1 bus, so workers running with
 * L1_MAX_ENTRIES drop their copies (a moment after this resolves: the announcement travels by
 * pub/sub after the record is written).
 */
export function createInvalidator(redis: RedisClient, keyPrefix: string): Invalidator {
  const guard = createGuard({ redis, keyPrefix });
  return {
    async invalidate(target) {
      if ('tags' in target) {
        await guard.invalidateTags(target.tags);
        return;
      }
      const [outer, ...inner] = target.namespace.split('/');
      let view = guard.namespace(outer!);
      for (const name of inner) view = view.namespace(name);
      await view.clear();
    },
    close: () => guard.close(),
  };
}
