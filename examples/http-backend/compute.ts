/**
 * The fleet's computation for the HTTP backend example: fetch the key's value from the backend.
 * The guard's signal is passed on, so its timeout, a lost lock or the worker's shutdown cancel
 * the request instead of leaving it running. A job's `params.ms` (a finite number >= 0) asks the
 * backend to take that long for this value (`GET /value/<key>?ms=<ms>`), as a load run's
 * computation times do; without it the backend's own `--delay-ms` applies. Run the workers with:
 *   BACKEND_URL=http://127.0.0.1:8787 npm run fleet -- --compute examples/http-backend/compute.ts
 */
const backendUrl = process.env.BACKEND_URL ?? 'http://127.0.0.1:8787';

export default async function compute(
  key: string,
  { signal, params = {} }: { signal: AbortSignal; params?: Readonly<Record<string, unknown>> },
): Promise<unknown> {
  const { ms } = params;
  const query = typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 ? `?ms=${ms}` : '';
  const response = await fetch(`${backendUrl}/value/${encodeURIComponent(key)}${query}`, { signal });
  // The job fails with this message (and the guard's failure policy decides what waiters get).
  if (!response.ok) throw new Error(`backend answered ${response.status} for "${key}"`);
  return response.json();
}
