import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

/**
 * A small HTTP backend standing in for what a fleet protects (a slow query, a rate-limited API):
 * `GET /value/<key>` answers after `delayMs` (or `?ms=<ms>`, this request's own time) with a value
 * no other request gets, and every request is counted, so what reached the backend can be
 * compared with what the fleet's logs say it computed. It also counts its own load: the requests
 * in flight, their peak, and per 1 s bin the requests started and the peak in flight, since it
 * started or since `reset()`. With `degradePerInFlightMs` it slows down under concurrency, as real
 * origins do. `GET /stats` answers `{ requests, byKey, inFlight, peakInFlight, startedAt, timeline }`.
 */
export interface BackendValue {
  key: string;
  /** This request's number: 1 for the backend's first request, and so on. */
  request: number;
  /** How long this answer was set to take, ms: its `ms` or `delayMs`, plus any degradation, capped at `maxMs`. */
  delayMs: number;
  servedAt: string;
}

/** One second of the backend's load. */
export interface LoadBin {
  /** Seconds since the backend started or was last reset: bin 0 is [0 s, 1 s). */
  second: number;
  /** `/value/` requests that arrived in this second. */
  requests: number;
  /** The most `/value/` requests in flight at any moment of this second (those still running from earlier included). */
  peakInFlight: number;
}

export interface Backend {
  readonly url: string;
  /** Requests for values so far (answered or not), since the backend started (`reset()` keeps it). */
  requests(): number;
  requestsFor(key: string): number;
  /** The values answered so far, in order (the last 10 000). */
  served(): readonly BackendValue[];
  /** `/value/` requests arrived and neither answered nor abandoned by their caller yet. */
  inFlight(): number;
  /** The most requests in flight at once since the start or the last `reset()`. */
  peakInFlight(): number;
  /** Per 1 s bin since the start or the last `reset()`, up to now (the last 24 h of bins at most). */
  timeline(): LoadBin[];
  /** Start the load counts afresh (peak, timeline, its clock); requests in flight stay in flight and count. */
  reset(): void;
  close(): Promise<void>;
}

export interface BackendOptions {
  /** @default 0 (any free port) */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** How long each answer takes, ms, when the request has no `?ms=`. @default 1000 */
  delayMs?: number;
  /** Each answer takes this many ms more per request already in flight when it arrived. @default 0 */
  degradePerInFlightMs?: number;
  /** No answer takes longer than this, ms (a larger `?ms=` or a degraded delay is capped to it). @default 60000 */
  maxMs?: number;
}

const KEEP_SERVED = 10_000;
/** One day of 1 s bins: a long run's timeline in bounded memory. */
const KEEP_BINS = 86_400;

export async function startBackend({
  port = 0,
  host = '127.0.0.1',
  delayMs = 1000,
  degradePerInFlightMs = 0,
  maxMs = 60_000,
}: BackendOptions = {}): Promise<Backend> {
  for (const [name, value] of Object.entries({ delayMs, degradePerInFlightMs, maxMs })) {
    if (!Number.isFinite(value) || value < 0)
      throw new RangeError(`startBackend: ${name} must be a finite number of ms >= 0, got ${value}`);
  }
  let requests = 0;
  const byKey = new Map<string, number>();
  const served: BackendValue[] = [];
  const load = loadCounter();

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://backend');
    const path = url.pathname;
    if (path === '/stats') return json(res, 200, { requests, byKey: Object.fromEntries(byKey), ...load.stats() });
    if (!path.startsWith('/value/')) return json(res, 404, { error: 'try GET /value/<key>[?ms=<ms>] or GET /stats' });
    const ms = url.searchParams.get('ms');
    const asked = ms === null ? delayMs : Number(ms);
    // Number('') is 0: an empty ms is as wrong as a word.
    if (ms?.trim() === '' || !Number.isFinite(asked) || asked < 0) {
      return json(res, 400, { error: `ms must be a finite number of milliseconds >= 0, got ${JSON.stringify(ms)}` });
    }
    const key = decodeURIComponent(path.slice('/value/'.length));
    requests += 1;
    byKey.set(key, (byKey.get(key) ?? 0) + 1);
    const request = requests;
    const before = load.arrive();
    const delay = Math.min(maxMs, asked + degradePerInFlightMs * before);
    // A caller that gives up (its signal aborted the fetch) closes the connection: stop working for it.
    // 'close' comes once, answered or abandoned: the request is no longer in flight.
    const timer = setTimeout(() => {
      const value: BackendValue = { key, request, delayMs: delay, servedAt: new Date().toISOString() };
      served.push(value);
      if (served.length > KEEP_SERVED) served.shift();
      json(res, 200, value);
    }, delay);
    res.once('close', () => {
      clearTimeout(timer);
      load.leave();
    });
  };

  const server = createServer(handle);
  server.listen(port, host);
  await once(server, 'listening');
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host}:${address.port}`,
    requests: () => requests,
    requestsFor: (key) => byKey.get(key) ?? 0,
    served: () => served,
    inFlight: () => load.inFlight(),
    peakInFlight: () => load.peak(),
    timeline: () => load.timeline(),
    reset: () => load.reset(),
    async close() {
      // Keep-alive connections (fetch keeps them) would hold close() open.
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Requests in flight, their peak, and 1 s bins on a monotonic clock. A bin opened after a quiet
 * spell starts at the requests still in flight then, so a long request shows in every second it
 * runs through. Bins are a fixed-size record each, at most KEEP_BINS of them.
 */
function loadCounter() {
  let epoch = performance.now();
  let startedAt = new Date();
  let inFlight = 0;
  let peak = 0;
  /** bins[i] is second `first + i`. */
  let first = 0;
  let bins: { requests: number; peakInFlight: number }[] = [];

  /** Open the bins up to now, each starting at the requests in flight, and return the current one. */
  const current = () => {
    const second = Math.max(0, Math.floor((performance.now() - epoch) / 1000));
    while (first + bins.length <= second) bins.push({ requests: 0, peakInFlight: inFlight });
    if (bins.length > KEEP_BINS) {
      const drop = bins.length - KEEP_BINS;
      bins = bins.slice(drop);
      first += drop;
    }
    return bins[bins.length - 1] as { requests: number; peakInFlight: number };
  };

  return {
    /** A request arrived: returns how many were already in flight. */
    arrive(): number {
      const bin = current();
      const before = inFlight;
      inFlight += 1;
      bin.requests += 1;
      bin.peakInFlight = Math.max(bin.peakInFlight, inFlight);
      peak = Math.max(peak, inFlight);
      return before;
    },
    leave(): void {
      current();
      inFlight -= 1;
    },
    inFlight: () => inFlight,
    peak: () => peak,
    timeline(): LoadBin[] {
      current();
      return bins.map((bin, i) => ({ second: first + i, requests: bin.requests, peakInFlight: bin.peakInFlight }));
    },
    reset(): void {
      epoch = performance.now();
      startedAt = new Date();
      peak = inFlight;
      first = 0;
      bins = [];
    },
    stats() {
      return { inFlight, peakInFlight: peak, startedAt: startedAt.toISOString(), timeline: this.timeline() };
    },
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
