import type { Redis } from 'ioredis';
import type { StampedeGuard } from '../../../src/cache/guard.js';
import { ascending } from '../../report/percentile.js';
import { scanBatches } from '../../redis/scan.js';
import type { CommandCounts, CommandMeter } from '../command-stats.js';
import { median, type Rows } from '../rows.js';
import { describeCounts, measured } from './meter.js';

/**
 * Part 2 of the tags scenario: invalidating a tag that `values` values carry, against what a
 * scan-based invalidation of the same values costs, in the same run on the same keys.
 *
 * The values are written by `guard.set(key, value, { tags })`, BATCH calls at a time: the
 * library's own write (the server's clock for the value's birth, then the fenced write script),
 * so what the reads meet is exactly what an application stores, and nothing here copies the
 * envelope's format or the write script's keys. Concurrent calls leave one ioredis connection in
 * few socket writes, so this is pipelined on the wire all the same.
 *
 * Then: INVALIDATIONS calls of `invalidateTags([TAG])`, each its own window (time, commands);
 * SAMPLE of the values read once (each must recompute) and once more (each must be a hit); the
 * baseline, SCAN MATCH over the values' keys and a DEL of each page, timed and counted; and the
 * first read of the sampled values once deleted, the price of a plain miss to set beside theirs.
 */
export const TAGS_INVALIDATION = 'tags/invalidation';
export const INVALIDATED_TAG = 'bench-invalidated';
export const SAMPLE = 100;
export const INVALIDATIONS = 20;
const BATCH = 1000;
const keyOf = (i: number) => `tv:${i}`;

