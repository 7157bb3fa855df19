import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small HTTP backend standing in for what a fleet protects (a slow query, a rate-limited API):
 * `GET /value/<key>` answers after `delayMs` with a value no other request gets, and every
 * request is counted, so what reached the backend can be compared with what the fleet's logs
 * say it computed. `GET /stats` answers `{ requests, byKey }`.
 */
export interface BackendValue {
  key: string;
  /** This request's number: 1 for the backend's first request, and so on. */
  request: number;
  servedAt: string;
}

export interface Backend {
  readonly url: string;
  /** Requests for values so far (answered or not). */
  requests(): number;
  requestsFor(key: string): number;
  /** The values answered so far, in order (the last 10 000). */
  served(): readonly BackendValue[];
  close(): Promise<void>;
}

export interface BackendOptions {
  /** @default 0 (any free port) */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** How long each answer takes, ms. @default 1000 */
  delayMs?: number;
}

const KEEP_SERVED = 10_000;

export async function startBackend({ port = 0, host = '127.0.0.1', delayMs = 1000 }: BackendOptions = {}): Promise<Backend> {
  let requests = 0;
  const byKey = new Map<string, number>();
  const served: BackendValue[] = [];

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://backend').pathname;
    if (path === '/stats') return json(res, 200, { requests, byKey: Object.fromEntries(byKey) });
    if (!path.startsWith('/value/')) return json(res, 404, { error: 'try GET /value/<key> or GET /stats' });
    const key = decodeURIComponent(path.slice('/value/'.length));
    requests += 1;
    byKey.set(key, (byKey.get(key) ?? 0) + 1);
    const request = requests;
    // A caller that gives up (its signal aborted the fetch) closes the connection: stop working for it.
    const timer = setTimeout(() => {
      const value: BackendValue = { key, request, servedAt: new Date().toISOString() };
      served.push(value);
      if (served.length > KEEP_SERVED) served.shift();
      json(res, 200, value);
    }, delayMs);
    res.once('close', () => clearTimeout(timer));
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
    async close() {
      // Keep-alive connections (fetch keeps them) would hold close() open.
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
