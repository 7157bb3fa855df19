/**
 * The soak's worker process (run with --expose-gc). Env BENCH_SOAK (JSON): redisUrl, prefix,
 * recomputations, valueBytes, and the guard's TTLs. Two guards on their own connections stand
 * for two processes of a fleet, so the waiting path (pub/sub, notifier) runs as well as the
 * computing one: each round both ask for one new key with the round's strategy, concurrently.
 * Says `ready`; on `go` runs rounds until `recomputations` computations have run, sending a
 * heap sample after a full GC every tenth of the way; never closes the guards while it measures
 * (a worker never does); reports and exits when stdin closes.
 */
import { Redis } from 'ioredis';
import { createGuard } from '../../../src/cache/guard.js';
import { STRATEGIES } from '../../../src/cache/strategy.js';
import { createLogger } from '../../common/logging.js';
import { commands, failChild, say, untilClosed, waitFor } from '../child-protocol.js';

export interface SoakChildConfig {
  redisUrl: string;
  prefix: string;
  recomputations: number;
  valueBytes: number;
  valueTtlMs: number;
  graceMs: number;
  lockTtlMs: number;
}

export type SoakSample = {
  type: 'sample';
  recomputations: number;
  heapMb: number;
  rssMb: number;
};

try {
  const config = JSON.parse(process.env.BENCH_SOAK ?? '') as SoakChildConfig;
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('the soak child needs node --expose-gc');
  const clients = [new Redis(config.redisUrl), new Redis(config.redisUrl)];
  // Warnings and errors, as a production worker logs; info lines would measure pino's buffers.
  const logger = createLogger({ level: 'warn', destination: { write: () => {} } });
  const guards = clients.map((redis) =>
    createGuard({
      redis,
      logger,
      keyPrefix: config.prefix,
      valueTtlMs: config.valueTtlMs,
      graceMs: config.graceMs,
      lockTtlMs: config.lockTtlMs,
    }),
  );
  let computed = 0;
  const compute = async () => {
    computed += 1;
    return 'x'.repeat(config.valueBytes - 8) + String(computed).padStart(8, '0');
  };
  const sample = async (): Promise<SoakSample> => {
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      gc();
    }
    const memory = process.memoryUsage();
    return { type: 'sample', recomputations: computed, heapMb: memory.heapUsed / 1e6, rssMb: memory.rss / 1e6 };
  };

  // Warm up (code compiled, scripts loaded, the subscriber connected) before the first sample.
  for (const strategy of STRATEGIES) await Promise.all(guards.map((g) => g.getOrCompute(`warm-${strategy}`, compute, { strategy })));
  const lines = commands();
  say({ type: 'ready' });
  if (!(await waitFor(lines, 'go'))) process.exit(0);

  computed = 0;
  const started = performance.now();
  say(await sample());
  const step = Math.ceil(config.recomputations / 10);
  let round = 0;
  // Eight rounds in flight at once, each round a new key asked for by both guards.
  const runUntil = async (target: number) => {
    const lane = async () => {
      while (computed < target) {
        const i = round++;
        const strategy = STRATEGIES[i % STRATEGIES.length]!;
        await Promise.all(guards.map((g) => g.getOrCompute(`soak-${i}`, compute, { strategy })));
      }
    };
    await Promise.all(Array.from({ length: 8 }, lane));
  };
  while (computed < config.recomputations) {
    await runUntil(Math.min(config.recomputations, computed + step));
    say(await sample());
  }
  say({ type: 'done', recomputations: computed, rounds: round, elapsedMs: performance.now() - started });
  await untilClosed(lines);
  await Promise.all(guards.map((g) => g.close()));
  await Promise.all(clients.map((c) => c.quit()));
} catch (err) {
  failChild(err);
}
