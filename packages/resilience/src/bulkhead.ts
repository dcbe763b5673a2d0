import { BulkheadRejectedError, DeadlineExceededError } from './errors.js';
import type { CallContext } from './internal/context.js';
import { type Gate, STAGE, type StageDescriptor, WAIT } from './internal/stage.js';
import { checkInt, checkMin } from './internal/validate.js';
import { WaitQueue } from './internal/wait-queue.js';
import {
  BasePolicy,
  type ExecuteOptions,
  type ExecutionContext,
  type PolicyOptions,
  soloContext,
  type Work,
} from './policy.js';

export interface BulkheadOptions extends PolicyOptions {
  /** Calls allowed to run at once. Default 25 (resilience4j). */
  maxConcurrentCalls?: number;
  /** Calls allowed to wait for a slot; beyond this they are rejected at once. Default 0. */
  maxQueuedCalls?: number;
  /** Longest a queued call waits for a slot (also bounded by its deadline). Default: no bound. */
  maxWaitMs?: number;
}

export interface BulkheadSnapshot {
  kind: 'bulkhead';
  name: string;
  maxConcurrentCalls: number;
  maxQueuedCalls: number;
  activeCalls: number;
  queuedCalls: number;
  /** Cumulative counters. */
  admittedCalls: number;
  rejectedCalls: number;
}

/**
 * Bulkhead: at most `maxConcurrentCalls` run at once; up to `maxQueuedCalls` more wait in FIFO
 * order for at most `maxWaitMs` (and never past their deadline). Everything beyond is refused
 * with `BulkheadRejectedError`. A freed slot is handed directly to the oldest waiter, so a new
 * call cannot overtake the queue.
 */
export class Bulkhead extends BasePolicy implements Gate {
  readonly kind = 'bulkhead' as const;
  readonly durationThreshold = Number.POSITIVE_INFINITY;
  readonly needsClock = false;
  readonly maxConcurrentCalls: number;
  readonly maxQueuedCalls: number;
  readonly maxWaitMs: number;
  private active = 0;
  private readonly queue: WaitQueue;
  private admittedCalls = 0;
  private rejectedCalls = 0;
  readonly synchronous: boolean;
  /** Release handlers of the fast path, bound once so a call allocates no closures. */
  private readonly releaseValue = <T>(value: T): T => {
    this.release();
    return value;
  };
  private readonly releaseError = (error: unknown): never => {
    this.release();
    throw error;
  };

  constructor(options: BulkheadOptions = {}) {
    super('bulkhead', options);
    this.maxConcurrentCalls = checkInt('Bulkhead', 'maxConcurrentCalls', options.maxConcurrentCalls ?? 25, 1);
    this.maxQueuedCalls = checkInt('Bulkhead', 'maxQueuedCalls', options.maxQueuedCalls ?? 0, 0);
    this.maxWaitMs = checkMin(
      'Bulkhead',
      'maxWaitMs',
      options.maxWaitMs ?? Number.POSITIVE_INFINITY,
      0,
      true,
    );
    this.synchronous = this.maxQueuedCalls === 0 || this.maxWaitMs === 0;
    this.queue = new WaitQueue(this.clock, this.maxWaitMs, (byDeadline, ctx) =>
      byDeadline
        ? new DeadlineExceededError(`deadline passed while queued in bulkhead "${this.name}"`, {
            retryable: false,
            data: { deadline: ctx.dl },
          })
        : this.rejection(
            'queue-timeout',
            `Bulkhead "${this.name}" had no free slot within ${this.maxWaitMs} ms`,
            this.clock.now(),
          ),
    );
  }

  override execute<T>(fn: Work<T>, options?: ExecuteOptions | ExecutionContext): Promise<T> {
    // Alone and without a queue, a call is admit, run, release: no engine, no async frame.
    const ctx = this.synchronous ? soloContext(fn, options) : undefined;
    if (ctx === undefined) return super.execute(fn, options);
    try {
      this.tryAdmit(ctx, 0);
    } catch (rejection) {
      return Promise.reject(rejection);
    }
    let result: PromiseLike<T> | T;
    try {
      result = fn(ctx);
    } catch (error) {
      this.release();
      return Promise.reject(error);
    }
    return Promise.resolve(result).then(this.releaseValue, this.releaseError);
  }

  /** Calls running now. */
  get activeCalls(): number {
    return this.active;
  }

  /** Calls waiting now. */
  get queuedCalls(): number {
    return this.queue.length;
  }

  /**
   * For a caller that runs its calls itself, by callbacks rather than `execute` (the gateway's
   * fast path): takes a slot at once or throws `BulkheadRejectedError` — it never queues, so a
   * bulkhead with a queue refuses here what `execute` would make wait. The slot goes back once,
   * through {@link onComplete}.
   */
  acquirePermission(): void {
    if (!this.take()) this.refuseFull();
  }

  /** A call admitted by {@link acquirePermission} ended: its slot is free (or a waiter's). */
  onComplete(): void {
    this.release();
  }

  tryAdmit(_ctx: CallContext, _now: number): number {
    if (this.take()) return 0;
    if (this.queue.length < this.maxQueuedCalls && this.maxWaitMs > 0) return WAIT;
    return this.refuseFull();
  }

  admitAsync(ctx: CallContext, now: number): Promise<number> {
    return this.queue.wait(ctx, now);
  }

  release(): void {
    // Hand the slot to the oldest live waiter (`active` stays as it is), or free it.
    if (this.queue.admit(0)) this.admittedCalls++;
    else this.active--;
  }

  snapshot(): BulkheadSnapshot {
    return {
      kind: 'bulkhead',
      name: this.name,
      maxConcurrentCalls: this.maxConcurrentCalls,
      maxQueuedCalls: this.maxQueuedCalls,
      activeCalls: this.active,
      queuedCalls: this.queue.length,
      admittedCalls: this.admittedCalls,
      rejectedCalls: this.rejectedCalls,
    };
  }

  [STAGE](): StageDescriptor {
    return { type: 'gate', gate: this, clock: this.clock };
  }

  /** Takes a free slot when one is free and nobody waits for it. */
  private take(): boolean {
    if (this.active >= this.maxConcurrentCalls || this.queue.length > 0) return false;
    this.active++;
    this.admittedCalls++;
    return true;
  }

  private refuseFull(): never {
    return this.refuse(
      'full',
      `Bulkhead "${this.name}" is full (${this.maxConcurrentCalls} running, ${this.queue.length} queued)`,
      this.clock.now(),
    );
  }

  private refuse(reason: string, message: string, now: number): never {
    throw this.rejection(reason, message, now);
  }

  /** Counts and reports a refused call; returns its error. */
  private rejection(reason: string, message: string, now: number): BulkheadRejectedError {
    this.rejectedCalls++;
    const error = new BulkheadRejectedError(message, {
      data: {
        policy: this.name,
        maxConcurrentCalls: this.maxConcurrentCalls,
        maxQueuedCalls: this.maxQueuedCalls,
      },
    });
    if (this.events.active)
      this.events.emit({ type: 'rejected', policy: this.name, kind: 'bulkhead', at: now, reason, error });
    return error;
  }
}

/** A bulkhead (default: 25 concurrent calls, no queue — resilience4j's semaphore bulkhead). */
export function bulkhead(options?: BulkheadOptions): Bulkhead {
  return new Bulkhead(options);
}
