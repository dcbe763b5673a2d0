import { type Clock, systemClock } from '@flotilla/core';
import type { AdaptiveConcurrencySnapshot } from './adaptive/adaptive-concurrency.js';
import type { CircuitBreakerSnapshot } from './breaker/circuit-breaker.js';
import type { BulkheadSnapshot } from './bulkhead.js';
import { currentDeadline, deadlineContext } from './deadline.js';
import { EventHub, type EventListener, type PolicyKind } from './events.js';
import type { FallbackSnapshot } from './fallback.js';
import type { HedgeSnapshot } from './hedge.js';
import { compile } from './internal/compile.js';
import { CallContext, SoloContext } from './internal/context.js';
import { type Runner, STAGE, type StageDescriptor, type Staged } from './internal/stage.js';
import type { RateLimiterSnapshot } from './rate-limit/rate-limiter.js';
import type { RetrySnapshot } from './retry.js';
import type { TimeoutSnapshot } from './timeout.js';

/** What the work receives on every attempt. */
export interface ExecutionContext {
  /** Aborted when the attempt's deadline passes, the caller cancels, or a hedge loses. */
  readonly signal: AbortSignal;
  /** 1-based number of this attempt; retries and hedges increment it. */
  readonly attempt: number;
  /** Absolute deadline of this attempt (Unix ms), or undefined when there is none. */
  readonly deadline: number | undefined;
}

/** Per-call options of `execute`. An `ExecutionContext` is accepted too, to nest calls. */
export interface ExecuteOptions {
  /** Cancels the call; `execute` rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
  /** Absolute deadline (Unix ms). The earlier of this and the in-process deadline applies. */
  deadline?: number | undefined;
  /** Whether the work may run more than once (retries, hedges). Default: the policy's setting. */
  idempotent?: boolean | undefined;
  /** Partition key for keyed limiters (client id, route). */
  key?: string | undefined;
}

/** The work a policy runs. */
export type Work<T> = (ctx: ExecutionContext) => PromiseLike<T> | T;

/** Dashboard view of a policy: counters since creation plus current state. */
export type PolicySnapshot =
  | CircuitBreakerSnapshot
  | BulkheadSnapshot
  | AdaptiveConcurrencySnapshot
  | TimeoutSnapshot
  | RetrySnapshot
  | RateLimiterSnapshot
  | FallbackSnapshot
  | HedgeSnapshot
  | PipelineSnapshot;

export interface PipelineSnapshot {
  kind: 'pipeline';
  name: string;
  policies: PolicySnapshot[];
}

/** A resilience policy. Every policy can run work alone or be composed with `wrap`. */
export interface Policy {
  readonly kind: PolicyKind;
  readonly name: string;
  /** Runs `fn` under this policy. */
  execute<T>(fn: Work<T>, options?: ExecuteOptions | ExecutionContext): Promise<T>;
  /** Subscribes to the policy's events; returns the unsubscribe function. */
  onEvent(listener: EventListener): () => void;
  /** Current state and counters, for the dashboard and metrics. */
  snapshot(): PolicySnapshot;
}

/** Options shared by every policy. */
export interface PolicyOptions {
  /** Name used in events, errors, snapshots and the `policy` metric label. */
  name?: string;
  /** Time source; tests pass a `ManualClock`. Default: the system clock. */
  clock?: Clock;
}

/** Base of the built-in policies: events, clock, and `execute` through the shared engine. */
export abstract class BasePolicy implements Policy, Staged {
  abstract readonly kind: PolicyKind;
  readonly name: string;
  readonly clock: Clock;
  protected readonly events = new EventHub();
  private runner: Runner | undefined = undefined;

  constructor(defaultName: string, options: PolicyOptions = {}) {
    this.name = options.name ?? defaultName;
    this.clock = options.clock ?? systemClock;
  }

  execute<T>(fn: Work<T>, options?: ExecuteOptions | ExecutionContext): Promise<T> {
    this.runner ??= compile([this], this.clock);
    return enter(this.runner, fn, options);
  }

  onEvent(listener: EventListener): () => void {
    return this.events.on(listener);
  }

  abstract snapshot(): PolicySnapshot;
  abstract [STAGE](): StageDescriptor;
}

/**
 * The root context of a call that a policy may run on its own fast path, or undefined. Such a
 * call has no options (so no deadline, signal, key or idempotency override) and no in-process
 * deadline: nothing can expire or cancel it, and the engine would only add an async frame and
 * megamorphic calls to what the policy does itself. Each policy's fast path keeps the engine's
 * semantics exactly (`solo.test.ts` compares them over random call sequences).
 */
export function soloContext(
  fn: Work<unknown>,
  options: ExecuteOptions | ExecutionContext | undefined,
): CallContext | undefined {
  return options === undefined && !deadlineContext.enabled
    ? new CallContext(fn, undefined, undefined, undefined, 1, Number.POSITIVE_INFINITY)
    : undefined;
}

/**
 * Like `soloContext`, for a policy whose fast path never hands the call over to the engine (the
 * circuit breaker): the work gets a `SoloContext`, which costs two fields until it is used.
 */
export function soloCall(
  fn: Work<unknown>,
  options: ExecuteOptions | ExecutionContext | undefined,
): SoloContext | undefined {
  return options === undefined && !deadlineContext.enabled ? new SoloContext(fn) : undefined;
}

/** Starts a call through a compiled pipeline: builds the root context from the options. */
export function enter<T>(
  runner: Runner,
  fn: Work<T>,
  options?: ExecuteOptions | ExecutionContext,
): Promise<T> {
  if (options === undefined) {
    const ambient = currentDeadline();
    return runner(
      new CallContext(fn, undefined, undefined, undefined, 1, ambient ?? Number.POSITIVE_INFINITY),
    ) as Promise<T>;
  }
  // A fast-path call's context stands for the `CallContext` the engine would have given it.
  if (options instanceof SoloContext) options = options.context();
  if (options instanceof CallContext) {
    // Nested call: inherit the caller's deadline and cancellation without forcing its signal.
    const ambient = currentDeadline();
    const dl = ambient !== undefined && ambient < options.dl ? ambient : options.dl;
    return runner(new CallContext(fn, options.key, options.idempotent, options, 1, dl)) as Promise<T>;
  }
  const opts = options as ExecuteOptions;
  let dl = opts.deadline ?? Number.POSITIVE_INFINITY;
  const ambient = currentDeadline();
  if (ambient !== undefined && ambient < dl) dl = ambient;
  const root = new CallContext(fn, opts.key, opts.idempotent, undefined, 1, dl);
  const signal = opts.signal;
  if (signal === undefined) return runner(root) as Promise<T>;
  if (signal.aborted) return Promise.reject(signal.reason);
  root.external = signal;
  signal.addEventListener('abort', root);
  return (runner(root) as Promise<T>).finally(() => signal.removeEventListener('abort', root));
}
