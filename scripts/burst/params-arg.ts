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
