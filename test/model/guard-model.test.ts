/**
 * The model-based checker: random programs of overlapping operations and faults on three guards
 * sharing one Redis, each program's history checked against the guard's guarantees
 * (test/model/model.ts). A failure prints fast-check's seed and path, the shrunk program and
 * the command that replays it (`npm run test:model -- --seed=S --path P`). docs/development.md
 * describes it.
 *
 * Environment (scripts/test-model.ts sets it from its flags):
 *   MODEL_RUNS     programs to run [CI_RUNS]
 *   MODEL_SEED     fast-check seed [random]
 *   MODEL_PATH     fast-check path of a counterexample to replay (with MODEL_SEED); it is run as it is
 *   MODEL_SHRINK   1: a replay that fails shrinks on from there [0]
 *   MODEL_REPEAT   run each program this many times (a replay: timing differs run to run) [1]
 *   MODEL_EXCLUDE  features programs leave out, comma-separated (operations.ts, FEATURES) []
 *   MODEL_STRICT_MIXED_L1  1 holds guards without an L1 tier to the bus bound too [0]
 *   MODEL_TIME_LIMIT_MS    stop starting programs (and shrinking) after this long [1.5 s a program + 45 s]
 *   MODEL_VERBOSE  fast-check's verbosity: 1 lists every failure met while shrinking [0]
 *   MODEL_DEBUG    1 adds the guards' events to a failure's timeline [0]
 *   MODEL_PROGRAM  a file holding one program as JSON (as a failure prints it): run it, MODEL_REPEAT times
 *   MODEL_FOUND    1: run the programs of found.ts instead (each MODEL_REPEAT times, 5 by default)
 */
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { EmbeddedRedis } from '../../scripts/redis/redis-server.js';
import { adminConnection, startModelRedis } from './faults.js';
import { readFileSync } from 'node:fs';
import { FOUND } from './found.js';
import { type CheckOptions, checkHistory, describeTimeline, type History, withBatchReads } from './model.js';
import { clientLibraryFromEnv } from '../support/clients.js';
import { describeProgram, type Program, parseExclusions, programArbitrary, programFromJson, programToJson } from './operations.js';
import { type ModelEnv, runProgram, stopListening } from './runner.js';

/**
 * Programs in `npm test`: about 25 s on the 2-core development machine (docs/development.md). 40
 * since the outages: a program whose breakers opened waits for them to close (a probe a second).
 */
const CI_RUNS = 40;

function envInt(name: string, fallback: number | undefined): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value)) throw new Error(`${name} must be an integer, got ${JSON.stringify(raw)}`);
  return value;
}

const runs = envInt('MODEL_RUNS', CI_RUNS)!;
const seed = envInt('MODEL_SEED', undefined);
const path = process.env.MODEL_PATH || undefined;
const programFile = process.env.MODEL_PROGRAM || undefined;
const runFound = process.env.MODEL_FOUND === '1';
const repeat = envInt('MODEL_REPEAT', runFound ? 5 : 1)!;
const exclude = parseExclusions(process.env.MODEL_EXCLUDE ?? '');
const strictMixedL1 = process.env.MODEL_STRICT_MIXED_L1 === '1';
/** A bound on the whole run, shrinking included: what fast-check has found by then is reported. */
const timeLimitMs = envInt('MODEL_TIME_LIMIT_MS', runs * 1500 + 45_000)!;
const verbose = envInt('MODEL_VERBOSE', 0)!;
const debug = process.env.MODEL_DEBUG === '1';

let server: EmbeddedRedis;
let env: ModelEnv;
const connections: Redis[] = [];

beforeAll(async () => {
  server = await startModelRedis();
  const connect = (name: string) => {
    const c = adminConnection(server.url, name);
    connections.push(c);
    return c;
  };
  env = { url: server.url, admin: connect('admin'), faults: connect('faults'), sampler: connect('sampler') };
  // Connected before the first program counts what keeps the process alive.
  await Promise.all(connections.map((c) => c.ping()));
});

afterAll(async () => {
  stopListening();
  await Promise.all(connections.map((c) => c.quit().catch(() => c.disconnect())));
  await server?.stop();
});

