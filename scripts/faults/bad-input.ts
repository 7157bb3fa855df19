import { Job, Queue } from 'bullmq';
import { cacheKeys } from '../../src/keys.js';
import type { GetValueResult } from '../../src/bullmq/job-data.js';
import { JOB_NAME, QUEUE_PREFIX } from '../../src/bullmq/names.js';
import { startEmbeddedRedis } from '../redis/redis-server.js';
import { MALFORMED_JOBS, ODD_KEYS } from './bad-input-cases.js';
import { commandCases, runCommandCases, type CommandResult } from './bad-commands.js';
import { startRig, type Rig } from './harness.js';
import { recomputations } from './measure.js';
import { check, type FaultOptions, type FaultOutcome } from './types.js';

/** The recognisable password of this scenario: it must appear in no output and no log line. */
export const SECRET = 's3cret-pw-XYZ';

export interface MalformedResult {
  name: string;
  state: string;
  attemptsMade: number;
  reason: string;
  matched: boolean;
}

export interface OddKeyResult {
  name: string;
  key: string;
  first: GetValueResult | null;
  second: GetValueResult | null;
  /** The value hash exists where keys.ts says it should. */
  stored: boolean;
}

export interface BadInputFacts {
  malformed: MalformedResult[];
  oddKeys: OddKeyResult[];
  commands: CommandResult[];
  /** Distinct values among the odd keys (one per key when no two keys share a value). */
  distinctValues: number;
  workerExits: Record<string, number | string>;
  /** Where the secret was found: fleet output, a worker log line, the scenario's own notes. */
  leaks: string[];
}

const WAIT_MS = 60_000;

/**
 * Fault 8: bad input. Malformed get-value jobs of every kind sent through plain BullMQ, odd but
 * valid keys that must round-trip, bad flags and a bad environment given to the real commands.
 * The scenario's Redis wants a password, so the happy path carries a secret too.
 * Must hold: each bad input gets a clear error, nothing crashes, no secret in any output or log.
 */
export async function badInput(options: FaultOptions = {}): Promise<FaultOutcome<BadInputFacts>> {
  const say = options.say ?? (() => {});
  const open = await startEmbeddedRedis({ ...(options.say && { log: options.say }) });
  let rig: Rig | undefined;
  try {
    rig = await startRig(
      'bad-input',
      { workers: 1, concurrency: 20, computeMs: 10, lockTtlMs: 2000, lockDurationMs: 2000, stalledIntervalMs: 1000, password: SECRET },
      options,
    );
    const cases = await commandCases({ securedPort: rig.redis.port, openPort: open.port, password: SECRET });
    say(`bad-input: ${MALFORMED_JOBS.length} malformed jobs, ${ODD_KEYS.length} odd keys, ${cases.length} bad commands`);
    // The commands run in their own processes while the worker handles the jobs.
    const [jobs, commands] = await Promise.all([sendJobs(rig), runCommandCases(cases, SECRET)]);
    await rig.stopFleet();

    const records = rig.tail.records;
    const leaks: string[] = [];
    if (rig.output().includes(SECRET)) leaks.push('fleet output');
    for (const r of records) if (JSON.stringify(r).includes(SECRET)) leaks.push(`log line ${String(r.event ?? r.msg)}`);
    const workerExits = Object.fromEntries(rig.exits());
    const distinctValues = new Set(jobs.oddKeys.map((k) => JSON.stringify(k.first?.value ?? null))).size;
    const facts: BadInputFacts = { ...jobs, commands, distinctValues, workerExits, leaks };

    const badJobs = jobs.malformed.filter((m) => !m.matched || m.state !== 'failed' || m.attemptsMade !== 1);
    const badKeys = jobs.oddKeys.filter(
      (k) =>
        !k.first ||
        !k.second ||
        k.first.key !== k.key ||
        k.second.key !== k.key ||
        k.second.source !== 'cache' ||
        JSON.stringify(k.first.value) !== JSON.stringify(k.second.value) ||
        !k.stored,
    );
    const badCommands = commands.filter((c) => !c.matched || c.exitCode !== 2 || c.stackTrace || c.timedOut);
    const notes = [
      `${jobs.malformed.length - badJobs.length}/${jobs.malformed.length} malformed jobs failed at once with a reason; ` +
        `${jobs.oddKeys.length - badKeys.length}/${jobs.oddKeys.length} odd keys round-tripped (${distinctValues} distinct values); ` +
        `${commands.length - badCommands.length}/${commands.length} bad flags/env: one error line, exit 2; secret leaks: ${leaks.length}`,
    ];
    if (JSON.stringify(notes).includes(SECRET)) leaks.push('scenario notes');
    const total = jobs.malformed.length + 2 * jobs.oddKeys.length;
    const completed = jobs.oddKeys.reduce((n, k) => n + (k.first ? 1 : 0) + (k.second ? 1 : 0), 0);
    const failed = jobs.malformed.filter((m) => m.state === 'failed').length;
    return {
      row: {
        fault: '8 bad-input',
        jobs: total,
        completed,
        failed,
        lost: total - completed - failed,
        recomputations: recomputations(records, [rig.runId('odd')]),
        staleOverwrites: 0,
        recoveryMs: null,
        notes,
      },
      checks: [
        check('every malformed job failed once, at once, with a reason naming the problem', badJobs.length === 0, badJobs),
        check(
          'no failure reason repeats a huge value',
          jobs.malformed.every((m) => m.reason.length < 300),
          jobs.malformed.map((m) => m.reason.length),
        ),
        check(
          'every odd key completed, round-tripped exactly and was served from the cache the second time',
          badKeys.length === 0,
          badKeys.map((k) => k.name),
        ),
        check('no two odd keys shared a value', distinctValues === jobs.oddKeys.length, distinctValues),
        check('every bad flag or environment: one clear error line, exit 2, no stack, no hang', badCommands.length === 0, badCommands),
        check('no secret in any output or log line', leaks.length === 0 && commands.every((c) => !c.leaked), {
          leaks,
          commands: commands.filter((c) => c.leaked).map((c) => c.name),
        }),
        check(
          'the worker never crashed and stopped cleanly',
          Object.values(workerExits).every((code) => code === 0) && Object.keys(workerExits).length === 1,
          workerExits,
        ),
      ],
      facts,
    };
  } finally {
    await rig?.close();
    await open.stop();
  }
}

