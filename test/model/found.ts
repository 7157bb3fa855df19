/**
 * Programs that broke an invariant when the checker was first run (2026-12-07, against commit
 * 9d4fb1b), shrunk and, where a shrunk program depended on a lucky timing, written again so that
 * it fails on most runs. `npm run test:model -- --found` runs each a few times; each is also a
 * JSON program for `--program`. They are not part of `npm test`: their timings are tight, and some
 * are about fixes still under way. docs/development.md lists what each showed. Found later: the
 * tracing ones (against 68a4159), those with setTtl and skipCache (against 6d3aa67), the
 * getManyOrCompute one (against 649bec8) and those of tags and namespaces (against 3676c8a), each
 * saying so.
 */
import { type Fleet, LEGACY, NO_SOFT_TIMEOUT, type Op, type Program, programFromJson, programToJson, TIMINGS } from './operations.js';

export interface Found {
  readonly name: string;
  /** What the program showed against 9d4fb1b (or the commit it names). */
  readonly showed: string;
  readonly program: Program;
  /** Checked with --strict-mixed-l1. */
  readonly strictMixedL1?: boolean;
}

/** Found before the outage operations: the library's default deadline (which a 200 ms pause does not reach), `compute`. */
const fleet = (l1: [boolean, boolean, boolean], sharedSubscriber = false): Fleet => ({
  l1,
  failurePolicy: 'stale',
  sharedSubscriber,
  redisTimeoutMs: LEGACY.redisTimeoutMs,
  onRedisDown: ['compute', 'compute', 'compute'],
  traced: [false, false, false],
  softTimeoutMs: NO_SOFT_TIMEOUT,
});
const get = (p: number, key: 'a' | 'b', strategy: string, ms: number, gapMs: number, more: Partial<Record<string, unknown>> = {}) => ({
  kind: 'get',
  p,
  key,
  strategy,
  compute: { ms, fate: more.fate ?? 'ok', honorsSignal: false },
  ttlMs: more.ttlMs,
  gapMs,
  awaited: more.awaited ?? false,
});
const program = (f: Fleet, ops: object[]): Program =>
  programFromJson(programToJson({ fleet: f, ops: ops as Op[], profile: 'chaos', calm: false }));

