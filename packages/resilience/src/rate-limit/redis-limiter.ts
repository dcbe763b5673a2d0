import { UnavailableError } from '@flotilla/core';
import type { Redis } from 'ioredis';
import { RateLimitedError } from '../errors.js';
import type { CallContext } from '../internal/context.js';
import { type Gate, STAGE, type StageDescriptor, WAIT } from '../internal/stage.js';
import { checkInt, checkName, checkPositive, invalid } from '../internal/validate.js';
import { BasePolicy, type PolicyOptions } from '../policy.js';
import type { RateLimitDecision, RateLimiterSnapshot, RateLimitOptions } from './rate-limiter.js';

/**
 * GCRA (the generic cell rate algorithm, a token bucket expressed as one timestamp) in one Lua
 * script, so check-and-update is atomic across every process that shares the key. The key holds
 * the "theoretical arrival time" (TAT): when the bucket would be full again. A request of `cost`
 * pushes TAT by `cost * interval`; it is allowed while the pushed TAT stays within
 * `burst * interval` of now. Time comes from Redis (`TIME`), so clients with skewed clocks agree.
 *
 * KEYS[1] key; ARGV[1] interval ms per permit; ARGV[2] burst; ARGV[3] cost.
 * Returns {allowed (0|1), retryAfterMs, remaining}.
 */
export const GCRA_SCRIPT = `
local interval = tonumber(ARGV[1])
local tolerance = interval * tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local newTat = tat + interval * cost
local allowAt = newTat - tolerance
if allowAt > now then
  return {0, math.ceil(allowAt - now), 0}
end
redis.call('SET', KEYS[1], string.format('%.3f', newTat), 'PX', math.max(1, math.ceil(newTat - now)))
return {1, 0, math.floor((tolerance - (newTat - now)) / interval)}
`;

const COMMAND = 'flotillaGcra';

type GcraClient = Redis & {
  [COMMAND](key: string, interval: number, burst: number, cost: number): Promise<[number, number, number]>;
};

export interface RedisRateLimiterOptions extends PolicyOptions, RateLimitOptions {
  /** An ioredis client (the caller owns and closes it). */
  redis: Redis;
  /** Prefix of the Redis keys. Default `flotilla:ratelimit:`. */
  prefix?: string;
  /** Key used when a call carries none. Default `default`. */
  defaultKey?: string;
  /**
   * What to do when Redis fails: `true` admits the call (availability first, as Envoy's rate
   * limit filter does by default), `false` refuses it with `UnavailableError`. Default true.
   */
  failOpen?: boolean;
}

/**
 * Distributed rate limiter on Redis: every process that uses the same key (and prefix) shares
 * one limit. One round trip per call; no local state.
 */
export class RedisRateLimiter extends BasePolicy implements Gate {
  readonly kind = 'rate-limiter' as const;
  readonly durationThreshold = Number.POSITIVE_INFINITY;
  readonly needsClock = false;
  readonly synchronous = false;
  readonly limit: number;
  readonly periodMs: number;
  readonly burst: number;
  private readonly redis: GcraClient;
  private readonly prefix: string;
  private readonly defaultKey: string;
  private readonly failOpen: boolean;
  private readonly interval: number;
  private permitted = 0;
  private rejected = 0;
  private backendErrors = 0;

  constructor(options: RedisRateLimiterOptions) {
    super('rate-limiter', options);
    const o = 'RedisRateLimiter';
    if (typeof options.redis?.defineCommand !== 'function')
      invalid(o, 'redis', 'an ioredis client', options.redis);
    this.limit = checkPositive(o, 'limit', options.limit);
    this.periodMs = checkPositive(o, 'periodMs', options.periodMs ?? 1000);
    this.burst = checkInt(o, 'burst', options.burst ?? Math.max(1, Math.floor(this.limit)), 1);
    this.prefix = options.prefix ?? 'flotilla:ratelimit:';
    this.defaultKey = checkName(o, 'defaultKey', options.defaultKey ?? 'default');
    this.failOpen = options.failOpen ?? true;
    this.interval = this.periodMs / this.limit;
    const redis = options.redis as GcraClient;
    if (typeof redis[COMMAND] !== 'function')
      redis.defineCommand(COMMAND, { numberOfKeys: 1, lua: GCRA_SCRIPT });
    this.redis = redis;
  }

  /** Takes `cost` permits for `key` if available. Rejects only when Redis fails and `failOpen` is false. */
  async acquire(key: string = this.defaultKey, cost = 1): Promise<RateLimitDecision> {
    if (cost > this.burst) {
      throw new RangeError(`RedisRateLimiter cost should be <= burst (${this.burst}), got ${cost}`);
    }
    let reply: [number, number, number];
    try {
      reply = await this.redis[COMMAND](this.prefix + key, this.interval, this.burst, cost);
    } catch (cause) {
      this.backendErrors++;
      if (this.failOpen) {
        this.permitted++;
        return { allowed: true, retryAfterMs: 0, remaining: 0 };
      }
      throw new UnavailableError(`Rate limit "${this.name}" could not reach Redis`, {
        cause,
        data: { policy: this.name },
      });
    }
    const allowed = reply[0] === 1;
    if (allowed) this.permitted++;
    else this.rejected++;
    return { allowed, retryAfterMs: Number(reply[1]), remaining: Number(reply[2]) };
  }

  tryAdmit(): number {
    return WAIT;
  }

  async admitAsync(ctx: CallContext): Promise<number> {
    const key = ctx.key ?? this.defaultKey;
    const decision = await this.acquire(key);
    if (decision.allowed) return 0;
    const error = new RateLimitedError(`Rate limit "${this.name}" exceeded`, {
      data: { policy: this.name, key, retryAfterMs: decision.retryAfterMs },
    });
    if (this.events.active) {
      this.events.emit({
        type: 'rejected',
        policy: this.name,
        kind: 'rate-limiter',
        at: this.clock.now(),
        reason: 'rate',
        error,
      });
    }
    throw error;
  }

  release(): void {}

  snapshot(): RateLimiterSnapshot {
    return {
      kind: 'rate-limiter',
      name: this.name,
      algorithm: 'redis-gcra',
      limit: this.limit,
      periodMs: this.periodMs,
      burst: this.burst,
      availableTokens: undefined,
      keys: undefined,
      permittedCalls: this.permitted,
      rejectedCalls: this.rejected,
      backendErrors: this.backendErrors,
    };
  }

  [STAGE](): StageDescriptor {
    return { type: 'gate', gate: this, clock: this.clock };
  }
}

/** A Redis-backed distributed rate limiter (GCRA). */
export function redisRateLimiter(options: RedisRateLimiterOptions): RedisRateLimiter {
  return new RedisRateLimiter(options);
}
