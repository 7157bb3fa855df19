/**
 * The fault suite, bad input: malformed job data of every kind, odd but valid keys, bad flags
 * and a bad environment given to the real commands. See faults.test.ts for the approach.
 */
import { describe, expect, it } from 'vitest';
import { badInput, SECRET } from '../scripts/faults/bad-input.js';
import { MALFORMED_JOBS, ODD_KEYS } from '../scripts/faults/bad-input-cases.js';
import { failedChecks } from '../scripts/faults/index.js';

describe('faults: bad input', () => {
  it('8. each bad input gets a clear error, nothing crashes, odd keys work, no secret anywhere', async () => {
    const outcome = await badInput();
    const { row, facts } = outcome;
    expect(failedChecks(outcome), JSON.stringify(row)).toEqual([]);
    expect(row).toMatchObject({ jobs: MALFORMED_JOBS.length + 2 * ODD_KEYS.length, failed: MALFORMED_JOBS.length, lost: 0 });

    for (const m of facts.malformed) {
      expect({ name: m.name, state: m.state, attemptsMade: m.attemptsMade }).toEqual({ name: m.name, state: 'failed', attemptsMade: 1 });
      expect(m.reason, m.name).toMatch(MALFORMED_JOBS.find((c) => c.name === m.name)!.reason);
    }
    // Odd keys are keys like any other: exact round trip, one value each, the second read a hit.
    for (const k of facts.oddKeys) {
      expect(k.first?.key, k.name).toBe(k.key);
      expect(k.second?.key, k.name).toBe(k.key);
      expect(k.first?.source, k.name).toBe('computed');
      expect(k.second?.source, k.name).toBe('cache');
      expect(k.second?.value, k.name).toEqual(k.first?.value);
      expect(k.stored, k.name).toBe(true);
    }
    expect(facts.distinctValues).toBe(ODD_KEYS.length);
    expect(row.recomputations).toBe(ODD_KEYS.length);

    for (const c of facts.commands) {
      expect(
        { name: c.name, exitCode: c.exitCode, matched: c.matched, stackTrace: c.stackTrace, leaked: c.leaked, timedOut: c.timedOut },
        c.errorLine,
      ).toEqual({
        name: c.name,
        exitCode: 2,
        matched: true,
        stackTrace: false,
        leaked: false,
        timedOut: false,
      });
      expect(c.errorLine).not.toContain(SECRET);
    }
    expect(facts.leaks).toEqual([]);
    expect(facts.workerExits).toEqual({ 'worker-1': 0 });
    // Under a loaded 2-core CI machine the 21 command processes alone take a minute or more.
  }, 240_000);
});
