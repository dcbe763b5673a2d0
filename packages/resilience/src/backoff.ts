import { checkMin, checkOneOf } from './internal/validate.js';

export interface BackoffOptions {
  /** Upper bound of the first delay. Default 100 ms. */
  initialDelayMs?: number;
  /** Cap of the delay. Default 10 000 ms. */
  maxDelayMs?: number;
  /** Growth per attempt. Default 2. */
  multiplier?: number;
  /** `full`: uniform in [0, cap] (AWS "full jitter"); `none`: exactly the cap. Default full. */
  jitter?: 'full' | 'none';
}

/**
 * Exponential backoff with full jitter: the delay before retry n is uniform in
 * [0, min(maxDelay, initialDelay * multiplier^(n-1))]. Full jitter spreads the retries of many
 * clients that failed together, which is what keeps them from hammering a recovering service
 * in waves (Marc Brooker, "Exponential Backoff And Jitter").
 */
export class ExponentialBackoff {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly multiplier: number;
  readonly jitter: 'full' | 'none';

  constructor(
    options: BackoffOptions = {},
    private readonly random: () => number = Math.random,
  ) {
    this.initialDelayMs = checkMin('Retry', 'backoff.initialDelayMs', options.initialDelayMs ?? 100, 0);
    this.maxDelayMs = checkMin('Retry', 'backoff.maxDelayMs', options.maxDelayMs ?? 10_000, 0);
    this.multiplier = checkMin('Retry', 'backoff.multiplier', options.multiplier ?? 2, 1);
    this.jitter = checkOneOf('Retry', 'backoff.jitter', options.jitter ?? 'full', ['full', 'none']);
  }

  /** Delay before the retry that follows failed attempt number `attempt` (1-based). */
  delay(attempt: number): number {
    const cap = Math.min(this.maxDelayMs, this.initialDelayMs * this.multiplier ** (attempt - 1));
    return this.jitter === 'full' ? Math.floor(this.random() * cap) : cap;
  }
}
