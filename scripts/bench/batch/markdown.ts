import type { BenchOptions } from '../options.js';
import { table } from '../output/markdown.js';
import type { Rows } from '../rows.js';
import { BATCH, BATCH_CROSS, BATCH_KEYS, CROSS_OFFSET, ORIGIN_MS } from './batch-bench.js';
import { BASELINE, BATCH_SYSTEMS } from './systems.js';

/** The batch scenario's tables, when it ran: placed before the targets (see insertSection). */
export function formatBatchSection(rows: Rows, options: BenchOptions): string {
  if (rows.systems(BATCH).length === 0) return '';
  const out: string[] = [];
  const label = (id: string) => BATCH_SYSTEMS.find((s) => s.id === id)?.label ?? id;
  out.push(
    `### 6. Batch: ${BATCH_KEYS} cold keys at once, an origin answering any number of keys in one request after ${ORIGIN_MS} ms, ${options.batchRounds} rounds`,
    '',
  );
  const v = (scenario: string, id: string, metric: string) => rows.get(scenario, id, metric);
  out.push(
    table(
      [
        'system',
        'origin calls',
        'keys asked of the origin',
        'Redis requests sent',
        'Redis cmds sent',
        'Redis cmds (server)',
        'p50 ms',
        'p99 ms',
        'max ms',
        'origin calls vs single',
        'requests vs single',
        'latency vs single',
        'failed',
      ],
      rows.systems(BATCH).map((id) => {
        const m = (metric: string) => v(BATCH, id, metric);
        const vs = (metric: string) => (id === BASELINE ? '1.00x' : x(m(metric)));
        return [
          label(id),
          num(m('origin.calls'), 0),
          num(m('origin.keys'), 0),
          num(m('sent.requests'), 0),
          num(m('sent.commands'), 0),
          num(m('redis.commands'), 0),
          num(m('latency.p50'), 1),
          num(m('latency.p99'), 1),
          num(m('latency.max'), 1),
          vs('origin.calls vs single'),
          vs('sent.requests vs single'),
          vs('latency vs single'),
          num(m('errors'), 0),
        ];
      }),
    ),
    '',
  );
  if (rows.systems(BATCH_CROSS).length > 0) {
    out.push(
      `Two processes at once, overlapping batches (keys 0-${BATCH_KEYS - 1} and ${CROSS_OFFSET}-${CROSS_OFFSET + BATCH_KEYS - 1}: ${CROSS_OFFSET + BATCH_KEYS} distinct keys, ${BATCH_KEYS - CROSS_OFFSET} asked by both), the same rounds:`,
      '',
    );
    out.push(
      table(
        [
          'system',
          'origin calls (both)',
          'keys asked of the origin',
          'Redis requests sent',
          'Redis cmds (server)',
          'p50 ms',
          'max ms',
          'failed',
        ],
        rows.systems(BATCH_CROSS).map((id) => {
          const m = (metric: string) => v(BATCH_CROSS, id, metric);
          return [
            label(id),
            `${num(m('origin.calls'), 0)} (worst ${num(m('origin.calls.max'), 0)})`,
            `${num(m('origin.keys'), 0)} (worst ${num(m('origin.keys.max'), 0)})`,
            num(m('sent.requests'), 0),
            num(m('redis.commands'), 0),
            num(m('latency.p50'), 1),
            num(m('latency.max'), 1),
            num(m('errors'), 0),
          ];
        }),
      ),
      '',
    );
  }
  out.push(
    "Each system in a process of its own for the whole scenario, after 3 warm-up batches; each round every system asks for 50 keys never asked before, in turns (a different system first each round). Counts: median of rounds, per batch (both processes' summed in the two-process table). Origin calls: requests to the simulated origin; keys asked: their keys summed. Redis requests sent: what the process's ioredis clients sent as separate requests (a command alone is one, a pipeline one however many commands it carries; requests in flight at the same time count one each); Redis cmds sent: every command; Redis cmds (server): INFO commandstats around the batch, commands run inside scripts included. Latency: the batch's total time (from the call to the last key's value; of the slower process in the two-process table), percentiles over the rounds (with 30 rounds p99 is nearly the max); latency vs single: median of per-round ratios to the getOrCompute x 50 batch of the same round. bentocache 1.6 has no batch getOrSet: its row is 50 getOrSet calls, one origin request each. cachified's cache is the bench's Redis through cachified-redis-adapter (an ioredis client behind its get / set EXAT / del interface).",
    '',
  );
  return out.join('\n');
}

/** `section` placed before the targets of `markdown` (or at its end when it has none). */
export function insertSection(markdown: string, section: string): string {
  if (!section) return markdown;
  const at = markdown.indexOf('### Targets');
  return at < 0 ? `${markdown}\n${section}` : `${markdown.slice(0, at)}${section}\n${markdown.slice(at)}`;
}

function num(v: number | undefined, digits: number): string {
  return v === undefined || Number.isNaN(v) ? '-' : v.toFixed(digits);
}

function x(v: number | undefined): string {
  return v === undefined || Number.isNaN(v) ? '-' : `${v.toFixed(2)}x`;
}
