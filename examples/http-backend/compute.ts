/**
 * The fleet's computation for the HTTP backend example: fetch the key's value from the backend.
 * The guard's signal is passed on, so its timeout, a lost lock or the worker's shutdown cancel
 * the request instead of leaving it running. Run the workers with:
 *   BACKEND_URL=http://127.0.0.1:8787 npm run fleet -- --compute examples/http-backend/compute.ts
 */
const backendUrl = process.env.BACKEND_URL ?? 'http://127.0.0.1:8787';

export default async function compute(key: string, { signal }: { signal: AbortSignal }): Promise<unknown> {
  const response = await fetch(`${backendUrl}/value/${encodeURIComponent(key)}`, { signal });
  // The job fails with this message (and the guard's failure policy decides what waiters get).
  if (!response.ok) throw new Error(`backend answered ${response.status} for "${key}"`);
  return response.json();
}
