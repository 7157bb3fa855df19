import { strategyLabel } from '../../../src/bullmq/job-data.js';
import { STRATEGIES } from '../../../src/cache/strategy.js';
import type { EventName } from '../../../src/logger.js';
import type { LogRecord } from '../read-logs.js';
import { naturalCompare } from '../summarize.js';

/**
 * Log records -> timelines: what each worker process was doing, when, during one burst.
 * One panel per (strategy, run); in it one lane per worker process; in a lane the intervals
 * (recomputations, waits on another holder, background refreshes) and the instants (cache
 * hits, stale values served, locks lost, writes rejected). No drawing here: the picture is
 * `timeline-spec.ts`'s business, so this stays testable with plain numbers.
 *
 * Times are milliseconds since the panel's first job line ("burst start"). The records may
 * come in any order across files (one file per process); within one process they are in
 * the order written, which is all the start/end pairing needs.
 */

/**
 * Intervals: `recompute.start`→`recompute.end`, `wait.start`→`wait.end` (on another process's
 * lock), `flight.joined`→`job.completed` (on another caller's flight in the same process),
 * `refresh.start`→`refresh.end` (a background refresh of a later strategy).
 */
export type BarKind = 'recompute' | 'wait' | 'joined' | 'refresh';
/** Instants drawn as ticks, binned when there are many. */
export type TickKind = 'cache.hit' | 'stale.served';
/** Instants that mean trouble, always drawn one by one. */
export type AlertKind = 'lock.lost' | 'cache.write.rejected';

export interface Bar {
  kind: BarKind;
  start: number;
  end: number;
  /** No end event was logged (the process died, or the log was cut): drawn to the panel's end. */
  open: boolean;
  /** Ended by `recompute.failed` rather than `recompute.end`. */
  failed: boolean;
  jobId: string | null;
  key: string | null;
}

export interface Tick {
  kind: TickKind;
  at: number;
}

export interface Alert {
  kind: AlertKind;
  at: number;
  jobId: string | null;
  key: string | null;
}

/** One worker process. A restarted worker (same `workerId`, new pid) gets a lane of its own. */
export interface Lane {
  id: string;
  /** `worker-1 · pid 4001`. */
  label: string;
  workerId: string | null;
  pid: number | null;
  bars: Bar[];
  ticks: Tick[];
  alerts: Alert[];
}

export interface TimelinePanel {
  strategy: string;
  /** `null` for job lines without a `runId`. */
  runId: string | null;
  /** Epoch ms of the panel's first job line: 0 on the x axis. */
  startedAt: number;
  /** From the first to the last job line. */
  durationMs: number;
  lanes: Lane[];
  /** `recompute.start` events: exactly the number of recompute bars. */
  recomputations: number;
  waits: number;
  /** `flight.joined` events. */
  joins: number;
  /** `job.completed` + `job.failed`. */
  jobs: number;
  /** Job lines without a numeric `time`: counted in the table, impossible to place. */
  untimed: number;
}

export interface TimelineOptions {
  /** Keep only the lines of this run (as `npm run logs -- --run`). @default every run */
  runId?: string | undefined;
}

const BAR_EVENTS = {
  'recompute.start': { kind: 'recompute', edge: 'start' },
  'recompute.end': { kind: 'recompute', edge: 'end' },
  'recompute.failed': { kind: 'recompute', edge: 'failed' },
  'wait.start': { kind: 'wait', edge: 'start' },
  'wait.end': { kind: 'wait', edge: 'end' },
  'flight.joined': { kind: 'joined', edge: 'start' },
  // A joined caller's wait ends when its job does; other jobs' ends find no open join and pass.
  'job.completed': { kind: 'joined', edge: 'end' },
  'job.failed': { kind: 'joined', edge: 'end' },
  // Later strategies (swr, xfetch); not in the closed set yet, so typed as plain strings.
  'refresh.start': { kind: 'refresh', edge: 'start' },
  'refresh.end': { kind: 'refresh', edge: 'end' },
} as const satisfies Record<string, { kind: BarKind; edge: 'start' | 'end' | 'failed' }>;

const TICK_EVENTS: Record<string, TickKind> = { 'cache.hit': 'cache.hit', 'stale.served': 'stale.served' };
const ALERT_EVENTS = {
  'lock.lost': 'lock.lost',
  'cache.write.rejected': 'cache.write.rejected',
} as const satisfies Partial<Record<EventName, AlertKind>>;

/** Build every panel from records already in memory. */
export function buildTimelines(records: Iterable<LogRecord>, options: TimelineOptions = {}): TimelinePanel[] {
  const builder = new TimelineBuilder(options);
  for (const record of records) builder.add(record);
  return builder.build();
}

/** Accumulates records one at a time (e.g. alongside `ReportBuilder`, in one pass over the logs). */
export class TimelineBuilder {
  private readonly runId: string | null;
  private readonly panels = new Map<string, PanelAccumulator>();

  constructor(options: TimelineOptions = {}) {
    this.runId = options.runId ?? null;
  }

  add(record: LogRecord): void {
    if (typeof record.strategy !== 'string') return; // not a job line
    // A made-up strategy is `invalid`, as in the table and the metrics (strategyLabel).
    const strategy = strategyLabel(record.strategy);
    const runId = typeof record.runId === 'string' ? record.runId : null;
    if (this.runId !== null && runId !== this.runId) return;
    const id = JSON.stringify([strategy, runId]);
    let panel = this.panels.get(id);
    if (!panel) {
      panel = new PanelAccumulator(strategy, runId);
      this.panels.set(id, panel);
    }
    panel.add(record);
  }

