import { RedisUnavailableError, StampedeError, errorMessage } from '../errors.js';
import { emitEvent, type EventSource } from '../events.js';
import { unrefTimeout } from '../timers.js';
import { isReplyError, type RedisPort } from './port.js';

/** How long an open breaker waits between probes of its node. */
export const PROBE_INTERVAL_MS = 1000;
/**
 * A probe still unanswered after this long is given up on and another one sent: a command the
 * client never settles must not keep a breaker open for good. Until then, one probe at a time, so a
 * long outage queues next to nothing in the client.
 */
export const STALE_PROBE_MS = 10 * PROBE_INTERVAL_MS;

/**
 * Replies that mean "this Redis cannot serve now", not "this command is wrong": loading its
 * dataset, a replica without its master, a cluster without a quorum or in a resharding, a script
 * running too long.
 */
const UNAVAILABLE_REPLIES = /^(?:LOADING|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|BUSY)\b/;

type DownListener = (err: RedisUnavailableError) => void;

interface NodeState {
  /** Set while the node is unavailable: since when, and why. */
  down: { since: number; reason: string } | null;
  /** A key on this node, for probes (on a cluster a probe must go where the calls go). */
  probeKey: string;
  /** The probe out, if any (see STALE_PROBE_MS). */
  probe: { sentAt: number } | null;
  /** The next probe. */
  timer: NodeJS.Timeout | undefined;
  /** Calls waiting on this node (for a holder's value): told at once when it goes down. */
  watchers: Set<DownListener>;
}

/**
 * The guard's view of its Redis: a deadline on every step a call sends, and a circuit breaker per
 * node (one for a single Redis; on a cluster, one per master, found from the key's slot).
 *
 * - A step that gets no answer within `timeoutMs`, or fails for a reason that is the connection's
 *   (refused, reset, closed, the client's retries exhausted, LOADING...), opens its node's breaker
 *   and rejects with RedisUnavailableError. Errors that are the command's (a script error, NOPERM)
 *   pass through untouched. How the user's client retries does not matter: the deadline is ours.
 * - While a breaker is open, steps for that node reject at once, without sending anything, so an
 *   outage costs a call the deadline at most once. A probe (HEXISTS on a key of the node, which
 *   every ACL user of docs/managed-redis.md may send) goes out every PROBE_INTERVAL_MS, one at a
 *   time (see STALE_PROBE_MS); the first answered within the deadline closes the breaker
 *   (half-open: a probe, not a call, finds out).
 * - Calls that wait for a holder register while they wait: they are told at once when their node
 *   goes down, and while any is registered the node is probed every half deadline, so a Redis
 *   that stops answering (paused, blackholed) is noticed although the waiters send nothing.
 *
 * State exists only for nodes that are down or watched: a healthy, unwatched node costs nothing.
 */
export class RedisGate {
  private readonly nodes = new Map<string, NodeState>();
  private stopped = false;

  constructor(
    private readonly redis: RedisPort,
    readonly timeoutMs: number,
    /** The guard's own events: `redis.unavailable` and `redis.available`. */
    private readonly events: EventSource,
    /** Told on each transition of a node. */
    private readonly onChange: (node: string, up: boolean) => void,
  ) {}

