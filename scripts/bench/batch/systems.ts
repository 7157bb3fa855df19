/**
 * The systems of the batch scenario: 50 cold keys asked at once, the origin answering any
 * number of keys in one request. `single` is the baseline the ratios are taken against.
 */
export interface BatchSystem {
  /** Row name in the table and the JSON. */
  id: string;
  label: string;
  /** Module under batch/ exporting `create: BatchAdapterFactory`. */
  adapter: 'project' | 'cachified' | 'bentocache' | 'floor';
  variant?: string;
  /** Also runs the cross-process case (two processes, overlapping batches). */
  cross: boolean;
}

export const BASELINE = 'guard-single';

export const BATCH_SYSTEMS: readonly BatchSystem[] = [
  { id: 'guard-many', label: 'cache-stampede getManyOrCompute (1 call)', adapter: 'project', variant: 'many', cross: true },
  { id: BASELINE, label: 'cache-stampede getOrCompute x 50 (redis-lock)', adapter: 'project', variant: 'single', cross: true },
  { id: 'cachified-batch', label: 'cachified x 50 + createBatch (Redis adapter)', adapter: 'cachified', cross: true },
  { id: 'bentocache-single', label: 'bentocache getOrSet x 50 (Redis L2; no batch API)', adapter: 'bentocache', cross: true },
  { id: 'floor', label: 'floor: one origin request, no cache, no Redis', adapter: 'floor', cross: false },
];