async function sendJobs(rig: Rig): Promise<Pick<BadInputFacts, 'malformed' | 'oddKeys'>> {
  // The plain BullMQ API, as a producer in another codebase would use it.
  const queue = new Queue(rig.queueName, { connection: rig.queue.opts.connection, prefix: QUEUE_PREFIX });
  // Every job waited for at once adds its listeners: dozens are expected, not a leak.
  queue.setMaxListeners(0);
  rig.events.setMaxListeners(0);
  try {
    const malformedJobs = await Promise.all(MALFORMED_JOBS.map((m) => queue.add(JOB_NAME, m.data(), { attempts: 3 })));
    const malformed = await Promise.all(
      MALFORMED_JOBS.map(async (m, i): Promise<MalformedResult> => {
        const job = malformedJobs[i]!;
        await job.waitUntilFinished(rig.events, WAIT_MS).catch(() => {});
        const after = await Job.fromId(queue, job.id!);
        const reason = after?.failedReason ?? '';
        return {
          name: m.name,
          state: (await after?.getState()) ?? 'missing',
          attemptsMade: after?.attemptsMade ?? 0,
          reason,
          matched: /^invalid job data: /.test(reason) && m.reason.test(reason),
        };
      }),
    );

    const runId = rig.runId('odd');
    const round = async () => {
      const jobs = await Promise.all(ODD_KEYS.map(({ key }) => queue.add(JOB_NAME, { key, strategy: 'redis-lock', computeMs: 10, runId })));
      return Promise.all(
        jobs.map((job) =>
          job.waitUntilFinished(rig.events, WAIT_MS).then(
            (r) => r as GetValueResult,
            () => null,
          ),
        ),
      );
    };
    const first = await round();
    const second = await round();
    const oddKeys = await Promise.all(
      ODD_KEYS.map(
        async ({ name, key }, i): Promise<OddKeyResult> => ({
          name,
          key,
          first: first[i] ?? null,
          second: second[i] ?? null,
          stored: (await rig.admin.exists(cacheKeys(rig.keyPrefix, key).value)) === 1,
        }),
      ),
    );
    return { malformed, oddKeys };
  } finally {
    await queue.close();
  }
}
