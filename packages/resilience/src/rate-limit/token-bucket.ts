import { RateLimitedError } from '../errors.js';
import type { CallContext } from '../internal/context.js';
import { delay } from '../internal/delay.js';
import { type Gate, STAGE, type StageDescriptor, WAIT } from '../internal/stage.js';
import { checkInt, checkMin, checkPositive } from '../internal/validate.js';
import { BasePolicy, type PolicyOptions } from '../policy.js';
import type { RateLimitDecision, RateLimiterSnapshot, RateLimitOptions } from './rate-limiter.js';

export interface TokenBucketOptions extends PolicyOptions, RateLimitOptions {
  /**
   * Longest a call may wait for a permit (a reservation, as in Guava's RateLimiter); beyond it,
   * or past the call's deadline, it is refused. Default 0: refuse at once (what an edge wants).
   */
  maxWaitMs?: number;
}

interface Bucket {
  tokens: number;
  last: number;
}

/**
 * In-process token bucket: `burst` tokens, refilled continuously at `limit` per `periodMs`.
 * Calls with a `key` (per client, per route) get a bucket each; buckets that have refilled to
 * full are indistinguishable from new ones and are dropped when the map grows.
 */
export class TokenBucketLimiter extends BasePolicy implements Gate {
  readonly kind = 'rate-limiter' as const;
  readonly durationThreshold = Number.POSITIVE_INFINITY;
  readonly needsClock = true;
  readonly limit: number;
  readonly periodMs: number;
  readonly burst: number;
  readonly maxWaitMs: number;
  private readonly perMs: number;
  private readonly main: Bucket;
  private readonly buckets = new Map<string, Bucket>();
  private sweepAt = 1024;
  private permitted = 0;
  private rejected = 0;

  constructor(options: TokenBucketOptions) {
    super('rate-limiter', options);
    this.limit = checkPositive('TokenBucket', 'limit', options.limit);
    this.periodMs = checkPositive('TokenBucket', 'periodMs', options.periodMs ?? 1000);
    this.burst = checkInt('TokenBucket', 'burst', options.burst ?? Math.max(1, Math.floor(this.limit)), 1);
    this.maxWaitMs = checkMin('TokenBucket', 'maxWaitMs', options.maxWaitMs ?? 0, 0, true);
    this.perMs = this.limit / this.periodMs;
    this.main = { tokens: this.burst, last: this.clock.now() };
  }

  get synchronous(): boolean {
    return this.maxWaitMs === 0;
  }

  /** Takes `cost` permits now if available (never waits). */
  tryAcquire(key?: string, cost = 1): RateLimitDecision {
    const now = this.clock.now();
    const b = this.bucket(key, now);
    if (b.tokens >= cost) {
      b.tokens -= cost;
      this.permitted++;
      return { allowed: true, retryAfterMs: 0, remaining: Math.floor(b.tokens) };
    }
    this.rejected++;
    return { allowed: false, retryAfterMs: Math.ceil((cost - b.tokens) / this.perMs), remaining: 0 };
  }

  tryAdmit(ctx: CallContext, now: number): number {
    const b = this.bucket(ctx.key, now);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      this.permitted++;
      return 0;
    }
    const wait = (1 - b.tokens) / this.perMs;
    if (wait <= this.maxWaitMs && now + wait < ctx.dl) return WAIT;
    return this.refuse(ctx.key, Math.ceil(wait), now);
  }

  async admitAsync(ctx: CallContext, now: number): Promise<number> {
    const b = this.bucket(ctx.key, now);
    const wait = Math.ceil((1 - b.tokens) / this.perMs);
    b.tokens -= 1; // reserve: later callers queue behind this one
    this.permitted++;
    try {
      await delay(this.clock, wait, ctx);
    } catch (reason) {
      b.tokens += 1;
      this.permitted--;
      throw reason;
    }
    return 0;
  }

  release(): void {}

  snapshot(): RateLimiterSnapshot {
    const b = this.bucket(undefined, this.clock.now());
    return {
      kind: 'rate-limiter',
      name: this.name,
      algorithm: 'token-bucket',
      limit: this.limit,
      periodMs: this.periodMs,
      burst: this.burst,
      availableTokens: Math.max(0, Math.floor(b.tokens)),
      keys: this.buckets.size,
      permittedCalls: this.permitted,
      rejectedCalls: this.rejected,
      backendErrors: 0,
    };
  }

  [STAGE](): StageDescriptor {
    return { type: 'gate', gate: this, clock: this.clock };
  }

  private bucket(key: string | undefined, now: number): Bucket {
    let b: Bucket | undefined;
    if (key === undefined) {
      b = this.main;
    } else {
      b = this.buckets.get(key);
      if (b === undefined) {
        if (this.buckets.size >= this.sweepAt) this.sweep(now);
        b = { tokens: this.burst, last: now };
        this.buckets.set(key, b);
        return b;
      }
    }
    if (now > b.last) {
      b.tokens = Math.min(this.burst, b.tokens + (now - b.last) * this.perMs);
      b.last = now;
    }
    return b;
  }

  private sweep(now: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + (now - b.last) * this.perMs >= this.burst) this.buckets.delete(key);
    }
    this.sweepAt = Math.max(1024, this.buckets.size * 2);
  }

  private refuse(key: string | undefined, retryAfterMs: number, now: number): never {
    this.rejected++;
    const error = new RateLimitedError(`Rate limit "${this.name}" exceeded`, {
      data:
        key === undefined ? { policy: this.name, retryAfterMs } : { policy: this.name, key, retryAfterMs },
    });
    if (this.events.active)
      this.events.emit({
        type: 'rejected',
        policy: this.name,
        kind: 'rate-limiter',
        at: now,
        reason: 'rate',
        error,
      });
    throw error;
  }
}

/** An in-process token bucket rate limiter. */
export function tokenBucket(options: TokenBucketOptions): TokenBucketLimiter {
  return new TokenBucketLimiter(options);
}
