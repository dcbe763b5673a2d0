import { isConnectionError, isRejection, isTimeoutError, statusOf } from '../classify.js';
import { ConcurrencyLimitedError } from '../errors.js';
import type { CallContext } from '../internal/context.js';
import {
  ABANDONED,
  FAILURE,
  type Gate,
  type Outcome,
  STAGE,
  type StageDescriptor,
} from '../internal/stage.js';
import { checkFunction, checkInt, checkMin, invalid } from '../internal/validate.js';
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
}

export interface AdaptiveConcurrencySnapshot {
  kind: 'adaptive-concurrency';
  name: string;
  limit: number;
  inflight: number;
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
  readonly synchronous = true;
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
  }

  /** Calls admitted at once right now. */
  get limit(): number {
    return this.current;
  }

  tryAdmit(_ctx: CallContext, _now: number): number {
    if (this.inflight >= this.current) {
      this.rejectedCalls++;
      const error = new ConcurrencyLimitedError(
        `Concurrency limit "${this.name}" reached (${this.current} in flight)`,
        {
          data: { policy: this.name, limit: this.current },
        },
      );
      if (this.events.active) {
        this.events.emit({
          type: 'rejected',
          policy: this.name,
          kind: 'adaptive-concurrency',
          at: this.clock.now(),
          reason: 'limit',
          error,
        });
      }
      throw error;
    }
    this.admittedCalls++;
    if (++this.inflight > this.peak) this.peak = this.inflight;
    return 1;
  }

  admitAsync(): Promise<number> {
    return Promise.reject(new Error('AdaptiveConcurrency admits synchronously'));
  }

  release(_token: number, start: number, end: number, outcome: Outcome, error: unknown): void {
    this.inflight--;
    if (outcome === ABANDONED || (outcome === FAILURE && isRejection(error))) return;
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
      admittedCalls: this.admittedCalls,
      rejectedCalls: this.rejectedCalls,
    };
  }

  [STAGE](): StageDescriptor {
    return { type: 'gate', gate: this, clock: this.clock };
  }
}

/** An adaptive concurrency limit (default: gradient algorithm, limit 20..200). */
export function adaptiveConcurrency(options?: AdaptiveConcurrencyOptions): AdaptiveConcurrency {
  return new AdaptiveConcurrency(options);
}
