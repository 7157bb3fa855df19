/** The queue contract: any BullMQ client, in any language, can enqueue these jobs. */
export const DEFAULT_QUEUE_NAME = 'cache-stampede';
/** BullMQ's own default prefix, kept so other BullMQ clients find the queue without options. */
export const QUEUE_PREFIX = 'bull';
export const JOB_NAME = 'get-value';
