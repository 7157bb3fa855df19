import { groupOfRank, groupTag, keysInGroup, rankOfKey } from './tag-groups.js';
import type { TrafficSpec } from './traffic-options.js';

/**
 * What one strategy's run did after its timeline's invalidation (`--invalidate-at`), from the
 * workers' lines: the invalidated group's recomputations, beside the other groups' over the same
 * time (what the traffic recomputes anyway: cold keys, expiries), so that the table shows what
 * the invalidation itself sent to the origin.
 */
export interface InvalidationStats {
  tag: string;
  /** When it was due, ms from the start of the traffic. */
  atMs: number;
  /** Keys carrying the tag. */
  groupKeys: number;
  /** Computations of the group's keys that started at or after the invalidation (`recompute.start`). */
  recomputed: number;
  /** The same for each other group, their mean (null with one group). */
  otherGroupsMean: number | null;
  /** Reads that found a stored value the invalidation covered (`cache.invalidated`). */
  coveredReads: number;
}

/**
 * Count from a run's log records (`runId`'s). `startedAtMs` is the traffic's start (epoch ms): a
 * computation that starts at or after `startedAtMs + atMs` counts as after the invalidation.
 */
export async function invalidationStats(
  records: AsyncIterable<Readonly<Record<string, unknown>>>,
  runId: string,
  spec: TrafficSpec,
  startedAtMs: number,
): Promise<InvalidationStats | undefined> {
  const event = spec.events.find((e) => e.kind === 'invalidate');
  if (event === undefined) return undefined;
  const from = startedAtMs + event.atMs;
  const perGroup = new Map<number, number>();
  let coveredReads = 0;
  for await (const r of records) {
    if (r.runId !== runId) continue;
    if (r.event === 'cache.invalidated') coveredReads += 1;
    if (r.event !== 'recompute.start' || typeof r.time !== 'number' || r.time < from) continue;
    const rank = rankOfKey(spec, r.key);
    if (rank === null) continue;
    const group = groupOfRank(spec, rank);
    perGroup.set(group, (perGroup.get(group) ?? 0) + 1);
  }
  const others = spec.tagGroups - 1;
  let otherTotal = 0;
  for (const [group, count] of perGroup) if (group !== event.group) otherTotal += count;
  return {
    tag: groupTag(event.group),
    atMs: event.atMs,
    groupKeys: keysInGroup(spec, event.group),
    recomputed: perGroup.get(event.group) ?? 0,
    otherGroupsMean: others === 0 ? null : Math.round((otherTotal / others) * 10) / 10,
    coveredReads,
  };
}
