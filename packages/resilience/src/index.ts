export {
  AdaptiveConcurrency,
  type AdaptiveConcurrencyOptions,
  type AdaptiveConcurrencySnapshot,
  adaptiveConcurrency,
} from './adaptive/adaptive-concurrency.js';
export { AimdLimit, type AimdLimitOptions } from './adaptive/aimd-limit.js';
export { GradientLimit, type GradientLimitOptions } from './adaptive/gradient-limit.js';
export type { ConcurrencyLimit, LimitSample } from './adaptive/limit.js';
export { type BackoffOptions, ExponentialBackoff } from './backoff.js';
export {
  CIRCUIT_BREAKER_DEFAULTS,
  CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitBreakerSnapshot,
  circuitBreaker,
} from './breaker/circuit-breaker.js';
export { CountWindow } from './breaker/count-window.js';
export type { SlidingWindow } from './breaker/sliding-window.js';
export { TimeWindow } from './breaker/time-window.js';
export { Bulkhead, type BulkheadOptions, type BulkheadSnapshot, bulkhead } from './bulkhead.js';
export {
  isAbortError,
  isConnectionError,
  isFailure,
  isIdempotentMethod,
  isRejection,
  isRetryable,
  isTimeoutError,
  statusOf,
} from './classify.js';
export {
  currentDeadline,
  DEADLINE_HEADER,
  type DeadlineFromHeadersOptions,
  deadlineFromHeaders,
  deadlineHeaders,
  enableDeadlineContext,
  formatDeadline,
  type HeaderSource,
  parseDeadline,
  remainingMs,
  setDeadlineHeader,
  throwIfDeadlineExceeded,
  withDeadline,
  withTimeout,
} from './deadline.js';
export { parseDuration } from './duration.js';
export {
  BrokenCircuitError,
  BulkheadRejectedError,
  CancelledError,
  ConcurrencyLimitedError,
  DeadlineExceededError,
  isBrokenCircuitError,
  isBulkheadRejectedError,
  isDeadlineExceededError,
  isRateLimitedError,
  RateLimitedError,
  timedOut,
} from './errors.js';
export type {
  CircuitState,
  EventListener,
  FallbackEvent,
  HedgedEvent,
  LimitChangedEvent,
  PolicyKind,
  RejectedEvent,
  ResilienceEvent,
  RetriedEvent,
  RetryGaveUpEvent,
  StateChangeEvent,
  TimedOutEvent,
} from './events.js';
export {
  Fallback,
  type FallbackHandler,
  type FallbackOptions,
  type FallbackSnapshot,
  fallback,
} from './fallback.js';
export {
  Hedge,
  type HedgeOptions,
  type HedgeSnapshot,
  hedge,
  type LatencyDelayOptions,
} from './hedge.js';
export { type MetricLabels, ResilienceMetrics, type ResilienceMetricsOptions } from './metrics.js';
export {
  BasePolicy,
  type ExecuteOptions,
  type ExecutionContext,
  type PipelineSnapshot,
  type Policy,
  type PolicyOptions,
  type PolicySnapshot,
  type Work,
} from './policy.js';
export { BUILT_IN_PREDICATES, type ErrorPredicate } from './predicates.js';
export type { RateLimitDecision, RateLimiterSnapshot, RateLimitOptions } from './rate-limit/rate-limiter.js';
export {
  GCRA_SCRIPT,
  RedisRateLimiter,
  type RedisRateLimiterOptions,
  redisRateLimiter,
} from './rate-limit/redis-limiter.js';
export { TokenBucketLimiter, type TokenBucketOptions, tokenBucket } from './rate-limit/token-bucket.js';
export {
  type GiveUpReason,
  Retry,
  type RetryCall,
  type RetryOptions,
  type RetrySnapshot,
  retry,
} from './retry.js';
export { RetryBudget, type RetryBudgetOptions, type RetryBudgetSnapshot } from './retry-budget.js';
export {
  type AdaptiveConcurrencySpec,
  type BulkheadSpec,
  type CircuitBreakerSpec,
  type FallbackSpec,
  fromSpec,
  type HedgeSpec,
  type LatencyDelaySpec,
  type PredicateRef,
  parseResiliencySpec,
  type RateLimitSpec,
  Resiliency,
  type ResiliencyOptions,
  type ResiliencySpec,
  type RetryBudgetSpec,
  type RetrySpec,
  type TargetSpec,
} from './spec.js';
export { type TimeoutOptions, TimeoutPolicy, type TimeoutSnapshot, timeout } from './timeout.js';
export { Pipeline, wrap } from './wrap.js';
