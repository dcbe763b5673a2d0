import { isConnectionError, isRejection, isTimeoutError, statusOf } from '../classify.js';
import { ConcurrencyLimitedError, DeadlineExceededError } from '../errors.js';
import type { CallContext } from '../internal/context.js';
import {
  ABANDONED,
  FAILURE,
  type Gate,
  type Outcome,
  STAGE,
  type StageDescriptor,
  WAIT,
} from '../internal/stage.js';
import { checkFunction, checkInt, checkMin, invalid } from '../internal/validate.js';
import { WaitQueue } from '../internal/wait-queue.js';
import { BasePolicy, type PolicyOptions } from '../policy.js';
import { AimdLimit, type AimdLimitOptions } from './aimd-limit.js';
import { GradientLimit, type GradientLimitOptions } from './gradient-limit.js';
import type { ConcurrencyLimit } from './limit.js';

export interface AdaptiveConcurrencyOptions extends PolicyOptions {
  /** Algorithm: `gradient` (default), `aimd`, or your own `ConcurrencyLimit`. */
  limit?: 'gradient' | 'aimd' | ConcurrencyLimit;
  gradient?: GradientLimitOptions;
  aimd?: AimdLimitOptions;
  /** Shortest sampling window. Default 1 000 ms. */
  windowMs?: number;
  /** Fewest samples per window. Default 10. */
  minSamples?: number;
  /** Errors that mean "overloaded" (drops). Default: timeouts, connection errors, 429 and 503. */
  isDrop?: (error: unknown) => boolean;
  /**
   * Calls allowed to wait in FIFO order for a slot when the limit is reached (Netflix's blocking
   * limiter); beyond this they are rejected at once. Default 0: shed at the limit.
   */
  maxQueuedCalls?: number;
  /** Longest a queued call waits for a slot (also bounded by its deadline). Default: no bound. */
  maxWaitMs?: number;
}

export interface AdaptiveConcurrencySnapshot {
  kind: 'adaptive-concurrency';
  name: string;
  limit: number;
  inflight: number;
  maxQueuedCalls: number;
  queuedCalls: number;
  /** Cumulative counters. */
  admittedCalls: number;
  rejectedCalls: number;
}

function defaultIsDrop(error: unknown): boolean {
  if (isTimeoutError(error) || isConnectionError(error)) return true;
  const status = statusOf(error);
  return status === 429 || status === 503;
}

/**
 * Adaptive concurrency limit (Netflix concurrency-limits): the self-tuning alternative to a
 * fixed bulkhead. Calls beyond the current limit are shed with `ConcurrencyLimitedError`; the
 * limit is re-estimated once per sampling window from the average RTT, the peak in-flight count
 * and whether anything was dropped.
 */
export class AdaptiveConcurrency extends BasePolicy implements Gate {
  readonly kind = 'adaptive-concurrency' as const;
  readonly durationThreshold = 0;
  readonly needsClock = false;
  readonly synchronous: boolean;
  readonly maxQueuedCalls: number;
  readonly maxWaitMs: number;
  /** Waiting calls; only when a queue is configured. */
  private readonly queue: WaitQueue | undefined;
  private readonly algorithm: ConcurrencyLimit;
  private readonly windowMs: number;
  private readonly minSamples: number;
  private readonly isDrop: (error: unknown) => boolean;
  private current: number;
  private inflight = 0;
  private windowStart = Number.NaN;
  private rttSum = 0;
  private count = 0;
  private peak = 0;
  private dropped = false;
  private admittedCalls = 0;
  private rejectedCalls = 0;

  constructor(options: AdaptiveConcurrencyOptions = {}) {
    super('adaptive-concurrency', options);
    const l = options.limit ?? 'gradient';
    if (l === 'gradient') this.algorithm = new GradientLimit(options.gradient);
    else if (l === 'aimd') this.algorithm = new AimdLimit(options.aimd);
    else if (typeof l === 'object' && l !== null && typeof l.update === 'function') this.algorithm = l;
    else invalid('AdaptiveConcurrency', 'limit', '"gradient", "aimd" or a ConcurrencyLimit', l);
    this.windowMs = checkMin('AdaptiveConcurrency', 'windowMs', options.windowMs ?? 1000, 0);
    this.minSamples = checkInt('AdaptiveConcurrency', 'minSamples', options.minSamples ?? 10, 1);
    if (options.isDrop !== undefined) checkFunction('AdaptiveConcurrency', 'isDrop', options.isDrop);
    this.isDrop = options.isDrop ?? defaultIsDrop;
    this.current = Math.floor(this.algorithm.limit);
    this.maxQueuedCalls = checkInt('AdaptiveConcurrency', 'maxQueuedCalls', options.maxQueuedCalls ?? 0, 0);
    this.maxWaitMs = checkMin(
      'AdaptiveConcurrency',
      'maxWaitMs',
      options.maxWaitMs ?? Number.POSITIVE_INFINITY,
      0,
      true,
    );
    this.synchronous = this.maxQueuedCalls === 0 || this.maxWaitMs === 0;
    this.queue = this.synchronous
      ? undefined
      : new WaitQueue(this.clock, this.maxWaitMs, (byDeadline, ctx) =>
          byDeadline
            ? new DeadlineExceededError(`deadline passed while queued in concurrency limit "${this.name}"`, {
                retryable: false,
                data: { deadline: ctx.dl },
              })
            : this.rejection(
                'queue-timeout',
                `Concurrency limit "${this.name}" had no free slot within ${this.maxWaitMs} ms`,
              ),
        );
  }

