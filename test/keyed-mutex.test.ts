import { describe, expect, it } from 'vitest';
import { KeyedMutex } from '../src/lock/keyed-mutex.js';
import { sleep } from './support/wait.js';

describe('KeyedMutex', () => {
  it('runs the callers of one key one at a time, in arrival order, telling each whether it waited', async () => {
    const mutex = new KeyedMutex();
    let running = 0;
    let most = 0;
    const order: string[] = [];
    const run = (name: string) =>
      mutex.runExclusive('k', async (waited) => {
        running += 1;
        most = Math.max(most, running);
        await sleep(10);
        order.push(`${name}:${waited ? 'waited' : 'first'}`);
        running -= 1;
      });
    await Promise.all(['a', 'b', 'c', 'd'].map(run));
    expect(most).toBe(1);
    expect(order).toEqual(['a:first', 'b:waited', 'c:waited', 'd:waited']);
  });

  it('lets other keys run meanwhile, and keeps no entry once the last holder of a key is done', async () => {
    const mutex = new KeyedMutex();
    const tails = (mutex as unknown as { tails: Map<string, unknown> }).tails;
    let overlapping = false;
    const slow = mutex.runExclusive('a', () => sleep(50));
    await mutex.runExclusive('b', async () => {
      overlapping = tails.has('a');
    });
    await slow;
    await Promise.all([1, 2, 3].map(() => mutex.runExclusive('a', () => sleep(5))));
    await expect(mutex.runExclusive('a', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(overlapping).toBe(true);
    expect(tails.size).toBe(0);
  });
});
