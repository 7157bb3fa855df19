import type { GuardEventName } from '../events.js';
import { ATTR, SPAN, isTraceparent, type TraceAttributes, type TraceSpan, type Tracing } from './tracing.js';

/**
 * The span of one call (getOrCompute, set, delete, lock, or a background refresh), fed by the
 * call's own events: every event the call reports (events.ts) becomes a span event, and the
 * events that settle something become attributes (the tier that answered, the fence, how a wait
 * ended, the failure policy applied). A wait is a child span from `wait.start` to `wait.end`; the
 * computation is a child span that recompute.ts runs the caller's function in.
 */
export class CallTrace {
  private wait: TraceSpan | undefined;
  /** Ended: a holder's computation that goes on after its call was answered (a soft timeout) reports to nobody. */
  private ended = false;

  private constructor(
    private readonly tracing: Tracing,
    private readonly span: TraceSpan,
    private readonly key: string,
    private readonly strategy: string | undefined,
  ) {}

  static start(
    tracing: Tracing,
    name: string,
    key: string,
    strategy?: string,
    options: { root?: boolean; links?: string[] } = {},
  ): CallTrace {
    const attributes: TraceAttributes = strategy === undefined ? {} : { [ATTR.strategy]: strategy };
    return new CallTrace(tracing, tracing.startSpan(name, { attributes, key, ...options }), key, strategy);
  }

  /** Run the call's work with its span active. */
  run<T>(fn: () => T): T {
    return this.span.run(fn);
  }

  event(name: GuardEventName, fields: Readonly<Record<string, unknown>>): void {
    if (this.ended) return;
    this.span.addEvent(name, scalars(fields));
    switch (name) {
      case 'cache.hit':
        this.span.setAttributes({ [ATTR.tier]: String(fields.tier ?? 'redis') });
        break;
      case 'lock.acquired':
      case 'cache.write':
        this.span.setAttributes({ [ATTR.fence]: Number(fields.fence) });
        break;
      case 'cache.write.rejected':
        this.span.setAttributes({ [ATTR.writeRejected]: true });
        break;
      case 'stale.served':
        if (typeof fields.reason === 'string') this.span.setAttributes({ [ATTR.staleReason]: fields.reason });
        break;
      case 'cache.degraded':
        this.span.setAttributes({ [ATTR.redisDown]: String(fields.policy) });
        break;
      case 'wait.start':
        this.wait?.end();
        this.wait = this.tracing.startSpan(SPAN.wait, {
          parent: this.span,
          key: this.key,
          attributes: { 'cache_stampede.wait.timeout_ms': Number(fields.timeoutMs) },
        });
        break;
      case 'wait.end': {
        const ended = { [ATTR.waitOutcome]: String(fields.outcome), [ATTR.waitMs]: Number(fields.waitedMs) };
        this.span.setAttributes(ended);
        this.wait?.setAttributes(ended);
        this.wait?.end();
        this.wait = undefined;
        break;
      }
    }
  }

  /** The computation's span, a child of this one; the caller's function runs inside it. */
  startCompute(fence: number): TraceSpan {
    return this.tracing.startSpan(SPAN.compute, { parent: this.span, key: this.key, attributes: { [ATTR.fence]: fence } });
  }

  /**
   * A background refresh started by this call: a trace of its own (the caller has its answer
   * and its span ends before the refresh does), linked to this call's span.
   */
  startRefresh(reason: 'stale' | 'early'): CallTrace {
    const from = this.span.traceparent();
    const refresh = CallTrace.start(this.tracing, SPAN.refresh, this.key, this.strategy, { root: true, links: from ? [from] : [] });
    refresh.span.setAttributes({ [ATTR.refreshReason]: reason });
    return refresh;
  }

  /**
   * End the span with the call's answer: where the value came from, and, for a value this call
   * waited for, a link to the span of the computation that produced it (whatever process ran it:
   * its traceparent travels inside the stored value).
   */
  finish(answer: { source: string; envelope?: { trace?: string }; computedBy?: string } | undefined, error?: unknown): void {
    if (answer) {
      this.span.setAttributes({ [ATTR.source]: answer.source });
      const computedBy = answer.envelope?.trace ?? answer.computedBy;
      if (answer.source === 'waited' && isTraceparent(computedBy)) this.span.addLink(computedBy, { 'cache_stampede.link': 'computation' });
    }
    this.wait?.end();
    this.wait = undefined;
    this.ended = true;
    this.span.end(error);
  }
}

/** The fields a span event can carry: numbers, strings, booleans (an error is the span's status). */
function scalars(fields: Readonly<Record<string, unknown>>): TraceAttributes {
  const out: TraceAttributes = {};
  for (const [name, value] of Object.entries(fields)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') out[name] = value;
  }
  return out;
}