export async function measureInvalidation(
  guard: StampedeGuard,
  redis: Redis,
  meter: CommandMeter,
  rows: Rows,
  prefix: string,
  values: number,
  progress: (line: string) => void,
): Promise<void> {
  const add = (system: string, metric: string, value: number, unit: string) => rows.add(TAGS_INVALIDATION, system, metric, value, unit);
  const tags = [INVALIDATED_TAG];

  // 1. The values, and the memory they hold (which a lazy invalidation leaves until they expire).
  const memoryBefore = await usedMemory(redis);
  progress(`tags: writing ${values} values carrying the tag "${INVALIDATED_TAG}" (guard.set, ${BATCH} at a time)`);
  const started = performance.now();
  let reported = 0;
  for (let from = 0; from < values; from += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, values - from) }, (_, j) => from + j);
    await Promise.all(batch.map((i) => guard.set(keyOf(i), { id: i, name: `product ${i}` }, { tags })));
    if (from + batch.length >= reported + values / 4) {
      reported = from + batch.length;
      progress(`tags: ${reported} values written`);
    }
  }
  const writeMs = performance.now() - started;
  add('write', 'values', values, 'tagged values written by guard.set');
  add('write', 'duration', writeMs, 'ms');
  add('write', 'values/s', values / (writeMs / 1000), 'per s');
  add('write', 'memory', ((await usedMemory(redis)) - memoryBefore) / 1e6, 'MB (INFO used_memory delta)');

  // Keys spread over the whole set, so the sample is no one corner of it.
  const sample = Array.from({ length: Math.min(SAMPLE, values) }, (_, j) => keyOf(Math.floor((j * values) / Math.min(SAMPLE, values))));
  let computed = 0;
  const recompute = (key: string) => async () => {
    computed += 1;
    return { id: Number(key.slice(3)), name: 'recomputed' };
  };
  const readSample = async () => {
    const sources: string[] = [];
    for (const key of sample) sources.push((await guard.getOrCompute(key, recompute(key), { tags })).source);
    return sources;
  };
  const before = await readSample();
  add('read before', 'sampled', sample.length, 'values read before and after the invalidation');
  add('read before', 'hits', before.filter((s) => s === 'cache').length, `of ${sample.length} sampled values`);

  // 2. The invalidation, each call its own window.
  progress(`tags: ${INVALIDATIONS} x invalidateTags(["${INVALIDATED_TAG}"]) over ${values} values`);
  const calls = [];
  for (let i = 0; i < INVALIDATIONS; i++) calls.push(await measured(meter, () => guard.invalidateTags(tags)));
  const times = calls.map((c) => c.ms).sort(ascending);
  add('invalidateTags', 'latency.first', calls[0]!.ms, 'ms (the first call)');
  add('invalidateTags', 'latency.p50', median(times), `ms (median of ${INVALIDATIONS} calls)`);
  add('invalidateTags', 'latency.max', times.at(-1)!, `ms (of ${INVALIDATIONS} calls)`);
  add('invalidateTags', 'round-trips', median(calls.map((c) => c.requests)), 'requests sent per call');
  add('invalidateTags', 'redis.commands', median(calls.map((c) => c.server)), 'INFO commandstats per call, incl. inside the script');
  progress(`tags: invalidateTags, per call on the server: ${describeCounts(calls[0]!.byCommand, 1)}`);

  // 3. The first read of each sampled value recomputes; the next is a hit again.
  const afterInvalidation = await firstReads(meter, readSample, () => computed);
  const second = await readSample();
  add('second read', 'hits', second.filter((s) => s === 'cache').length, `of ${sample.length} sampled values`);
  add('second read', 'recomputations', computed - afterInvalidation.computedAfter, 'computations');
  addFirstReads(rows, 'first read after invalidateTags', afterInvalidation, sample.length);
  progress(`tags: first read after invalidateTags, per read on the server: ${describeCounts(afterInvalidation.byCommand, sample.length)}`);

  // 4. The baseline: find the values' keys by SCAN and DEL them, a page at a time; then the
  // first read of a deleted value, for the price of a miss without a record to check.
  progress(`tags: baseline, SCAN MATCH ${prefix}:{tv:* COUNT 1000 and a DEL per page`);
  const scan = await measured(meter, async () => {
    let deleted = 0;
    for await (const keys of scanBatches(redis, `${prefix}:{tv:*`)) deleted += await redis.del(...keys);
    return deleted;
  });
  const p50 = median(times);
  add('scan + del', 'keys.deleted', scan.result, 'keys');
  add('scan + del', 'latency', scan.ms, 'ms');
  add('scan + del', 'round-trips', scan.requests, 'requests sent');
  add('scan + del', 'redis.commands', scan.server, 'INFO commandstats (a DEL of 1000 keys counts 1)');
  add('scan + del', 'scan.calls', scan.byCommand.get('scan') ?? 0, 'SCAN commands');
  add('scan + del', 'vs invalidateTags', scan.ms / p50, "time, against invalidateTags' median");
  progress(
    `tags: SCAN + DEL deleted ${scan.result} keys in ${scan.ms.toFixed(0)} ms (${describeCounts(scan.byCommand, 1)}); invalidateTags ${p50.toFixed(2)} ms`,
  );
  const afterDelete = await firstReads(meter, readSample, () => computed);
  addFirstReads(rows, 'first read after scan + del', afterDelete, sample.length);
  progress(`tags: first read after SCAN + DEL, per read on the server: ${describeCounts(afterDelete.byCommand, sample.length)}`);
}

interface FirstReads {
  recomputations: number;
  computedAfter: number;
  answeredComputed: number;
  ms: number;
  requests: number;
  server: number;
  byCommand: CommandCounts;
}

/** One read of each sampled value, in one window: how many recomputed, and what they cost. */
async function firstReads(meter: CommandMeter, readSample: () => Promise<string[]>, computed: () => number): Promise<FirstReads> {
  const before = computed();
  const window = await measured(meter, readSample);
  return {
    recomputations: computed() - before,
    computedAfter: computed(),
    answeredComputed: window.result.filter((s) => s === 'computed').length,
    ms: window.ms,
    requests: window.requests,
    server: window.server,
    byCommand: window.byCommand,
  };
}

function addFirstReads(rows: Rows, system: string, reads: FirstReads, sampled: number): void {
  const add = (metric: string, value: number, unit: string) => rows.add(TAGS_INVALIDATION, system, metric, value, unit);
  add('recomputations', reads.recomputations, `computations over ${sampled} sampled values`);
  add('computed', reads.answeredComputed, `of ${sampled} reads answered 'computed'`);
  add('round-trips/read', reads.requests / sampled, 'requests sent per read');
  add('redis.commands/read', reads.server / sampled, 'INFO commandstats per read, incl. inside scripts');
  add('latency.mean', reads.ms / sampled, 'ms per read (the computation itself is instant)');
}

async function usedMemory(redis: Redis): Promise<number> {
  return Number(/^used_memory:(\d+)/m.exec(await redis.info('memory'))?.[1] ?? Number.NaN);
}
