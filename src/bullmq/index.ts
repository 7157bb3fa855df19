// 'cache-stampede/bullmq': the get-value job contract and its validation, the processor a worker
// runs, and what a producer needs. Needs bullmq (an optional peer dependency). Re-exports only.
export { CLUSTER_QUEUE_PREFIX, DEFAULT_QUEUE_NAME, JOB_NAME, QUEUE_PREFIX, queuePrefix } from './names.js';
export {
  BATCH_STRATEGY,
  MAX_BATCH_KEYS,
  MAX_COMPUTE_MS,
  MAX_PARAMS_BYTES,
  SIMULATIONS,
  isBatchJob,
  parseJobData,
  rejectSimulation,
  type GetManyData,
  type GetManyResult,
  type GetValueData,
  type GetValueResult,
  type JobData,
  type JobParams,
  type KeyResult,
  type Simulation,
} from './job-data.js';
export { createProcessor, type ProcessorDeps } from './processor.js';
export { DEFAULT_JOB_OPTIONS, createQueue, createQueueEvents } from './queue.js';
export {
  createGetManyClient,
  createGetValueClient,
  type GetManyClient,
  type GetManyOptions,
  type GetOptions,
  type GetValueClient,
  type GetValueClientOptions,
} from './client.js';
export { ClientClosedError, EnqueueError, InvalidJobDataError, JobFailedError, JobTimeoutError } from '../errors.js';
