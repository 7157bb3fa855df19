/**
 * The fault suite's instruments, checked on their own: the log follower (lines written in
 * pieces, split in the middle of a character) and the stale-overwrite count (it must see one
 * when there is one, or "0 stale overwrites" in the faults table would prove nothing).
 */
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { cacheKeys } from '../src/keys.js';
import { LogTail, type TailedRecord } from '../scripts/faults/log-tail.js';
import { staleOverwrites } from '../scripts/faults/measure.js';
import { closeAll, connect, uniquePrefix } from './support/redis.js';

describe('LogTail', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cs-log-tail-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('resolves when a matching line is complete, across pieces split inside a character', async () => {
    const tail = new LogTail(dir, 10).start();
    try {
      const file = join(dir, 'worker-1-1.ndjson');
      const line = Buffer.from(`${JSON.stringify({ event: 'cache.write', key: 'ключ-🔥', fence: 2 })}\n`);
      const cut = line.indexOf(Buffer.from('🔥')) + 2; // in the middle of the emoji's 4 bytes
      const seen = tail.waitFor('the write', (r) => r.event === 'cache.write', 5000);
      await writeFile(file, `${JSON.stringify({ event: 'cache.miss' })}\n`);
      await appendFile(file, line.subarray(0, cut));
      await tail.refresh();
      expect(tail.count((r) => r.event === 'cache.write')).toBe(0);
      await appendFile(file, line.subarray(cut));
      expect((await seen).key).toBe('ключ-🔥');
      // A file that appears later is followed too.
      const later = tail.waitFor('a line of worker-2', (r) => r.event === 'lock.acquired', 5000);
      await writeFile(join(dir, 'worker-2-2.ndjson'), `${JSON.stringify({ event: 'lock.acquired' })}\n`);
      await later;
      expect(tail.records.map((r) => r.event)).toEqual(['cache.miss', 'cache.write', 'lock.acquired']);
    } finally {
      tail.stop();
    }
  });

  it('rejects after the timeout, saying what it waited for and what it saw', async () => {
    const own = await mkdtemp(join(tmpdir(), 'cs-log-tail-'));
    await writeFile(join(own, 'worker-1-1.ndjson'), `${JSON.stringify({ event: 'cache.miss' })}\n`);
    const tail = new LogTail(own, 10).start();
    try {
      await expect(tail.waitFor('recompute.start', (r) => r.event === 'recompute.start', 100)).rejects.toThrow(
        /no recompute.start in the workers' logs after 100 ms \(\d+ lines read: .*cache.miss x1/,
      );
    } finally {
      tail.stop();
      await rm(own, { recursive: true, force: true });
    }
  });
});

describe('staleOverwrites', () => {
  const prefix = uniquePrefix('stale');
  let redis: Redis;
  beforeAll(() => {
    redis = connect();
  });
  afterAll(async () => {
    await closeAll(redis);
  });
  const write = (key: string, fence: number, time: number): TailedRecord => ({ event: 'cache.write', runId: 'r', key, fence, time });

  it('counts 0 when fences only grow and the stored value has the highest', async () => {
    await redis.hset(cacheKeys(prefix, 'ok').value, 'fence', 3);
    const result = await staleOverwrites([write('ok', 1, 10), write('ok', 3, 20)], redis, prefix, ['r']);
    expect(result).toEqual({ count: 0, keys: { ok: { maxWritten: 3, stored: 3 } } });
  });

  it('counts a write accepted after a higher fence was', async () => {
    await redis.hset(cacheKeys(prefix, 'late').value, 'fence', 1);
    const result = await staleOverwrites([write('late', 2, 10), write('late', 1, 20)], redis, prefix, ['r']);
    expect(result.count).toBe(1);
  });

  it('counts a stored value older than the newest accepted write, even within one millisecond', async () => {
    await redis.hset(cacheKeys(prefix, 'same-ms').value, 'fence', 1);
    const result = await staleOverwrites([write('same-ms', 2, 10), write('same-ms', 1, 10)], redis, prefix, ['r']);
    expect(result.count).toBe(1);
  });
});
