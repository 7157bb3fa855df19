import { COLD, CRITICAL, CRITICAL_COMPUTE_MS } from '../cold/cold-burst.js';
import { L1 } from '../l1/l1-bench.js';
import { HIT_SLICE_JOBS, HITS, HITS_SYSTEMS, hitSlices } from '../hits/hits-bench.js';
import { PROCESSOR_COST, PROCESSOR_COST_LABELS, PROCESSOR_COST_MODES, processorCostSlices } from '../hits/processor-cost.js';
import { LOCK_CASES, LOCK_SYSTEMS, SLICE_MS, lockScenario } from '../locks/lock-bench.js';
import { MEMORY } from '../memory/memory-bench.js';
import type { BenchOptions } from '../options.js';
import { SOAK, SOAK_SYSTEM } from '../soak/soak-bench.js';
import type { Rows } from '../rows.js';
import type { TargetCheck } from './targets.js';

/** The whole result as markdown: one table per scenario that ran, then the targets. */
export interface BenchMeta {
  startedAt: string;
  node: string;
  cpus: string;
  redis: string;
  durationSec: number;
  cpuCount: number;
  /** 1-minute load average at the start and at the end: the machine's other work. */
  loadAverage: [number, number];
}

export function formatMarkdown(
  rows: Rows,
  checks: TargetCheck[],
  options: BenchOptions,
  meta: BenchMeta,
  labels: Record<string, string>,
): string {
  const out: string[] = [];
  out.push(`## Benchmark (${meta.startedAt}${options.quick ? ', --quick' : ''})`, '');
  out.push(
    `Node ${meta.node}, ${meta.cpus}, redis-server ${meta.redis} (private to the run), ${options.rounds} round(s) of the cold burst, ${meta.durationSec.toFixed(0)} s in all; load average ${meta.loadAverage[0].toFixed(1)} at the start, ${meta.loadAverage[1].toFixed(1)} at the end.`,
    '',
  );
  const busiest = Math.max(...meta.loadAverage);
  if (busiest > meta.cpuCount) {
    out.push(
      `**Warning:** the machine was busy with other work (load average up to ${busiest.toFixed(1)} on ${meta.cpuCount} CPUs): latencies and ratios from this run are unreliable; compare runs on a quiet machine.`,
      '',
    );
  }

  if (rows.systems(COLD).length > 0) {
    out.push(
      `### 1. Cold burst: ${options.processes} processes x ${options.concurrency} concurrent requests, one cold key, compute ${options.computeMs} ms`,
      '',
    );
    const header = [
      'system',
      'recomputations',
      'distinct values',
      'p50 ms',
      'p99 ms',
      'p99 ms, worst round',
      'max ms',
      'p99 / compute',
      'Redis cmds / request',
      'sent cmds / request',
      'failed',
      'peak RSS MB',
    ];
    const body = rows.systems(COLD).map((id) => {
      const v = (metric: string) => rows.get(COLD, id, metric);
      return [
        labels[id] ?? id,
        int(v('recomputations')),
        int(v('distinct.values')),
        ms(v('latency.p50')),
        ms(v('latency.p99')),
        ms(v('latency.p99.worst-round')),
        ms(v('latency.max')),
        x(v('p99/compute')),
        num(v('redis.commands/request'), 3),
        num(v('sent.commands/request'), 3),
        int(v('errors')),
        num(v('peak.rss'), 0),
      ];
    });
    out.push(table(header, body), '');
    out.push(
      `Latency: from the release of the burst to each call's answer; p50 and p99 per round, median of the rounds (and the worst round's p99); max over all rounds. Redis cmds: INFO commandstats delta of the run (counts the commands Lua scripts run too), the bench's own INFO calls subtracted; sent cmds: what the processes' clients sent. Recomputations and distinct values: worst round. The floor row runs only the computation (no cache, no Redis): the latency this machine adds by itself. The lock-library adapters poll the cache every ${options.pollMs} ms while another process holds the lock. Peak RSS: largest process (tsx-loaded TypeScript).`,
      '',
    );
  }

  if (rows.systems(CRITICAL).length > 0) {
    out.push(
      `### 1b. Critical path: ${options.processes} processes x ${options.concurrency} concurrent requests, one cold key, compute ${CRITICAL_COMPUTE_MS} ms`,
      '',
    );
    const body = rows.systems(CRITICAL).map((id) => {
      const v = (metric: string) => rows.get(CRITICAL, id, metric);
      return [
        labels[id] ?? id,
        int(v('recomputations')),
        ms(v('latency.p50'), 2),
        ms(v('latency.p99'), 2),
        ms(v('latency.p99.worst-round'), 2),
        num(v('redis.commands/request'), 3),
        num(v('sent.commands/request'), 3),
      ];
    });
    out.push(
      table(['system', 'recomputations', 'p50 ms', 'p99 ms', 'p99 ms, worst round', 'Redis cmds / request', 'sent cmds / request'], body),
      '',
    );
    const overhead = rows.get(CRITICAL, 'redis-lock', 'p99.overhead');
    out.push(
      `What the guard adds to a short computation: redis-lock's p99 is ${ms(overhead, 2)} ms over the floor's (median of rounds). The holder makes two round trips (the claim that reads and takes the lock, the write that releases and notifies); a waiter in another process gets the value in the notification.`,
      '',
    );
  }

  if (rows.systems(L1).length > 0) {
    out.push('### 1c. L1 tier: Redis commands per read of a warm key, and a write reaching another process', '');
    const v = (system: string, metric: string) => rows.get(L1, system, metric);
    out.push(
      table(
        ['reads (50 callers x 200)', 'Redis cmds / read'],
        [
          ['from Redis (no L1 tier)', num(v('redis hits', 'redis.commands/read'), 4)],
          ['from the L1 tier', num(v('l1 hits', 'redis.commands/read'), 4)],
        ],
      ),
      '',
    );
    out.push(
      table(
        ['a set or delete in one process, seen by another process reading in a loop', 'p50 ms', 'p99 ms', 'max ms'],
        [
          [
            'from the call to the first read of the new value',
            ms(v('write to other process', 'delay.p50'), 2),
            ms(v('write to other process', 'delay.p99'), 2),
            ms(v('write to other process', 'delay.max'), 2),
          ],
        ],
      ),
      '',
    );
  }

  if (LOCK_CASES.some((c) => rows.systems(lockScenario(c)).length > 0)) {
    out.push(
      `### 2. Locks: acquire + release, ${options.lockRunMs} ms per system and case (slices of ${SLICE_MS['distinct-serial']} ms, contended ${SLICE_MS.contended} ms, taken in turns), ${options.lockParallelism} in flight / contenders`,
      '',
    );
    const header = ['case', 'system', 'ops/s', 'vs redlock', 'vs redis-semaphore', 'p50 ms', 'p99 ms'];
    const body: string[][] = [];
    for (const lockCase of LOCK_CASES) {
      const scenario = lockScenario(lockCase);
      const time = lockCase === 'contended' ? 'wait' : 'op';
      for (const system of LOCK_SYSTEMS) {
        const v = (metric: string) => rows.get(scenario, system.id, metric);
        if (v('ops/s') === undefined) continue;
        body.push([
          caseLabel(lockCase, options),
          system.label,
          num(v('ops/s'), 0),
          x(v('ops/s vs redlock')),
          x(v('ops/s vs redis-semaphore')),
          ms(v(`${time}.p50`), 2),
          ms(v(`${time}.p99`), 2),
        ]);
      }
    }
    out.push(table(header, body), '');
    out.push(
      'ops/s: median of slices; ratios: median of per-cycle ratios. p50/p99: time of one acquire + release (distinct keys), or of one acquire, i.e. the wait (contended; a contender still waiting at the end of a slice counts with its wait so far). Waiting when held: cache-stampede waits for the release notification (pub/sub); redlock retries every 200 ms ± 100 ms (its default; retryCount -1 so none gives up); redis-semaphore polls every 10 ms (its default; acquireTimeout raised so none gives up).',
      '',
    );
  }

  if (rows.systems(HITS).length > 0) {
    out.push(
      `### 3. Cache hits through BullMQ: ${hitSlices(options)} slices of ${HIT_SLICE_JOBS} jobs per system, one worker process each, concurrency ${options.workerConcurrency}`,
      '',
    );
    const body = HITS_SYSTEMS.map((s) => [
      s.label,
      num(rows.get(HITS, s.id, 'jobs/s'), 0),
      s.id === 'raw' ? '1.00x' : x(rows.get(HITS, s.id, 'vs raw')),
      num(rows.get(HITS, s.id, 'cpu/job'), 1),
      int(rows.get(HITS, s.id, 'failed')),
    ]);
    out.push(table(['system', 'jobs/s', 'vs raw', 'worker CPU µs/job', 'failed'], body), '');
    const metricsCost = rows.get(HITS, 'get-value-metrics', 'vs metrics off');
    const metricsCpu = rows.get(HITS, 'get-value-metrics', 'cpu/job vs metrics off');
    out.push(
      'Each slice: the queue paused and filled, then resumed; timed from the resume to the last job of the slice finished. Systems take turns slice by slice (after one warm-up slice each); jobs/s: median of slices; ratios: median of per-cycle ratios; worker CPU: user + system time of the worker process over the slice, per job.' +
        (metricsCost === undefined || metricsCpu === undefined
          ? ''
          : ` The metrics' cost: the worker with metrics ran at ${x(metricsCost)} of its jobs/s without them, and spent ${num(metricsCpu, 1)} µs more CPU per job (medians of per-cycle figures); on a shared machine the CPU per job is the steadier figure.`),
      '',
    );
  }

  if (rows.systems(PROCESSOR_COST).length > 0) {
    const { slices, jobsPerSlice } = processorCostSlices(options);
    out.push(
      `### 3b. The processor's own CPU per cache hit: one process per mode, L1 hits, ${slices} slices of ${jobsPerSlice} jobs per mode taken in turns`,
      '',
    );
    const body = PROCESSOR_COST_MODES.map((mode) => [
      PROCESSOR_COST_LABELS[mode],
      num(rows.get(PROCESSOR_COST, mode, 'cpu/job'), 2),
      mode === 'events' ? '-' : signed(rows.get(PROCESSOR_COST, mode, 'cpu/job vs events')),
    ]);
    out.push(table(['mode', 'CPU µs per job', 'vs the worker without metrics, µs'], body), '');
    out.push(
      "Each job an L1 hit through createProcessor (no Redis command, no BullMQ), its log lines serialized by the worker's pino setup into a null destination: what is left is the code a hit runs. CPU: user + system time of the process per job, median of slices; differences: median of per-slice differences.",
      '',
    );
  }

  if (rows.systems(MEMORY).length > 0) {
    out.push(
      `### 4. Memory: ${options.processes} worker processes (workers/worker.ts), one cold burst of ${options.processes * options.concurrency} get-value jobs`,
      '',
    );
    const body = rows.systems(MEMORY).map((id) => {
      const v = (metric: string) => rows.get(MEMORY, id, metric);
      return [
        id,
        num(v('idle.rss'), 0),
        num(v('peak.rss'), 0),
        num(v('peak.rss.median'), 0),
        int(v('jobs.completed')),
        int(v('recomputations')),
        ms(v('latency.p99')),
      ];
    });
    out.push(
      table(
        ['process', 'idle RSS MB', 'peak RSS MB (largest)', 'peak RSS MB (median)', 'jobs completed', 'recomputations', 'p99 ms'],
        body,
      ),
      '',
    );
  }

  if (rows.systems(SOAK).length > 0) {
    out.push(
      `### 5. Soak: one process, ${options.soakRecomputations} recomputations of ${options.soakValueBytes / 1000} KB values, every strategy, two guards per key`,
      '',
    );
    const v = (metric: string) => rows.get(SOAK, SOAK_SYSTEM, metric);
    out.push(
      table(
        [
          'recomputations',
          'per s',
          'heap at start MB',
          'heap growth MB (end)',
          'heap growth MB (largest)',
          'RSS growth MB',
          'RSS growth MB after the first tenth',
          'keys left after expiry',
        ],
        [
          [
            int(v('recomputations')),
            num(v('recomputations/s'), 0),
            num(v('heap.start'), 1),
            num(v('heap.growth'), 2),
            num(v('heap.growth.max'), 2),
            num(v('rss.growth'), 1),
            num(v('rss.growth.after-first-tenth'), 1),
            int(v('keys.left')),
          ],
        ],
      ),
      '',
    );
    out.push(
      "Heap: `heapUsed` after three full GCs (node --expose-gc), sampled at the start and at every tenth of the run. Keys left: SCAN of the run's prefix once every value's fresh time, grace and lock TTL have passed.",
      '',
    );
  }

  if (checks.length > 0) {
    out.push('### Targets', '');
    if (options.quick) out.push('With --quick (one round, few slices) these are indications; the default run decides.', '');
    out.push(
      table(
        ['target', 'measured', 'met'],
        checks.map((c) => [c.target, c.shown, c.met ? 'yes' : 'no']),
      ),
      '',
    );
  }
  return out.join('\n');
}

function caseLabel(lockCase: string, options: BenchOptions): string {
  if (lockCase === 'distinct-serial') return 'distinct keys, 1 at a time';
  if (lockCase === 'distinct-parallel') return `distinct keys, ${options.lockParallelism} in flight`;
  return `one key, ${options.lockParallelism} contenders`;
}

export function table(header: string[], body: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...body.map(line)].join('\n');
}

const missing = '-';
function num(v: number | undefined, digits: number): string {
  return v === undefined || Number.isNaN(v) ? missing : v.toFixed(digits);
}
function int(v: number | undefined): string {
  return num(v, 0);
}
function ms(v: number | undefined, digits = 0): string {
  return num(v, digits);
}
function x(v: number | undefined): string {
  return v === undefined || Number.isNaN(v) ? missing : `${v.toFixed(2)}x`;
}
function signed(v: number | undefined): string {
  return v === undefined || Number.isNaN(v) ? missing : `${v >= 0 ? '+' : ''}${v.toFixed(2)}`;
}
