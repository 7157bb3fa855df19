import type { BenchOptions } from '../options.js';
import { table } from '../output/markdown.js';
import type { Rows } from '../rows.js';
import { INVALIDATED_TAG, INVALIDATIONS, TAGS_INVALIDATION } from './invalidation.js';
import { BASELINE_READ, READ_KINDS, TAGS_READS } from './reads.js';

/** The tags scenario's tables, when it ran: placed before the targets (see batch/markdown.ts, insertSection). */
export function formatTagsSection(rows: Rows, options: BenchOptions): string {
  if (rows.systems(TAGS_READS).length === 0 && rows.systems(TAGS_INVALIDATION).length === 0) return '';
  const out: string[] = [];
  const r = (system: string, metric: string) => rows.get(TAGS_READS, system, metric);
  const i = (system: string, metric: string) => rows.get(TAGS_INVALIDATION, system, metric);
  out.push(`### 7. Tags: a hit of a tagged value, and invalidating a tag carried by ${options.tagsValues} values`, '');
  if (rows.systems(TAGS_READS).length > 0) {
    out.push(
      table(
        [
          `read of a warm value (one caller, ${num(r(BASELINE_READ, 'reads'), 0)} reads each)`,
          'round trips / read',
          'Redis cmds sent / read',
          'Redis cmds (server) / read',
          'µs / read',
          'time vs untagged',
          'not a hit',
        ],
        READ_KINDS.map((kind) => [
          kind.label,
          num(r(kind.id, 'round-trips/read'), 2),
          num(r(kind.id, 'sent.commands/read'), 2),
          num(r(kind.id, 'redis.commands/read'), 2),
          num(r(kind.id, 'latency.mean'), 0),
          kind.id === BASELINE_READ ? '1.00x' : x(r(kind.id, 'vs untagged')),
          num(r(kind.id, 'wrong'), 0),
        ]),
      ),
      '',
      'One caller reads each warm value in a loop, one read at a time, in 10 slices per kind taken in turns (a different kind first each cycle). Round trips: requests sent by the clients (batch/request-counter.ts), each awaited before the next; Redis cmds (server): INFO commandstats, commands inside scripts included. µs / read: median of slices; time vs untagged: median of per-cycle ratios to the untagged slice of the same cycle.',
      '',
    );
  }
  if (rows.systems(TAGS_INVALIDATION).length > 0) {
    out.push(
      table(
        [
          `invalidating ${num(i('write', 'values'), 0)} values`,
          'ms',
          'round trips',
          'Redis cmds (server)',
          'keys deleted',
          'time vs invalidateTags',
        ],
        [
          [
            `invalidateTags(["${INVALIDATED_TAG}"]) (median of ${INVALIDATIONS} calls; first ${num(i('invalidateTags', 'latency.first'), 2)} ms, max ${num(i('invalidateTags', 'latency.max'), 2)} ms)`,
            num(i('invalidateTags', 'latency.p50'), 2),
            num(i('invalidateTags', 'round-trips'), 0),
            num(i('invalidateTags', 'redis.commands'), 0),
            '0',
            '1.00x',
          ],
          [
            `SCAN MATCH COUNT 1000 + DEL of each page (${num(i('scan + del', 'scan.calls'), 0)} SCANs)`,
            num(i('scan + del', 'latency'), 0),
            num(i('scan + del', 'round-trips'), 0),
            num(i('scan + del', 'redis.commands'), 0),
            num(i('scan + del', 'keys.deleted'), 0),
            x(i('scan + del', 'vs invalidateTags')),
          ],
        ],
      ),
      '',
    );
    const first = (system: string) => [
      num(i(system, 'recomputations'), 0),
      num(i(system, 'round-trips/read'), 2),
      num(i(system, 'redis.commands/read'), 1),
      num(i(system, 'latency.mean'), 2),
    ];
    out.push(
      table(
        [
          `first read of each of ${num(i('read before', 'sampled'), 0)} sampled values`,
          'recomputations',
          'round trips / read',
          'Redis cmds (server) / read',
          'ms / read',
        ],
        [
          ["after invalidateTags (the value still stored, its tag's record newer)", ...first('first read after invalidateTags')],
          ['after SCAN + DEL (the value gone)', ...first('first read after scan + del')],
        ],
      ),
      '',
      `The values: written by guard.set with the tag, 1000 calls at a time, ${num(i('write', 'values/s'), 0)} per s (${num(i('write', 'duration'), 0)} ms), ${num(i('write', 'memory'), 1)} MB in Redis (used_memory), which a lazy invalidation leaves there until they expire. Before the invalidation ${num(i('read before', 'hits'), 0)} of the sampled values were hits; after it their second read was a hit again (${num(i('second read', 'hits'), 0)}, ${num(i('second read', 'recomputations'), 0)} computations). invalidateTags: its own window per call (the first call of a process also loads the script). SCAN + DEL ran on the same keys after the reads (the lease keys of the ${num(i('first read after invalidateTags', 'recomputations'), 0)} recomputed values among them): a lower bound for a scan-based invalidation, since this keyspace holds nothing else and the values' keys share a pattern. Keys left under the run's prefix after its SCAN + UNLINK: ${num(i('cleanup', 'keys.left'), 0)}.`,
      '',
    );
  }
  return out.join('\n');
}

function num(v: number | undefined, digits: number): string {
  return v === undefined || Number.isNaN(v) ? '-' : v.toFixed(digits);
}

function x(v: number | undefined): string {
  return v === undefined || Number.isNaN(v) ? '-' : `${v.toFixed(2)}x`;
}
