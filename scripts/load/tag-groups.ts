import type { TrafficSpec } from './traffic-options.js';

/**
 * The load lab's tag groups (`--tag-groups G`): the keys are dealt round-robin by popularity rank
 * into G groups (rank r in group ((r - 1) mod G) + 1), so every group holds hot and cold keys
 * alike and group 1 the hottest key. Each job carries its key's group tag; invalidating one tag
 * makes about 1/G of the keys count as missing in the fleet, and the rest stay.
 */

/** The tag of group `group` (1..G). */
export function groupTag(group: number): string {
  return `group-${group}`;
}

/** The group of a popularity rank, 1..G; 0 when the traffic has no tag groups. */
export function groupOfRank(spec: Pick<TrafficSpec, 'tagGroups'>, rank: number): number {
  const groups = spec.tagGroups ?? 0;
  return groups === 0 ? 0 : ((rank - 1) % groups) + 1;
}

/** The tags a job for the key of `rank` carries: its group's, or none. */
export function tagsOfRank(spec: Pick<TrafficSpec, 'tagGroups'>, rank: number): string[] | undefined {
  const group = groupOfRank(spec, rank);
  return group === 0 ? undefined : [groupTag(group)];
}

/** How many of the traffic's keys carry `group`'s tag. */
export function keysInGroup(spec: Pick<TrafficSpec, 'keys' | 'tagGroups'>, group: number): number {
  return spec.tagGroups === 0 ? 0 : Math.floor((spec.keys - group) / spec.tagGroups) + 1;
}

/** The rank of a key of the traffic (`<keyPrefix>-<rank>`), or null for another key. */
export function rankOfKey(spec: Pick<TrafficSpec, 'keyPrefix'>, key: unknown): number | null {
  if (typeof key !== 'string' || !key.startsWith(`${spec.keyPrefix}-`)) return null;
  const rank = Number(key.slice(spec.keyPrefix.length + 1));
  return Number.isInteger(rank) && rank >= 1 ? rank : null;
}
