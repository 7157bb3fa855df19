import { InvalidArgumentError } from 'commander';
import { parseJobData, type JobParams } from '../../src/bullmq/job-data.js';
import { errorMessage } from '../../src/errors.js';

/** commander argument parser for `--params '{"region":"eu"}'`: JSON, checked as the queue contract checks a job's params. */
export function parseParams(raw: string): JobParams {
  let params: unknown;
  try {
    params = JSON.parse(raw);
  } catch (err) {
    throw new InvalidArgumentError(`expected a JSON object like '{"region":"eu"}': ${errorMessage(err)}`);
  }
  try {
    return parseJobData({ key: 'k', strategy: 'none', params }).params!;
  } catch (err) {
    throw new InvalidArgumentError(errorMessage(err));
  }
}

/** commander argument parser for `--run-id`: what the queue contract allows as a job's runId (1 to 128 characters). */
export function parseRunId(raw: string): string {
  try {
    return parseJobData({ key: 'k', strategy: 'none', runId: raw }).runId!;
  } catch (err) {
    throw new InvalidArgumentError(errorMessage(err));
  }
}

/**
 * commander argument parser for `--tags t1,t2`: comma-separated, each what the queue contract
 * allows as a job's tag (1 to 256 characters, at most 64 of them); `a,,b` names the empty one.
 */
export function parseTags(raw: string): string[] {
  const tags = raw.split(',').map((tag) => tag.trim());
  try {
    return parseJobData({ key: 'k', strategy: 'none', tags }).tags!;
  } catch (err) {
    throw new InvalidArgumentError(errorMessage(err));
  }
}
