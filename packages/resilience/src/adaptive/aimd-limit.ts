import { checkInt, checkMin, checkRange } from '../internal/validate.js';
import type { ConcurrencyLimit, LimitSample } from './limit.js';

export interface AimdLimitOptions {
  /** Default 20. */
  initialLimit?: number;
  /** Default 20. */
  minLimit?: number;
  /** Default 200. */
  maxLimit?: number;
  /** Multiplier applied on a drop, in [0.5, 1). Default 0.9. */
  backoffRatio?: number;
  /** A window whose average RTT exceeds this counts as a drop. Default 5 000 ms. */
  timeoutMs?: number;
}

/**
 * Additive-increase / multiplicative-decrease (TCP Reno's loss-based control, as in Netflix's
 * `AIMDLimit`): +1 per window while the limit is being used, ×backoffRatio on a drop.
 */
export class AimdLimit implements ConcurrencyLimit {
  private current: number;
  private readonly minLimit: number;
  private readonly maxLimit: number;
  private readonly backoffRatio: number;
  private readonly timeoutMs: number;

  constructor(options: AimdLimitOptions = {}) {
    const o = 'AimdLimit';
    this.minLimit = checkInt(o, 'minLimit', options.minLimit ?? 20, 1);
    this.maxLimit = checkInt(o, 'maxLimit', options.maxLimit ?? 200, this.minLimit);
    this.current = checkRange(o, 'initialLimit', options.initialLimit ?? 20, this.minLimit, this.maxLimit);
    this.backoffRatio = checkRange(o, 'backoffRatio', options.backoffRatio ?? 0.9, 0.5, 0.999);
    this.timeoutMs = checkMin(o, 'timeoutMs', options.timeoutMs ?? 5_000, 1);
  }

  get limit(): number {
    return this.current;
  }

  update(sample: LimitSample): number {
    if (sample.dropped || sample.rttMs > this.timeoutMs) {
      this.current = Math.max(this.minLimit, Math.floor(this.current * this.backoffRatio));
    } else if (sample.inflight * 2 >= this.current) {
      this.current = Math.min(this.maxLimit, this.current + 1);
    }
    return this.current;
  }
}