/** What the runs met of Redis being unavailable (printed after a run of random programs). */
const outages = { programs: 0, breakersOpened: 0, degradedCalls: 0, degradedComputations: 0, recoveryRounds: 0 };
/** What the runs traced (printed too): spans of the traced processes, getOrCompute links, refreshes. */
const traced = { programs: 0, spans: 0, links: 0, waited: 0, refreshes: 0 };
/** What the runs met of a computation's own lifetime (setTtl), skipCache and soft timeouts (printed too). */
const lifetimes = { decided: 0, skipped: 0, skippedWaited: 0, softTimedOut: 0, continuingStored: 0 };
/** What the runs met of getManyOrCompute (printed too): batches, their computeMany calls, keys left out or taken over. */
const batches = { getMany: 0, computeMany: 0, keysComputed: 0, leftOut: 0, alone: 0, waited: 0 };
/** What the runs met of tags and namespaces (printed too): invalidations resolved, reads that found a value one covered. */
const invalidations = { invalidateTags: 0, clears: 0, covered: 0, tagged: 0, namespaced: 0, shortRetention: 0 };
function count(raw: History): void {
  // Each getMany's reads of its keys count as calls.
  const history = withBatchReads(raw);
  batches.getMany += history.calls.filter((c) => c.op.kind === 'get-many').length;
  batches.computeMany += history.batches.length;
  batches.keysComputed += history.batches.reduce((n, b) => n + b.keys.length, 0);
  batches.leftOut += history.computes.filter((c) => c.omitted).length;
  batches.alone += history.batches.filter((b) => b.keys.length === 1).length;
  batches.waited += history.reads.filter((r) => r.source === 'waited').length;
  const skipped = new Set(history.computes.filter((c) => c.skipped && c.finish !== undefined && !c.threw).map((c) => c.id));
  lifetimes.decided += history.computes.filter((c) => c.decided && c.finish !== undefined && !c.threw).length;
  lifetimes.skipped += skipped.size;
  lifetimes.skippedWaited += history.calls.filter((c) => c.source === 'waited' && c.value !== undefined && skipped.has(c.value)).length;
  const soft = new Set(history.calls.filter((c) => c.softTimedOut).map((c) => c.i));
  lifetimes.softTimedOut += soft.size;
  lifetimes.continuingStored += history.computes.filter((c) => soft.has(c.i) && c.stored === 'yes').length;
  if (history.program.fleet.traced.some(Boolean)) traced.programs++;
  traced.spans += history.spans.length;
  traced.links += history.spans.reduce((n, s) => n + (s.name === 'cache-stampede getOrCompute' ? (s.links?.length ?? 0) : 0), 0);
  traced.waited += history.calls.filter((c) => c.proc?.traced && c.source === 'waited').length;
  traced.refreshes += history.spans.filter((s) => s.name === 'cache-stampede refresh').length;
  if (history.breakers.length > 0) outages.programs++;
  outages.breakersOpened += history.breakers.filter((b) => !b.up).length;
  outages.degradedCalls += new Set(history.events.filter((e) => e.event === 'cache.degraded').map((e) => e.i)).size;
  outages.degradedComputations += history.computes.filter((c) => c.degraded).length;
  if (raw.recoveryFrom < raw.calls.length) outages.recoveryRounds++;
  const resolved = (kind: string) => history.calls.filter((c) => c.op.kind === kind && c.end !== undefined && !c.error).length;
  invalidations.invalidateTags += resolved('invalidate');
  invalidations.clears += resolved('clear');
  invalidations.covered += history.events.filter((e) => e.event === 'cache.invalidated').length;
  invalidations.tagged += history.calls.filter((c) => (c.op.kind === 'get' || c.op.kind === 'set') && c.op.tags !== undefined).length;
  invalidations.namespaced += history.calls.filter((c) => 'ns' in c.op && c.op.ns !== undefined).length;
  if (history.program.fleet.tagRetentionMs !== undefined) invalidations.shortRetention++;
}

/** Run `program` `repeat` times; throws the first run's broken invariants, its timeline and the program as JSON. */
async function check(program: Program, options: CheckOptions, onRun = () => {}): Promise<void> {
  for (let n = 0; n < repeat; n++) {
    onRun();
    const history = await runProgram(program, env);
    count(history);
    const violations = checkHistory(history, options);
    if (violations.length > 0)
      throw new Error(
        `${violations.length} invariant(s) broken:\n${violations.join('\n')}\n${describeTimeline(history, debug)}\n` +
          `the program as JSON (for --program): ${programToJson(program)}`,
      );
  }
}