  /**
   * One Redis step of a call, for a key on one node: its result, or RedisUnavailableError. A step
   * that completes after its deadline is handed to `abandoned` (a lock it took is given back).
   */
  run<T>(key: string, step: () => Promise<T>, abandoned?: (late: T) => void): Promise<T> {
    const node = this.nodeOf(key);
    const known = this.nodes.get(node);
    if (known?.down) return Promise.reject(unavailable(node, known));
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const cancel = deadline(this.timeoutMs, () => {
        if (settled) return;
        settled = true;
        reject(this.trip(node, key, `no answer within ${this.timeoutMs} ms`));
      });
      let sent: Promise<T>;
      try {
        sent = step();
      } catch (err) {
        sent = Promise.reject(err);
      }
      sent.then(
        (result) => {
          if (settled) return abandoned?.(result);
          settled = true;
          cancel();
          resolve(result);
        },
        (err: unknown) => {
          if (settled) return;
          settled = true;
          cancel();
          reject(meansUnavailable(err) ? this.trip(node, key, errorMessage(err), err) : err);
        },
      );
    });
  }

  /** The error a step for `key` would get now, or null when its node is not known to be down. */
  downFor(key: string): RedisUnavailableError | null {
    const node = this.nodeOf(key);
    const state = this.nodes.get(node);
    return state?.down ? unavailable(node, state) : null;
  }

  /**
   * Tell `listener` when the node of `key` goes down (at once if it is down), until the returned
   * function is called. Used by calls that wait without sending anything.
   */
  watch(key: string, listener: DownListener): () => void {
    const node = this.nodeOf(key);
    const state = this.stateOf(node, key);
    if (state.down) {
      listener(unavailable(node, state));
      return () => {};
    }
    state.watchers.add(listener);
    if (!state.probe && !state.timer) this.schedule(node, state, this.heartbeatMs);
    return () => {
      state.watchers.delete(listener);
      this.tidy(node, state);
    };
  }

  /** Stop probing (the guard closed). */
  stop(): void {
    this.stopped = true;
    for (const state of this.nodes.values()) clearTimeout(state.timer);
    this.nodes.clear();
  }

  /** While calls wait on a node that answers, how often it is probed. */
  private get heartbeatMs(): number {
    return Math.max(50, Math.floor(this.timeoutMs / 2));
  }

  private trip(node: string, key: string, reason: string, cause?: unknown): RedisUnavailableError {
    const state = this.stateOf(node, key);
    if (!state.down) {
      state.down = { since: Date.now(), reason };
      emitEvent(this.events, 'warn', 'redis.unavailable', { node, cause: reason });
      this.onChange(node, false);
      const err = unavailable(node, state);
      for (const listener of [...state.watchers]) listener(err);
      this.schedule(node, state, PROBE_INTERVAL_MS);
    }
    return unavailable(node, state, cause);
  }

  private recover(node: string, state: NodeState): void {
    const downMs = Date.now() - state.down!.since;
    state.down = null;
    emitEvent(this.events, 'info', 'redis.available', { node, downMs });
    this.onChange(node, true);
  }

  private schedule(node: string, state: NodeState, ms: number): void {
    clearTimeout(state.timer);
    if (this.stopped) return;
    state.timer = unrefTimeout(() => {
      state.timer = undefined;
      this.probe(node, state);
    }, ms);
  }

  /**
   * Ask the node something cheap (HEXISTS on a key of the node). Down: an answer within the deadline, to a probe sent while it was
   * down, brings it back. Up (watched): no answer within the deadline takes it down.
   */
  private probe(node: string, state: NodeState): void {
    if (this.stopped) return;
    if (state.probe && Date.now() - state.probe.sentAt < STALE_PROBE_MS) {
      // The last probe is still out (a Redis that has not answered it yet): look again later.
      if (state.down) this.schedule(node, state, PROBE_INTERVAL_MS);
      return;
    }
    const probe = { sentAt: Date.now() };
    state.probe = probe;
    // Down, the ticks go on while it is out, to give up on it in time; its answer reschedules them.
    if (state.down) this.schedule(node, state, PROBE_INTERVAL_MS);
    const sentWhileDown = state.down !== null;
    const { sentAt } = probe;
    let answered = false;
    const cancel = deadline(this.timeoutMs, () => {
      if (!answered && !state.down) this.trip(node, state.probeKey, `no answer to a probe within ${this.timeoutMs} ms`);
    });
    const settle = (ok: boolean, err?: unknown) => {
      answered = true;
      cancel();
      // A probe given up on (a newer one was sent) says nothing any more.
      if (this.stopped || state.probe !== probe) return;
      state.probe = null;
      if (ok && sentWhileDown && state.down && Date.now() - sentAt <= this.timeoutMs) this.recover(node, state);
      else if (!ok && !state.down && meansUnavailable(err)) this.trip(node, state.probeKey, errorMessage(err), err);
      if (state.down) this.schedule(node, state, PROBE_INTERVAL_MS);
      else if (state.watchers.size > 0) this.schedule(node, state, this.heartbeatMs);
      else this.tidy(node, state);
    };
    // Any reply of the node's own counts as an answer: a key that is not a hash (a tag's record,
    // whose step opened the breaker) answers WRONGTYPE, and the node is up all the same.
    this.redis.hexists(state.probeKey, 'fence').then(
      () => settle(true),
      (err: unknown) => settle(!meansUnavailable(err), err),
    );
  }

  private stateOf(node: string, key: string): NodeState {
    let state = this.nodes.get(node);
    if (!state) {
      state = { down: null, probeKey: key, probe: null, timer: undefined, watchers: new Set() };
      if (!this.stopped) this.nodes.set(node, state);
    }
    return state;
  }

  /** Forget a node that is up, unwatched and not being probed. */
  private tidy(node: string, state: NodeState): void {
    if (state.down || state.watchers.size > 0 || state.probe) return;
    clearTimeout(state.timer);
    state.timer = undefined;
    if (this.nodes.get(node) === state) this.nodes.delete(node);
  }

  /** host:port of the Redis that serves `key` (a cluster's master for its slot, once known). */
  private nodeOf(key: string): string {
    return this.redis.nodeOf(key);
  }
}

/** Whether an error from a command says Redis is out of reach, rather than that the command was wrong. */
export function meansUnavailable(err: unknown): boolean {
  if (err instanceof StampedeError) return false;
  if (isReplyError(err)) return UNAVAILABLE_REPLIES.test((err as Error).message);
  // A bug (ours, or in the code around the client) is not an outage: it fails the call as it is.
  if (err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError) return false;
  // Refused, reset, closed, "Stream isn't writeable", MaxRetriesPerRequestError, a cluster that is not ready...
  return err instanceof Error;
}

function unavailable(node: string, state: NodeState, cause?: unknown): RedisUnavailableError {
  return new RedisUnavailableError(node, state.down?.reason ?? 'unavailable', cause === undefined ? undefined : { cause });
}

/**
 * A timer for `ms`, whose `fire` runs only after the I/O that arrived meanwhile was read. When the
 * event loop was blocked (a long GC, a busy CPU), a reply that came in time is already waiting in
 * the socket: the timer's phase runs before the poll phase that reads it, setImmediate's after.
 */
function deadline(ms: number, fire: () => void): () => void {
  let immediate: NodeJS.Immediate | undefined;
  const timer = unrefTimeout(() => {
    immediate = setImmediate(fire);
  }, ms);
  return () => {
    clearTimeout(timer);
    if (immediate) clearImmediate(immediate);
  };
}
