// The package's root entry: the guard, its types and its errors. Re-exports only.
// Lock primitives: 'cache-stampede/lock'. The BullMQ integration: 'cache-stampede/bullmq'.
// Spans on OpenTelemetry: 'cache-stampede/otel' (the only entry that imports @opentelemetry/api).
export {
  createGuard,
  type CallOptions,
  type DeleteOptions,
  type GuardNamespace,
  type InvalidateOptions,
  type ManyOptions,
  type SetOptions,
  type StampedeGuard,
} from './cache/guard.js';
export type { GuardOptions } from './cache/options.js';
export type { IoRedisClient, NodeRedisClient, SupportedRedisClient } from './redis/client.js';
export type { HeldLock, LockOptions } from './lock/fair-lock.js';
export type { BatchContext, BatchResult, Compute, ComputeContext, ComputeMany, GuardResult, ValueTtl } from './cache/context.js';
export type { StartSpanOptions, TraceAttributes, TraceSpan, Tracing } from './telemetry/tracing.js';
export {
  FAILURE_POLICIES,
  REDIS_DOWN_POLICIES,
  STRATEGIES,
  type FailurePolicy,
  type RedisDownPolicy,
  type Strategy,
  type ValueSource,
} from './cache/strategy.js';
export { EVENTS, type EventName, type Logger } from './logger.js';
export {
  EVENTS_CHANNEL,
  subscribeEvents,
  type EventContext,
  type EventFields,
  type GuardEvent,
  type GuardEventName,
  type WaitOutcomeName,
} from './events.js';
export {
  ComputeError,
  ComputeTimeoutError,
  GuardClosedError,
  InvalidKeyError,
  InvalidValueError,
  LockLostError,
  OptionsError,
  RedisUnavailableError,
  StampedeError,
  UnknownStrategyError,
  WaitTimeoutError,
} from './errors.js';
