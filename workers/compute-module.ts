import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Strategy } from '../src/cache/strategy.js';
import type { ValueTtl } from '../src/cache/context.js';
import type { JobParams } from '../src/bullmq/job-data.js';
import { errorMessage } from '../src/errors.js';
import { UserError } from '../scripts/common/errors.js';
import { redactUrl } from '../scripts/common/logging.js';

/** What a compute module's function gets beside the key. */
export interface ComputeModuleContext {
  /** Aborts when the guard gives the computation up: its timeout, a lost lock, the worker's shutdown. Pass it on (fetch, a query). */
  signal: AbortSignal;
  /** The job's `params` (`{}` when it has none). They must not change the value: the cache key is the key alone. */
  params: JobParams;
  runId: string | undefined;
  jobId: string | undefined;
  strategy: Strategy;
  workerId: string;
  /** This value's fresh time and grace, for this value only (the guard's `setTtl`: a token's validity, a short-lived "not found"). */
  setTtl(ttl: ValueTtl): void;
  /** Answer this job and the jobs waiting for this computation, but store the value nowhere (the guard's `skipCache`). */
  skipCache(): void;
}

/** A compute module's default export. Its value must survive JSON. */
export type ComputeFunction = (key: string, context: ComputeModuleContext) => unknown;

/** What a compute module's `computeMany` gets beside the keys: the context of a batch job. */
export interface ComputeManyContext extends Omit<ComputeModuleContext, 'setTtl' | 'skipCache'> {
  /** One key's fresh time and grace (see ComputeModuleContext.setTtl). */
  setTtl(key: string, ttl: ValueTtl): void;
  /** Store one key's value nowhere (see ComputeModuleContext.skipCache). */
  skipCache(key: string): void;
}

/**
 * A compute module's named export `computeMany`: the values of several keys in one call (one SQL
 * query, one bulk API request), as a Map or an object keyed by key. A key left out fails alone.
 */
export type ComputeManyFunction = (keys: string[], context: ComputeManyContext) => unknown;

export interface ComputeModule {
  /** The absolute path it was loaded from. */
  path: string;
  compute: ComputeFunction;
  /** Its `computeMany`, when it exports one: batch jobs then compute their held keys in one call. */
  computeMany?: ComputeManyFunction;
}

/** The module could not be used: the worker stops at start, with this one line. */
export class ComputeModuleError extends UserError {
  constructor(message: string) {
    super('E_COMPUTE_MODULE', message);
  }
}

/**
 * A relative path is relative to the directory the command was run from. `npm run` starts
 * scripts in the project's root and keeps that directory in INIT_CWD.
 */
export function resolveModulePath(path: string, env: Record<string, string | undefined> = process.env): string {
  return resolve(env.INIT_CWD ?? process.cwd(), path);
}

/** Check that the module's file exists, without loading it (the fleet checks this once for all its workers). */
export async function assertModuleFile(path: string): Promise<void> {
  const found = await stat(path).catch(() => null);
  if (!found) throw new ComputeModuleError(`compute module ${path}: no such file`);
  if (!found.isFile()) throw new ComputeModuleError(`compute module ${path} is not a file`);
}

/**
 * Load the user's module (.js, .mjs, or .ts: workers run with tsx) and check that its default
 * export is a function. Anything wrong is one ComputeModuleError naming the path and the cause.
 */
export async function loadComputeModule(path: string): Promise<ComputeModule> {
  const resolved = resolveModulePath(path);
  await assertModuleFile(resolved);
  let loaded: { default?: unknown; computeMany?: unknown };
  try {
    loaded = (await import(pathToFileURL(resolved).href)) as { default?: unknown; computeMany?: unknown };
  } catch (err) {
    throw new ComputeModuleError(`compute module ${resolved} failed to load: ${oneLine(errorMessage(err))}`);
  }
  if (typeof loaded.default !== 'function') {
    throw new ComputeModuleError(
      `compute module ${resolved} has no function as default export (export default async (key, { signal, params }) => value); got ${describe(loaded.default)}`,
    );
  }
  if (loaded.computeMany !== undefined && typeof loaded.computeMany !== 'function') {
    throw new ComputeModuleError(
      `compute module ${resolved} exports computeMany, but not as a function (export async function computeMany(keys, { signal, params }) { return values }); got ${describe(loaded.computeMany)}`,
    );
  }
  return {
    path: resolved,
    compute: loaded.default as ComputeFunction,
    ...(loaded.computeMany !== undefined && { computeMany: loaded.computeMany as ComputeManyFunction }),
  };
}

/**
 * The first informative line of an error message, with any password in a URL hidden: a loader's
 * message can run to a code frame ("Transform failed with 1 error:\n<file>:3:7: ERROR: ..."),
 * and a module may fail to connect to a URL with credentials in it.
 */
function oneLine(message: string): string {
  const lines = message
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const line = lines.find((l) => /\bERROR\b/.test(l)) ?? lines[0] ?? 'no message';
  return redactUrl(line).slice(0, 300);
}

function describe(value: unknown): string {
  if (value === undefined) return 'no default export';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