export const FOUND: readonly Found[] = [
  {
    name: 'ttl-infinity',
    showed: 'a per-call ttlMs of Infinity: a raw ReplyError from the write script, and the value hash left without a TTL',
    program: program(fleet([false, false, false]), [get(0, 'a', 'none', 0, 0, { ttlMs: Number.POSITIVE_INFINITY })]),
  },
  {
    name: 'unfenced-write-over-set',
    showed: 'a `none` computation that read before a set overwrote the set once it finished; later reads got the older value',
    program: program(fleet([false, false, false]), [
      get(0, 'b', 'none', 20, 0),
      { kind: 'set', p: 0, key: 'b', gapMs: 5, awaited: false },
      get(0, 'b', 'redis-lock', 0, 60),
    ]),
  },
  {
    name: 'unfenced-write-over-delete',
    showed: 'the same after a delete (documented at 9d4fb1b as a limit of `none` and `local-lock`)',
    program: program(fleet([false, false, false]), [
      get(0, 'a', 'local-lock', 20, 0),
      { kind: 'delete', p: 0, key: 'a', gapMs: 5, awaited: false },
      get(0, 'a', 'redis-lock', 0, 60),
    ]),
  },
  {
    name: 'l1-keeps-rejected-write',
    showed:
      'a holder whose write a set of its own process rejected kept its value in the L1 tier: later reads there got a value Redis never held',
    program: program(fleet([true, false, false]), [
      get(0, 'a', 'redis-lock', 20, 0),
      { kind: 'set', p: 0, key: 'a', gapMs: 5, awaited: false },
      get(0, 'a', 'redis-lock', 0, 40),
    ]),
  },
  {
    name: 'close-during-first-claim',
    showed:
      'close() while a call of a guard without a subscriber yet was between its claim and its wait: the wait opened a subscriber after close(), never closed',
    program: program(fleet([false, false, false]), [
      get(0, 'a', 'xfetch', 380, 1, { fate: 'slow' }),
      get(0, 'a', 'redis-lock', 380, 1, { fate: 'slow' }),
      { kind: 'reopen', p: 0, gapMs: 1, awaited: false },
    ]),
  },
  {
    name: 'close-leaves-waiter',
    showed: "close() did not end a call waiting for another process's holder: it waited on until that holder's compute timeout",
    program: program(fleet([true, false, false]), [
      get(1, 'b', 'redis-lock', 1150, 0, { fate: 'hang' }),
      get(0, 'b', 'redis-lock', 0, 5),
      { kind: 'reopen', p: 0, gapMs: 30, awaited: false },
    ]),
  },
  {
    name: 'flight-joiner-after-set',
    showed:
      'a call that joined, after a set of its process resolved, a flight computing from before the set got the flight value, never stored',
    program: program(fleet([false, false, false]), [
      get(1, 'a', 'redis-lock', 40, 0),
      { kind: 'set', p: 1, key: 'a', gapMs: 10, awaited: true },
      get(1, 'a', 'redis-lock', 0, 5),
    ]),
  },
  {
    name: 'lock-hand-off-to-gone-waiter',
    showed:
      'a hand-off to a contender whose wait ended while the hand-off was on its way: the line stayed, and later lock() calls of that process waited out their whole waitMs with the lock free',
    program: program(fleet([false, false, false]), [
      { kind: 'lock', p: 0, name: 'x', holdMs: 60, gapMs: 0, awaited: false },
      { kind: 'lock', p: 0, name: 'x', waitMs: 100, holdMs: 0, gapMs: 5, awaited: false },
      { kind: 'pause', gapMs: 40, awaited: false },
      { kind: 'lock', p: 0, name: 'x', holdMs: 0, gapMs: 400, awaited: false },
    ]),
  },
  {
    name: 'shared-subscriber-close',
    showed: "closing one of two guards sharing a subscriber unsubscribed the other's L1 bus: it served a replaced value",
    program: program(fleet([true, true, true], true), [
      get(2, 'a', 'redis-lock', 0, 0, { awaited: true }),
      { kind: 'reopen', p: 1, gapMs: 20, awaited: false },
      { kind: 'set', p: 0, key: 'a', gapMs: 50, awaited: false },
      get(2, 'a', 'redis-lock', 0, 250),
    ]),
  },
  {
    name: 'close-during-resubscribe',
    showed:
      "close() while the subscriber reconnected (after CLIENT KILL, the server slow): ioredis's own resubscribe, sent after the QUIT, rejected unhandled",
    program: program(fleet([true, false, false]), [
      // The kill once the subscriber is subscribed; the reconnect lands in the pause, and so does close().
      { kind: 'kill-subscribers', gapMs: 30, awaited: false },
      { kind: 'pause', gapMs: 5, awaited: false },
      { kind: 'reopen', p: 0, gapMs: 100, awaited: false },
    ]),
  },
  {
    name: 'mixed-fleet-l1',
    showed:
      'a set by a guard without an L1 tier is not announced on the bus: a guard with one served the replaced value until its fresh time ended',
    strictMixedL1: true,
    program: program(fleet([false, false, true]), [
      get(2, 'a', 'redis-lock', 0, 0, { awaited: true }),
      { kind: 'set', p: 0, key: 'a', gapMs: 20, awaited: false },
      get(2, 'a', 'redis-lock', 0, 250),
    ]),
  },
  {
    name: 'outage-waiter-unlinked',
    showed:
      "against 68a4159: a traced call that shared its process's computation while Redis was unavailable (answered `waited`) got no link to that computation's span: the outage answer drops the envelope that carries its traceparent",
    program: program({ ...fleet([false, false, false]), redisTimeoutMs: TIMINGS.redisTimeoutMs, traced: [false, true, false] }, [
      // The outage trips P1's breaker on #1's read; #1 computes apart from the fleet and #2 shares it.
      { kind: 'outage', ms: 300, gapMs: 0, awaited: false },
      get(1, 'a', 'none', 120, 1),
      get(1, 'a', 'xfetch', 0, 200),
    ]),
  },
  {
    name: 'short-key-drops-fence',
    showed:
      "against 6d3aa67: a write whose key lives less than a holder computes (a `none` value whose computation chose setTtl { ttlMs: 0, graceMs: 0 }; a per-call ttlMs of 0 does it too, with the guard's grace of 300 ms) replaces the delete's tombstone, and the fence in it, with a key that expires at once: the holder the delete fenced out (its computation began before the delete) then stores its older value, the fence goes down, and a later read gets that value",
    program: program({ ...fleet([false, false, false]), redisTimeoutMs: TIMINGS.redisTimeoutMs }, [
      get(0, 'b', 'redis-lock', TIMINGS.slowMs, 0, { fate: 'slow' }),
      { kind: 'delete', p: 1, key: 'b', gapMs: 20, awaited: true },
      {
        kind: 'get',
        p: 2,
        key: 'b',
        strategy: 'none',
        compute: { ms: 0, fate: 'ok', honorsSignal: false, setTtl: { ttlMs: 0, graceMs: 0 } },
        gapMs: 10,
        awaited: false,
      },
      get(1, 'b', 'redis-lock', 0, 420),
    ]),
  },
  {
    name: 'skipped-joiner-unlinked',
    showed:
      "against 6d3aa67: a traced call that joined its process's flight of a holder whose computation skipped the cache (answered `waited`) gets no link to that computation's span: the holder's answer carries no envelope when nothing was stored, and the envelope is what carries the traceparent to the flight's joiners",
    program: program({ ...fleet([false, false, false]), redisTimeoutMs: TIMINGS.redisTimeoutMs, traced: [true, false, false] }, [
      {
        kind: 'get',
        p: 0,
        key: 'a',
        strategy: 'redis-lock',
        compute: { ms: 20, fate: 'ok', honorsSignal: false, skipCache: true },
        gapMs: 0,
        awaited: false,
      },
      get(0, 'a', 'redis-lock', 0, 5),
    ]),
  },
  {
    name: 'batch-timeout-raw-error',
    showed:
      "against 649bec8: a getManyOrCompute whose computeMany honours its signal and outlives computeTimeoutMs: a key whose own compute timeout started after the batch call's (here the second key held) fails with the batch's own abort reason, a bare Error('the batch computation timed out') (shared-batch.ts), not E_COMPUTE_TIMEOUT as its first key and every getOrCompute do (`library-errors`)",
    program: program({ ...fleet([false, false, false]), failurePolicy: 'error', redisTimeoutMs: TIMINGS.redisTimeoutMs }, [
      {
        kind: 'get-many',
        p: 0,
        keys: ['b', 'a'],
        compute: { ms: TIMINGS.hangMs, fate: 'hang', honorsSignal: true },
        gapMs: 0,
        awaited: false,
      },
    ]),
  },
  {
    name: 'short-set-drops-fence',
    showed:
      "against e20440c: a redis-lock holder (value 2, its computation begun before a set) whose write was held up in Redis behind an outage stored its older value once the set's short-lived key had expired: the set's key lived only its value's fresh time plus grace, less than a holder may still write (the stored fence went down, `fence`). Shrunk by CI's run of `npm test`",
    program: programFromJson(
      '{"fleet":{"l1":[false,false,false],"failurePolicy":"stale","sharedSubscriber":false,"redisTimeoutMs":150,"onRedisDown":["compute","compute","compute"],"traced":[false,false,false],"softTimeoutMs":0},"ops":[{"kind":"get","p":0,"key":"b","strategy":"none","compute":{"fate":"ok","ms":0,"honorsSignal":false},"gapMs":0,"awaited":false},{"kind":"get","p":0,"key":"a","strategy":"redis-lock","compute":{"fate":"slow","ms":380,"honorsSignal":true},"gapMs":5,"awaited":false,"softTimeoutMs":5},{"kind":"get","p":0,"key":"b","strategy":"xfetch","compute":{"fate":"ok","ms":41,"honorsSignal":true,"setTtl":{"graceMs":300}},"gapMs":9,"awaited":false},{"kind":"set","p":0,"key":"a","gapMs":2,"awaited":true},{"kind":"get","p":2,"key":"c","strategy":"local-lock","compute":{"fate":"ok","ms":9,"honorsSignal":false},"gapMs":32,"awaited":false},{"kind":"outage","ms":430,"gapMs":0,"awaited":false},{"kind":"set","p":1,"key":"b","gapMs":37,"awaited":false},{"kind":"pause","ms":100,"gapMs":29,"awaited":false},{"kind":"get-many","p":1,"keys":["b","a"],"gapMs":0,"awaited":false,"compute":{"ms":48,"fate":"ok","honorsSignal":true}},{"kind":"get-many","p":1,"keys":["a","b","a"],"gapMs":4,"awaited":false,"compute":{"ms":11,"fate":"ok","honorsSignal":false}},{"kind":"outage","ms":420,"gapMs":39,"awaited":false}]}',
    ),
  },
  {
    name: 'invalidate-probe-wrongtype',
    showed:
      "against 3676c8a: an invalidateTags (or a namespace's clear()) whose step met a slow Redis (an outage, or two pauses back to back: past redisTimeoutMs) opened its guard's breaker with the tag's record as the node's probe key; the record is a string, the probe HEXISTS on it answers WRONGTYPE, which does not close the breaker, so the guard stays unavailable (every call `cache.degraded`) until the record expires (tagRetentionMs, a day by default) (`recovers`). Random programs met it within the first 2 to 40 programs of every seed tried (two CI-sized runs in three)",
    program: programFromJson(
      '{"fleet":{"l1":[false,false,false],"failurePolicy":"stale","sharedSubscriber":false,"redisTimeoutMs":150,"onRedisDown":["compute","compute","compute"],"traced":[false,false,false],"softTimeoutMs":0},"ops":[{"kind":"outage","ms":300,"gapMs":0,"awaited":false},{"kind":"invalidate","p":0,"tags":["t1"],"gapMs":20,"awaited":true},{"kind":"get","p":0,"key":"a","strategy":"redis-lock","compute":{"fate":"ok","ms":10,"honorsSignal":false},"gapMs":1500,"awaited":true}]}',
    ),
  },
  {
    name: 'retention-outlived',
    showed:
      "against 3676c8a, written for it: a value whose computation began before an invalidation and ended after it (a slow redis-lock holder) lives tagRetentionMs from when it was computed (recompute.ts, markEnvelope), longer than the invalidation's record, which lives tagRetentionMs from the invalidation: once the record expired, an swr read got the covered value as stale (`invalidated`). Here tagRetentionMs is 700 ms; with the default day, a value living a day does the same for as long as its computation ran after the invalidation",
    program: programFromJson(
      '{"fleet":{"l1":[false,false,false],"failurePolicy":"stale","sharedSubscriber":false,"redisTimeoutMs":150,"onRedisDown":["compute","compute","compute"],"traced":[false,false,false],"softTimeoutMs":0,"tagRetentionMs":700},"ops":[{"kind":"get","p":0,"key":"a","strategy":"redis-lock","compute":{"fate":"slow","ms":380,"honorsSignal":false},"tags":["t1"],"gapMs":0,"awaited":false},{"kind":"invalidate","p":1,"tags":["t1"],"gapMs":50,"awaited":true},{"kind":"get","p":2,"key":"a","strategy":"swr","compute":{"fate":"ok","ms":10,"honorsSignal":false},"gapMs":740,"awaited":true},{"kind":"get","p":0,"key":"a","strategy":"swr","compute":{"fate":"ok","ms":10,"honorsSignal":false},"gapMs":100,"awaited":true}]}',
    ),
  },
  {
    name: 'outage-ns-foreign',
    showed:
      "against 3676c8a, written for it: while Redis is unavailable (onRedisDown compute), a namespace's read answered the value the guard's own read of the same key `n:a` had computed in the outage (`ns-foreign`): what a process keeps and shares during an outage (outage.ts, its kept values, its single flight, the L1 tier's copy) is found by the key alone, not by the namespaces the value was written in, which every other read path checks",
    program: programFromJson(
      '{"fleet":{"l1":[false,false,false],"failurePolicy":"stale","sharedSubscriber":false,"redisTimeoutMs":150,"onRedisDown":["compute","compute","compute"],"traced":[false,false,false],"softTimeoutMs":0},"ops":[{"kind":"outage","ms":450,"gapMs":0,"awaited":false},{"kind":"get","p":0,"key":"a","strategy":"redis-lock","compute":{"fate":"ok","ms":10,"honorsSignal":false},"gapMs":10,"awaited":true,"under":"n"},{"kind":"get","p":0,"key":"a","strategy":"redis-lock","compute":{"fate":"ok","ms":10,"honorsSignal":false},"gapMs":10,"awaited":true,"ns":"n"}]}',
    ),
  },
  {
    name: 'flight-outlives-invalidation',
    showed:
      "against 3676c8a, written for it: a call of P1 that started 280 ms after P0's invalidateTags resolved joined P1's flight of a slow holder begun before it and answered the covered value (`invalidated`, `waited`): an invalidation forgets the flights of its own process only (guard.ts, forgetAllFlights), and nothing tells another process's flights, with or without an L1 tier",
    program: programFromJson(
      '{"fleet":{"l1":[false,false,false],"failurePolicy":"stale","sharedSubscriber":false,"redisTimeoutMs":150,"onRedisDown":["compute","compute","compute"],"traced":[false,false,false],"softTimeoutMs":0},"ops":[{"kind":"get","p":1,"key":"a","strategy":"redis-lock","compute":{"fate":"slow","ms":380,"honorsSignal":false},"gapMs":0,"awaited":false,"tags":["t1"]},{"kind":"invalidate","p":0,"tags":["t1"],"gapMs":30,"awaited":true},{"kind":"get","p":1,"key":"a","strategy":"redis-lock","compute":{"fate":"ok","ms":10,"honorsSignal":false},"gapMs":280,"awaited":true},{"kind":"get","p":2,"key":"a","strategy":"redis-lock","compute":{"fate":"ok","ms":10,"honorsSignal":false},"gapMs":0,"awaited":true}]}',
    ),
  },
  {
    name: 'flight-outlives-set',
    showed:
      "against 3676c8a, written for it, the same before tags: a call of P1 that started 280 ms after P0's set resolved joined P1's flight of a holder begun before the set and answered the holder's value, which the set's fence kept out of Redis (`flight-joiner`): a set or delete forgets the flights of its own process only (forgetFlights)",
    program: programFromJson(
      '{"fleet":{"l1":[false,false,false],"failurePolicy":"stale","sharedSubscriber":false,"redisTimeoutMs":150,"onRedisDown":["compute","compute","compute"],"traced":[false,false,false],"softTimeoutMs":0},"ops":[{"kind":"get","p":1,"key":"a","strategy":"redis-lock","compute":{"fate":"slow","ms":380,"honorsSignal":false},"gapMs":0,"awaited":false},{"kind":"set","p":0,"key":"a","gapMs":30,"awaited":true},{"kind":"get","p":1,"key":"a","strategy":"redis-lock","compute":{"fate":"ok","ms":10,"honorsSignal":false},"gapMs":280,"awaited":true},{"kind":"get","p":2,"key":"a","strategy":"redis-lock","compute":{"fate":"ok","ms":10,"honorsSignal":false},"gapMs":0,"awaited":true}]}',
    ),
  },
];
