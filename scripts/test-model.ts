/**
 * `npm run test:model -- [--runs N] [--seed S] [--path P] ...`: the model-based checker
 * (test/model/guard-model.test.ts) with more programs than `npm test` runs, or the replay of a
 * failure from the seed and path it printed. Flags become MODEL_* environment variables; vitest
 * runs that one file; the exit code is vitest's.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { existsSync, readFileSync } from 'node:fs';
import { FEATURES, parseExclusions, programFromJson } from '../test/model/operations.js';

const TEST_FILE = 'test/model/guard-model.test.ts';

const HELP = `usage: npm run test:model -- [options]

Random programs of overlapping getOrCompute/set/delete/lock/close calls and Redis faults (pub/sub
kills, pauses, outages that open the guards' breakers) on three guards, each run checked against
the guard's guarantees (docs/development.md, "The model-based checker"). A failure prints its
seed, its path and the shrunk program.

  --runs N          programs to run (default 40, as in npm test)
  --seed S          fast-check seed (an integer; default random)
  --path P          with --seed: replay the counterexample at this path (as printed, e.g. 41:3:0:2)
  --repeat N        run each program N times (a replay: timings differ from run to run; default 1)
  --shrink          a replay that fails shrinks on from there
  --program FILE    run the program in FILE (JSON, as a failure prints it), --repeat times
  --found           run the programs that found defects (test/model/found.ts), each 5 times
  --exclude LIST    leave features out of the programs, comma-separated:
                    ${FEATURES.join(', ')}
  --time-limit MS   stop starting programs (and shrinking) after MS (default 1.5 s a program + 45 s)
  --strict-mixed-l1 hold guards without an L1 tier to the L1 bus bound too
  --client NAME     the guards' Redis client library: ioredis, iovalkey or node-redis
                    (default: each of them in turn, as npm test runs the checker)
  --debug           add the guards' events (and where leaked timers were set) to a failure's report
  --help            this text`;

function fail(message: string): never {
  process.stderr.write(`test:model: ${message} (see --help)\n`);
  process.exit(2);
}

function integer(flag: string, raw: string | undefined, min: number): string | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isSafeInteger(value) || value < min)
    fail(`--${flag} must be an integer of at least ${min}, got "${raw}"`);
  return String(value);
}

/** `--seed -123` as `--seed=-123`: parseArgs takes a value starting with '-' for a flag. */
function joinNegativeValues(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const next = args[i + 1];
    if (args[i]!.startsWith('--') && !args[i]!.includes('=') && next !== undefined && /^-\d+$/.test(next)) {
      out.push(`${args[i]}=${next}`);
      i++;
    } else out.push(args[i]!);
  }
  return out;
}

let parsed: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    args: joinNegativeValues(process.argv.slice(2)),
    options: {
      runs: { type: 'string' },
      seed: { type: 'string' },
      path: { type: 'string' },
      repeat: { type: 'string' },
      shrink: { type: 'boolean' },
      program: { type: 'string' },
      found: { type: 'boolean' },
      exclude: { type: 'string' },
      'time-limit': { type: 'string' },
      'strict-mixed-l1': { type: 'boolean' },
      debug: { type: 'boolean' },
      client: { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
    allowPositionals: false,
  });
}
try {
  parsed = parse();
} catch (err) {
  fail((err as Error).message.split('\n')[0]!);
}
const { values } = parsed;
if (values.help) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}

const settings: Record<string, string | undefined> = {
  MODEL_RUNS: integer('runs', values.runs, 1),
  MODEL_SEED: integer('seed', values.seed, -(2 ** 31)),
  MODEL_REPEAT: integer('repeat', values.repeat, 1),
  MODEL_TIME_LIMIT_MS: integer('time-limit', values['time-limit'], 1000),
};
if (settings.MODEL_SEED !== undefined && Number(settings.MODEL_SEED) >= 2 ** 31)
  fail(`--seed must be a 32-bit integer, got "${values.seed}"`);
if (values.path !== undefined) {
  if (!/^\d+(:\d+)*$/.test(values.path)) fail(`--path must be numbers separated by colons (e.g. 41:3:0:2), got "${values.path}"`);
  if (settings.MODEL_SEED === undefined) fail('--path replays a counterexample of one seed: give --seed too');
  settings.MODEL_PATH = values.path;
}
if (values.exclude !== undefined) {
  try {
    parseExclusions(values.exclude);
  } catch (err) {
    fail(`--exclude: ${(err as Error).message}`);
  }
  settings.MODEL_EXCLUDE = values.exclude;
}
if (values.program !== undefined) {
  // Relative to where `npm run` was called from (npm runs scripts from the project's root).
  const file = path.resolve(process.env.INIT_CWD ?? process.cwd(), values.program);
  if (!existsSync(file)) fail(`--program: no file ${file}`);
  try {
    programFromJson(readFileSync(file, 'utf8'));
  } catch (err) {
    fail(`--program: ${file}: ${(err as Error).message}`);
  }
  settings.MODEL_PROGRAM = file;
}
if (values.found) settings.MODEL_FOUND = '1';
if ([values.path !== undefined, values.program !== undefined, values.found === true].filter(Boolean).length > 1)
  fail('--path, --program and --found each choose what runs: give one');
if (values.shrink) settings.MODEL_SHRINK = '1';
if (values['strict-mixed-l1']) settings.MODEL_STRICT_MIXED_L1 = '1';
if (values.debug) settings.MODEL_DEBUG = '1';
const CLIENTS = ['ioredis', 'iovalkey', 'node-redis'];
if (values.client !== undefined && !CLIENTS.includes(values.client))
  fail(`--client must be one of ${CLIENTS.join(', ')}, got "${values.client}"`);

// vitest's own command line (its package exports no path to it: found through its package.json).
const vitestPackage = createRequire(import.meta.url).resolve('vitest/package.json');
const vitest = path.join(path.dirname(vitestPackage), 'vitest.mjs');
// vitest.config.ts runs this file once per client library (a project each); --client picks one.
const project = values.client === undefined ? [] : ['--project', values.client];
const child = spawn(process.execPath, [vitest, 'run', TEST_FILE, ...project], {
  stdio: 'inherit',
  env: { ...process.env, ...Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)) },
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