// One of three runs, by the environment: random programs (npm test), one program (--program), or
// the programs that found defects (--found). Only that one is registered: npm test lists no skips.
if (!programFile && !runFound)
  describe('the guard under random programs (model-based, fast-check)', () => {
    it(`keeps its guarantees over ${path ? 'the replayed program' : `${runs} random programs`}`, {
      timeout: timeLimitMs + 120_000,
    }, async () => {
      let programs = 0;
      try {
        await fc.assert(
          fc.asyncProperty(programArbitrary({ exclude, maxOps: 20 }), (program) => check(program, { strictMixedL1 }, () => programs++)),
          {
            numRuns: runs,
            ...(seed !== undefined && { seed }),
            // A replay runs the printed counterexample only (as fast-check's hint says), unless asked to shrink on.
            ...(path !== undefined && { path, endOnFailure: process.env.MODEL_SHRINK !== '1' }),
            verbose,
            plugins: [fc.interruptAfterTimeLimit(timeLimitMs)],
          },
        );
      } catch (err) {
        // The command that replays it: the same seed and path, and the same programs (exclusions); a
        // few times, since the interleaving depends on timing.
        const found = /seed: (-?\d+), path: "([\d:]+)"/.exec((err as Error).message);
        if (found) {
          const flags = [
            `--seed=${found[1]}`,
            `--path ${found[2]}`,
            '--repeat 10',
            ...(exclude.size > 0 ? [`--exclude ${[...exclude].join(',')}`] : []),
            // The client library the programs ran on (vitest's project).
            `--client ${clientLibraryFromEnv()}`,
          ];
          (err as Error).message = `Replay: npm run test:model -- ${flags.join(' ')}\n${(err as Error).message}`;
        }
        throw err;
      }
      process.stdout.write(
        `model checker: ${programs} program run(s); Redis unavailable in ${outages.programs} of them: ` +
          `${outages.breakersOpened} breaker(s) opened, ${outages.degradedCalls} call(s) found Redis unavailable, ` +
          `${outages.degradedComputations} computation(s) while it was, ${outages.recoveryRounds} recovery round(s); ` +
          `traced in ${traced.programs}: ${traced.spans} span(s), ${traced.waited} traced call(s) answered waited, ` +
          `${traced.links} link(s) to a computation, ${traced.refreshes} refresh span(s); ` +
          `${lifetimes.decided} value(s) with a lifetime of their own (setTtl), ${lifetimes.skipped} skipped the cache ` +
          `(${lifetimes.skippedWaited} call(s) got one as waited), ${lifetimes.softTimedOut} call(s) answered stale at a soft timeout ` +
          `(${lifetimes.continuingStored} of their computations stored after); ` +
          `${batches.getMany} getMany call(s): ${batches.computeMany} computeMany call(s) over ${batches.keysComputed} key(s) ` +
          `(${batches.alone} of one key), ${batches.leftOut} key(s) left out, ${batches.waited} key(s) answered waited; ` +
          `${invalidations.tagged} tagged get(s) and set(s), ${invalidations.namespaced} call(s) through a namespace, ` +
          `${invalidations.invalidateTags} invalidateTags and ${invalidations.clears} clear() resolved, ` +
          `${invalidations.covered} read(s) found a value one covered (cache.invalidated), ` +
          `${invalidations.shortRetention} program(s) with a short tagRetentionMs\n`,
      );
    });
  });

if (programFile !== undefined)
  describe('a program given as JSON (--program)', () => {
    it(`keeps the guarantees over ${programFile}, run ${repeat} time(s)`, { timeout: repeat * 10_000 + 60_000 }, async () => {
      const program = programFromJson(readFileSync(programFile!, 'utf8'));
      process.stdout.write(`${describeProgram(program)}\n`);
      await check(program, { strictMixedL1 });
    });
  });

if (runFound)
  describe('the programs that found defects (found.ts; each fails while its defect is there)', () => {
    for (const found of FOUND) {
      it(`${found.name}: ${found.showed}`, { timeout: repeat * 10_000 + 60_000 }, async () => {
        await check(found.program, { strictMixedL1: strictMixedL1 || found.strictMixedL1 === true });
      });
    }
  });
