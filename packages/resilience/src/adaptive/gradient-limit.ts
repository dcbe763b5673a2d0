import { checkInt, checkMin, checkRange } from '../internal/validate.js';
import type { ConcurrencyLimit, LimitSample } from './limit.js';

export interface GradientLimitOptions {
  /** Default 20. */
  initialLimit?: number;
  /** Default 20. */
  minLimit?: number;
  /** Default 200. */
  maxLimit?: number;
  /** How far one window moves the limit towards its new estimate (0, 1]. Default 0.2. */
  smoothing?: number;
  /** Growth allowed per window while latency is at its baseline. Default 4. */
  queueSize?: number;
  /** Windows averaged into the baseline RTT. Default 600. */
  longWindow?: number;
}

const WARMUP = 10;

/**
 * Gradient limit, after Netflix's `Gradient2Limit`: compares the current RTT with a long-term,
 * exponentially averaged baseline RTT. While they agree the limit grows by `queueSize` per
 * window; when the current RTT rises (a queue is building somewhere) the limit shrinks in
 * proportion, by at most half per window. Averages rather than minimums, because RPC latency is
 * bursty and a minimum biases the baseline low and sheds too much.
 */
export class GradientLimit implements ConcurrencyLimit {
  private estimate: number;
  private readonly minLimit: number;
  private readonly maxLimit: number;
  private readonly smoothing: number;
  private readonly queueSize: number;
  private readonly longWindow: number;
  private longRtt = 0;
  private samples = 0;

  constructor(options: GradientLimitOptions = {}) {
    const o = 'GradientLimit';
    this.minLimit = checkInt(o, 'minLimit', options.minLimit ?? 20, 1);
    this.maxLimit = checkInt(o, 'maxLimit', options.maxLimit ?? 200, this.minLimit);
    this.estimate = checkRange(o, 'initialLimit', options.initialLimit ?? 20, this.minLimit, this.maxLimit);
    this.smoothing = checkRange(o, 'smoothing', options.smoothing ?? 0.2, 0, 1, true);
    this.queueSize = checkMin(o, 'queueSize', options.queueSize ?? 4, 0);
    this.longWindow = checkInt(o, 'longWindow', options.longWindow ?? 600, 1);
  }

  get limit(): number {
    return this.estimate;
  }

  /** Baseline RTT (ms). */
  get baselineRttMs(): number {
    return this.longRtt;
  }

  update(sample: LimitSample): number {
    const shortRtt = sample.rttMs;
    // Baseline: a plain average while warming up, then an exponential moving average.
    this.samples++;
    if (this.samples <= WARMUP) this.longRtt += (shortRtt - this.longRtt) / this.samples;
    else this.longRtt += (shortRtt - this.longRtt) * (2 / (this.longWindow + 1));
    // After a long overload the baseline lags far above the current RTT; pull it down quickly.
    if (shortRtt > 0 && this.longRtt / shortRtt > 2) this.longRtt *= 0.9;
    // Calls are not using the limit (app-limited): no evidence to grow it.
    if (sample.inflight < this.estimate / 2) return this.estimate;
    const gradient = shortRtt > 0 ? Math.max(0.5, Math.min(1, this.longRtt / shortRtt)) : 1;
    const target = this.estimate * gradient + this.queueSize;
    const next = this.estimate * (1 - this.smoothing) + target * this.smoothing;
    this.estimate = Math.max(this.minLimit, Math.min(this.maxLimit, next));
    return this.estimate;
  }
}