  /** Calls admitted at once right now. */
  get limit(): number {
    return this.current;
  }

  /** Calls waiting for a slot now. */
  get queuedCalls(): number {
    return this.queue === undefined ? 0 : this.queue.length;
  }

  tryAdmit(_ctx: CallContext, _now: number): number {
    const queue = this.queue;
    if (this.inflight < this.current && (queue === undefined || queue.length === 0)) {
      this.admittedCalls++;
      if (++this.inflight > this.peak) this.peak = this.inflight;
      return 1;
    }
    if (queue !== undefined && queue.length < this.maxQueuedCalls) return WAIT;
    throw this.rejection(
      'limit',
      queue === undefined
        ? `Concurrency limit "${this.name}" reached (${this.current} in flight)`
        : `Concurrency limit "${this.name}" reached (${this.current} in flight, ${queue.length} queued)`,
    );
  }

  admitAsync(ctx: CallContext, now: number): Promise<number> {
    if (this.queue === undefined) return Promise.reject(new Error('AdaptiveConcurrency has no queue'));
    return this.queue.wait(ctx, now);
  }

  release(_token: number, start: number, end: number, outcome: Outcome, error: unknown): void {
    this.inflight--;
    if (outcome !== ABANDONED && !(outcome === FAILURE && isRejection(error)))
      this.sample(start, end, outcome, error);
    // Hand freed slots to the oldest waiters, but only while under the (possibly just lowered)
    // limit: a shrinking limit drains the excess in flight before anyone else is admitted.
    const queue = this.queue;
    if (queue === undefined) return;
    while (queue.length > 0 && this.inflight < this.current) {
      this.inflight++;
      if (!queue.admit(1)) {
        this.inflight--;
        break;
      }
      this.admittedCalls++;
      if (this.inflight > this.peak) this.peak = this.inflight;
    }
  }

  private sample(start: number, end: number, outcome: Outcome, error: unknown): void {
    if (Number.isNaN(this.windowStart)) this.windowStart = start;
    this.rttSum += end - start;
    this.count++;
    if (outcome === FAILURE && this.isDrop(error)) this.dropped = true;
    if (this.count >= this.minSamples && end - this.windowStart >= this.windowMs) {
      const next = Math.floor(
        this.algorithm.update({
          rttMs: this.rttSum / this.count,
          inflight: this.peak,
          dropped: this.dropped,
        }),
      );
      this.windowStart = end;
      this.rttSum = 0;
      this.count = 0;
      this.peak = this.inflight;
      this.dropped = false;
      if (next !== this.current) {
        const from = this.current;
        this.current = next;
        if (this.events.active) {
          this.events.emit({
            type: 'limit-changed',
            policy: this.name,
            kind: 'adaptive-concurrency',
            at: end,
            from,
            to: next,
          });
        }
      }
    }
  }

  snapshot(): AdaptiveConcurrencySnapshot {
    return {
      kind: 'adaptive-concurrency',
      name: this.name,
      limit: this.current,
      inflight: this.inflight,
      maxQueuedCalls: this.maxQueuedCalls,
      queuedCalls: this.queuedCalls,
      admittedCalls: this.admittedCalls,
      rejectedCalls: this.rejectedCalls,
    };
  }

  private rejection(reason: 'limit' | 'queue-timeout', message: string): ConcurrencyLimitedError {
    this.rejectedCalls++;
    const error = new ConcurrencyLimitedError(message, {
      data: { policy: this.name, limit: this.current, queued: this.queuedCalls },
    });
    if (this.events.active) {
      this.events.emit({
        type: 'rejected',
        policy: this.name,
        kind: 'adaptive-concurrency',
        at: this.clock.now(),
        reason,
        error,
      });
    }
    return error;
  }

  [STAGE](): StageDescriptor {
    return { type: 'gate', gate: this, clock: this.clock };
  }
}

/** An adaptive concurrency limit (default: gradient algorithm, limit 20..200). */
export function adaptiveConcurrency(options?: AdaptiveConcurrencyOptions): AdaptiveConcurrency {
  return new AdaptiveConcurrency(options);
}
