import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { ConfigError } from '../../scripts/common/errors.js';

export interface MetricsServer {
  /** Where Prometheus scrapes, e.g. `http://127.0.0.1:9464/metrics`. */
  readonly url: string;
  /** Stop listening and drop open (keep-alive) connections. */
  close(): Promise<void>;
}

/** The URL of a /metrics endpoint (an IPv6 address in brackets). */
export function metricsUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}/metrics`;
}

/**
 * Serve `registry` as Prometheus text on `GET /metrics`, on `host:port` (port 0: a free port,
 * which `url` then names). A port that cannot be had (in use, not allowed, no such address) is a
 * ConfigError with one line naming it: the worker stops before it takes any job.
 */
export async function startMetricsServer(registry: Registry, host: string, port: number): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: the metrics are at GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? undefined : body),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`cannot collect metrics: ${String(err)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new ConfigError(listenProblem(err, host, port), { cause: err })));
    server.listen({ host, port }, resolve);
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: metricsUrl(host, bound),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function listenProblem(err: NodeJS.ErrnoException, host: string, port: number): string {
  const where = `${host}:${port}`;
  switch (err.code) {
    case 'EADDRINUSE':
      return `metrics port ${port} on ${host} is in use (choose another with --metrics-port or METRICS_PORT)`;
    case 'EACCES':
      return `not allowed to listen on ${where} for metrics (ports below 1024 need privileges; choose another with --metrics-port)`;
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot serve metrics on ${host}: not an address of this machine (--metrics-host or METRICS_HOST)`;
    default:
      return `cannot serve metrics on ${where}: ${err.message}`;
  }
}