  /** Panels in the text report's order: known strategies as documented, then the others; runs naturally. */
  build(): TimelinePanel[] {
    const rank = (s: string): number => {
      const i = (STRATEGIES as readonly string[]).indexOf(s);
      return i === -1 ? STRATEGIES.length : i;
    };
    return [...this.panels.values()]
      .map((p) => p.build())
      .sort(
        (a, b) =>
          rank(a.strategy) - rank(b.strategy) || naturalCompare(a.strategy, b.strategy) || naturalCompare(a.runId ?? '', b.runId ?? ''),
      );
  }
}

interface OpenBar {
  kind: BarKind;
  start: number;
  jobId: string | null;
  key: string | null;
}

interface LaneAccumulator {
  lane: Lane;
  /** Started, not yet ended bars, per `kind|jobId|key`, oldest first. */
  open: Map<string, OpenBar[]>;
}

class PanelAccumulator {
  private readonly lanes = new Map<string, LaneAccumulator>();
  private first = Infinity;
  private last = -Infinity;
  private recomputations = 0;
  private waits = 0;
  private joins = 0;
  private jobs = 0;
  private untimed = 0;

  constructor(
    private readonly strategy: string,
    private readonly runId: string | null,
  ) {}

  add(record: LogRecord): void {
    const event = typeof record.event === 'string' ? record.event : null;
    if (event === 'job.completed' || event === 'job.failed') this.jobs++;
    const time = record.time;
    if (typeof time !== 'number' || !Number.isFinite(time)) {
      this.untimed++;
      return;
    }
    this.first = Math.min(this.first, time);
    this.last = Math.max(this.last, time);
    if (event === null) return;

    const lane = this.laneOf(record);
    const jobId = typeof record.jobId === 'string' ? record.jobId : null;
    const key = typeof record.key === 'string' ? record.key : null;

    const bar = BAR_EVENTS[event as keyof typeof BAR_EVENTS];
    if (bar) {
      const id = `${bar.kind}|${jobId}|${key}`;
      if (bar.edge === 'start') {
        if (bar.kind === 'recompute') this.recomputations++;
        if (bar.kind === 'wait') this.waits++;
        if (bar.kind === 'joined') this.joins++;
        const queue = lane.open.get(id);
        const started: OpenBar = { kind: bar.kind, start: time, jobId, key };
        if (queue) queue.push(started);
        else lane.open.set(id, [started]);
      } else {
        const started = lane.open.get(id)?.shift();
        // An end without its start (the start was before the log began): nothing to draw.
        if (started) lane.lane.bars.push({ ...started, end: time, open: false, failed: bar.edge === 'failed' });
      }
      return;
    }
    const tick = TICK_EVENTS[event];
    if (tick) {
      lane.lane.ticks.push({ kind: tick, at: time });
      return;
    }
    const alert = ALERT_EVENTS[event as keyof typeof ALERT_EVENTS];
    if (alert) lane.lane.alerts.push({ kind: alert, at: time, jobId, key });
  }

  build(): TimelinePanel {
    const startedAt = Number.isFinite(this.first) ? this.first : 0;
    const end = Number.isFinite(this.last) ? this.last : startedAt;
    const lanes = [...this.lanes.values()].map(({ lane, open }) => {
      // Still open at the end of the log: drawn up to the last line seen, and marked so.
      const unfinished = [...open.values()].flat().map((b): Bar => ({ ...b, end, open: true, failed: false }));
      const bars = [...lane.bars, ...unfinished]
        .map((b) => ({ ...b, start: b.start - startedAt, end: b.end - startedAt }))
        .sort((a, b) => a.start - b.start || a.end - b.end);
      return {
        ...lane,
        bars,
        ticks: lane.ticks.map((t) => ({ ...t, at: t.at - startedAt })).sort((a, b) => a.at - b.at),
        alerts: lane.alerts.map((a) => ({ ...a, at: a.at - startedAt })).sort((a, b) => a.at - b.at),
      };
    });
    lanes.sort((a, b) => naturalCompare(a.label, b.label));
    return {
      strategy: this.strategy,
      runId: this.runId,
      startedAt,
      durationMs: end - startedAt,
      lanes,
      recomputations: this.recomputations,
      waits: this.waits,
      joins: this.joins,
      jobs: this.jobs,
      untimed: this.untimed,
    };
  }

  private laneOf(record: LogRecord): LaneAccumulator {
    const workerId = typeof record.workerId === 'string' ? record.workerId : null;
    const pid = typeof record.pid === 'number' ? record.pid : null;
    const host = typeof record.hostname === 'string' ? record.hostname : '';
    const id = JSON.stringify([host, pid, workerId]);
    let lane = this.lanes.get(id);
    if (!lane) {
      const label = [workerId, pid === null ? null : `pid ${pid}`].filter((p) => p !== null).join(' · ') || 'unknown process';
      lane = { lane: { id, label, workerId, pid, bars: [], ticks: [], alerts: [] }, open: new Map() };
      this.lanes.set(id, lane);
    }
    return lane;
  }
}
