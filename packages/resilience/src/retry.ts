import { type BackoffOptions, ExponentialBackoff } from './backoff.js';
import { isRetryable } from './classify.js';
import { Segment } from './internal/segment.js';
import { type RetryStage, STAGE, type StageDescriptor } from './internal/stage.js';
import { checkFunction, checkInt } from './internal/validate.js';
import {
  BasePolicy,
  type ExecuteOptions,
  type ExecutionContext,
  enter,
  type PolicyOptions,
  soloContext,
  type Work,
} from './policy.js';
import { RetryBudget, type RetryBudgetOptions, type RetryBudgetSnapshot } from './retry-budget.js';

export interface RetryOptions extends PolicyOptions {
  /** Attempts in total, the first included. Default 3 (resilience4j). */
  maxAttempts?: number;
  backoff?: BackoffOptions;
  /** Whether an error may be retried. Default `isRetryable`. */
  retryOn?: (error: unknown, attempt: number) => boolean;
  /** Whether calls are idempotent unless `execute` says otherwise. Default true. */
  idempotent?: boolean;
  /** Budget shared with other policies, options for an own budget, or false for none. Default: own budget. */
  budget?: RetryBudget | RetryBudgetOptions | false;
  /** Random source for jitter (tests). */
  random?: () => number;
}

/**
 * What {@link Retry.decide} reads of a call: whether it is idempotent (undefined: the policy's
 * default) and its deadline (Unix ms; `Infinity` for none).
 */
export interface RetryCall {
  readonly idempotent: boolean | undefined;
  readonly dl: number;
}

/** Why a failed call was not retried. */
export type GiveUpReason = 'attempts' | 'deadline' | 'budget' | 'not-retryable' | 'not-idempotent';

export interface RetrySnapshot {
  kind: 'retry';
  name: string;
  maxAttempts: number;
  calls: number;
  retries: number;
  /** Failed calls not retried, by reason. */
  gaveUp: Record<GiveUpReason, number>;
  budget: RetryBudgetSnapshot | undefined;
}

function numberField(error: unknown, key: string): number | undefined {
  const v = typeof error === 'object' && error !== null ? (error as Record<string, unknown>)[key] : undefined;
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined;
}

/**
 * Retry with exponential backoff and full jitter. A failed attempt is retried only when the
 * error is retryable, the call is idempotent, attempts remain, the next attempt can start before
 * the deadline, and the retry budget has room. A `retryAfterMs` on the error (rate limits) is a
 * lower bound for the delay.
 */
export class Retry extends BasePolicy implements RetryStage {
  readonly kind = 'retry' as const;
  readonly maxAttempts: number;
  readonly budget: RetryBudget | undefined;
  private readonly backoff: ExponentialBackoff;
  private readonly retryOn: (error: unknown, attempt: number) => boolean;
  private readonly idempotent: boolean;
  private calls = 0;
  private retries = 0;
  private segment: Segment | undefined = undefined;
  private readonly gaveUp: Record<GiveUpReason, number> = {
    attempts: 0,
    deadline: 0,
    budget: 0,
    'not-retryable': 0,
    'not-idempotent': 0,
  };

  constructor(options: RetryOptions = {}) {
    super('retry', options);
    this.maxAttempts = checkInt('Retry', 'maxAttempts', options.maxAttempts ?? 3, 1);
    if (options.retryOn !== undefined) checkFunction('Retry', 'retryOn', options.retryOn);
    this.retryOn = options.retryOn ?? isRetryable;
    this.idempotent = options.idempotent ?? true;
    this.backoff = new ExponentialBackoff(options.backoff, options.random);
    const b = options.budget;
    this.budget =
      b === false ? undefined : b instanceof RetryBudget ? b : new RetryBudget({ clock: this.clock, ...b });
  }

  override execute<T>(fn: Work<T>, options?: ExecuteOptions | ExecutionContext): Promise<T> {
    // This policy alone compiles to exactly this segment (see `compile`).
    this.segment ??= new Segment(this, [], undefined, undefined, this.clock);
    const seg = this.segment;
    const ctx = soloContext(fn, options);
    if (ctx === undefined) return enter(seg.run, fn, options);
    // Without deadline or cancellation the first attempt is just the work; only a failure needs
    // the engine's retry loop, which takes over from attempt 1 exactly as its fast path would.
    const clock = this.clock;
    this.onCall(clock.now());
    let result: PromiseLike<T> | T;
    try {
      result = fn(ctx);
    } catch (error) {
      return seg.retryAfter(ctx, 1, error, clock.now()) as Promise<T>;
    }
    return Promise.resolve(result).then(
      undefined,
      (error: unknown) => seg.retryAfter(ctx, 1, error, clock.now()) as Promise<T>,
    );
  }

  /**
   * Counts a call (not a retry) for the snapshot and the retry budget. For callers that run
   * their own attempts and ask {@link decide} after each failure (the gateway's fast path);
   * `execute` does both itself.
   */
  onCall(now: number): void {
    this.calls++;
    this.budget?.recordCall(now);
  }

  /**
   * After attempt number `attempt` (1-based) of `call` failed with `error` at `now`: the delay in
   * ms before the next attempt, or -1 to give up (counted by reason, with a `gave-up` event). A
   * retry it allows is taken from the budget and counted.
   */
  decide(call: RetryCall, attempt: number, error: unknown, now: number): number {
    if (attempt >= this.maxAttempts) return this.giveUp('attempts', attempt, error, now);
    if (!(call.idempotent ?? this.idempotent)) return this.giveUp('not-idempotent', attempt, error, now);
    if (!this.retryOn(error, attempt)) return this.giveUp('not-retryable', attempt, error, now);
    let delay = this.backoff.delay(attempt);
    const after = numberField(error, 'retryAfterMs');
    if (after !== undefined && after > delay) delay = after;
    if (now + delay >= call.dl) return this.giveUp('deadline', attempt, error, now);
    if (this.budget !== undefined && !this.budget.tryWithdraw(now))
      return this.giveUp('budget', attempt, error, now);
    this.retries++;
    if (this.events.active) {
      this.events.emit({
        type: 'retried',
        policy: this.name,
        kind: 'retry',
        at: now,
        attempt,
        delayMs: delay,
        error,
      });
    }
    return delay;
  }

  snapshot(): RetrySnapshot {
    return {
      kind: 'retry',
      name: this.name,
      maxAttempts: this.maxAttempts,
      calls: this.calls,
      retries: this.retries,
      gaveUp: { ...this.gaveUp },
      budget: this.budget?.snapshot(this.clock.now()),
    };
  }

  [STAGE](): StageDescriptor {
    return { type: 'retry', retry: this, clock: this.clock };
  }

  private giveUp(reason: GiveUpReason, attempt: number, error: unknown, now: number): number {
    this.gaveUp[reason]++;
    if (this.events.active) {
      this.events.emit({
        type: 'gave-up',
        policy: this.name,
        kind: 'retry',
        at: now,
        attempt,
        reason,
        error,
      });
    }
    return -1;
  }
}

/** A retry policy (default: 3 attempts, 100 ms..10 s full-jitter backoff, 20% retry budget). */
export function retry(options?: RetryOptions): Retry {
  return new Retry(options);
}
