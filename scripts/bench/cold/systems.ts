import { STRATEGIES } from '../../../src/cache/strategy.js';

/**
 * The systems of the cold burst: every strategy this project has (`swr` and `xfetch` join by
 * themselves once STRATEGIES lists them), then what a user would pick instead, then the floor
 * (the computation alone: what this machine makes of a 200 ms timer in P busy processes).
 */
export interface ColdSystem {
  /** Row name in the table and the JSON. */
  id: string;
  label: string;
  /** Module under cold/ exporting `create: ColdAdapterFactory`. */
  adapter: 'project' | 'bentocache' | 'redis-semaphore' | 'redlock' | 'floor';
  variant?: string;
  /** Part of this project (the targets are about these). */
  ours: boolean;
}

export function coldSystems(): ColdSystem[] {
  return [
    ...STRATEGIES.map(
      (strategy): ColdSystem => ({ id: strategy, label: `cache-stampede ${strategy}`, adapter: 'project', variant: strategy, ours: true }),
    ),
    { id: 'bentocache-l2', label: 'bentocache getOrSet (Redis L2)', adapter: 'bentocache', variant: 'l2', ours: false },
    {
      id: 'bentocache-l1-l2-bus',
      label: 'bentocache getOrSet (L1 + Redis L2 + bus)',
      adapter: 'bentocache',
      variant: 'l1-l2-bus',
      ours: false,
    },
    { id: 'redis-semaphore', label: 'redis-semaphore Mutex + polling', adapter: 'redis-semaphore', ours: false },
    { id: 'redlock', label: 'redlock 5 using + polling', adapter: 'redlock', ours: false },
    { id: 'floor', label: 'floor: compute only, no cache, no Redis', adapter: 'floor', ours: false },
  ];
}
