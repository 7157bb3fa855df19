import type { GuardResult } from '../../../src/cache/context.js';
import type { StampedeGuard } from '../../../src/cache/guard.js';
import type { CommandCounts, CommandMeter } from '../command-stats.js';
import { rotate } from '../options.js';
import { median, type Rows } from '../rows.js';
import { addCounts, describeCounts, measured } from './meter.js';

/**
 * Part 1 of the tags scenario: what a tag costs a cache hit. One caller reads a warm value in a
 * loop, one read at a time, for each kind of value; the kinds take turns slice by slice (a
 * different one first each cycle), so the machine's drift falls on all of them alike, and the
 * time ratio is taken per cycle against the untagged slice of the same cycle.
 */
export const TAGS_READS = 'tags/reads';
export const READ_TAGS = ['catalogue', 'brand:7', 'product:42'] as const;
export const READ_NAMESPACE = 'users';
export const BASELINE_READ = 'untagged';
export const READ_KINDS = [
  { id: BASELINE_READ, label: 'untagged value' },
  { id: 'tagged', label: `tagged value (${READ_TAGS.length} tags)` },
  { id: 'namespaced', label: `a namespace's value (guard.namespace('${READ_NAMESPACE}'), 1 mark)` },
] as const;
export type ReadKind = (typeof READ_KINDS)[number]['id'];
const SLICES = 10;
/** Unmeasured reads of each kind first: scripts loaded, connections and JIT warm. */
const WARMUP_READS = 200;

interface Slice {
  reads: number;
  ms: number;
  requests: number;
  sent: number;
  server: number;
  byCommand: CommandCounts;
  wrong: number;
}

export async function measureReads(
  guard: StampedeGuard,
  meter: CommandMeter,
  rows: Rows,
  readsPerKind: number,
  progress: (line: string) => void,
): Promise<void> {
  let computed = 0;
  const compute = (value: string) => async () => {
    computed += 1;
    return value;
  };
  const view = guard.namespace(READ_NAMESPACE);
  const readers: Record<ReadKind, () => Promise<GuardResult<string>>> = {
    untagged: () => guard.getOrCompute('plain', compute('plain')),
    tagged: () => guard.getOrCompute('tagged', compute('tagged'), { tags: [...READ_TAGS] }),
    namespaced: () => view.getOrCompute('member', compute('namespaced')),
  };
  const expected: Record<ReadKind, string> = { untagged: 'plain', tagged: 'tagged', namespaced: 'namespaced' };

  const perSlice = Math.max(1, Math.floor(readsPerKind / SLICES));
  progress(
    `tags: ${perSlice * SLICES} reads of a warm value per kind (untagged, ${READ_TAGS.length} tags, a namespace's), in ${SLICES} slices taken in turns`,
  );
  for (const kind of READ_KINDS) for (let i = 0; i < WARMUP_READS; i++) await readers[kind.id]();
  const computedBefore = computed;

  const slices = new Map<ReadKind, Slice[]>(READ_KINDS.map((k) => [k.id, []]));
  for (let cycle = 0; cycle < SLICES; cycle++) {
    for (const kind of rotate(READ_KINDS, cycle)) {
      const window = await measured(meter, async () => {
        let wrong = 0;
        for (let i = 0; i < perSlice; i++) {
          const read = await readers[kind.id]();
          if (read.source !== 'cache' || read.value !== expected[kind.id]) wrong += 1;
        }
        return wrong;
      });
      slices.get(kind.id)!.push({ reads: perSlice, ...window, wrong: window.result });
    }
  }

  const base = slices.get(BASELINE_READ)!;
  for (const kind of READ_KINDS) {
    const runs = slices.get(kind.id)!;
    const reads = sum(runs.map((s) => s.reads));
    const add = (metric: string, value: number, unit: string) => rows.add(TAGS_READS, kind.id, metric, value, unit);
    add('reads', reads, 'count');
    add('round-trips/read', sum(runs.map((s) => s.requests)) / reads, 'requests sent per read, one caller reading in turn');
    add('sent.commands/read', sum(runs.map((s) => s.sent)) / reads, 'commands sent per read');
    add('redis.commands/read', sum(runs.map((s) => s.server)) / reads, 'INFO commandstats per read, incl. inside scripts');
    add('latency.mean', median(runs.map((s) => (s.ms * 1000) / s.reads)), 'µs per read (median of slices)');
    if (kind.id !== BASELINE_READ) {
      add(
        'vs untagged',
        median(runs.map((s, i) => s.ms / s.reads / (base[i]!.ms / base[i]!.reads))),
        'time per read, median of per-cycle ratios',
      );
    }
    add('wrong', sum(runs.map((s) => s.wrong)), 'reads that were not a cache hit of the value');
    const counts = runs.reduce<CommandCounts>((all, s) => addCounts(all, s.byCommand), new Map());
    progress(`tags: ${kind.label}, per read on the server: ${describeCounts(counts, reads)}`);
  }
  rows.add(TAGS_READS, 'all', 'recomputations', computed - computedBefore, 'computations during the measured reads (0: every read a hit)');
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
