import { type Clock, type Problem, problem } from '@flotilla/core';
import {
  parseDuration,
  type RateLimitDecision,
  RedisRateLimiter,
  TokenBucketLimiter,
} from '@flotilla/resilience';
import { type Static, Type } from '@sinclair/typebox';
import type { Redis } from 'ioredis';
import { badConfig, checkConfig } from '../auth/config.js';
import type { Claims } from '../auth/outcome.js';
import type { RequestLike } from '../auth/request.js';
import { type KeySource, partitionKey } from './client-key.js';

/** The `rateLimit` section of a route. */
export const RateLimitSchema = Type.Object(
  {
    /** Requests admitted per period (the sustained rate). */
    limit: Type.Integer({ minimum: 1 }),
    /** Length of the period: `1s`, `1m`, `1h`. Default `1s`. */
    period: Type.Optional(Type.Union([Type.String(), Type.Number({ exclusiveMinimum: 0 })])),
    /** Requests admitted at once after a quiet spell. Default `limit`. */
    burst: Type.Optional(Type.Integer({ minimum: 1 })),
    /** Whom a limit counts: `client` (verified client id, else IP), `ip`, or `header:<name>`. Default `client`. */
    key: Type.Optional(Type.String({ pattern: "^(client|ip|header:[A-Za-z0-9!#$%&'*+.^_`|~-]+)$" })),
    /** `local`: per gateway process; `redis`: one limit shared by every gateway. Default `local`. */
    store: Type.Optional(Type.Union([Type.Literal('local'), Type.Literal('redis')])),
    /** Redis store: admit requests when Redis fails. Default true. */
    failOpen: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

/** Configuration of a route's rate limit. */
export type RateLimitConfig = Static<typeof RateLimitSchema>;

/** What the rate limiters of all routes share. */
export interface RateLimitDeps {
  /** Route name; limits of different routes never share a bucket. */
  route: string;
  /** Client for the `redis` store (the caller owns and closes it). */
  redis?: Redis;
  /** Prefix of Redis keys. Default `flotilla:gateway:ratelimit:`. */
  prefix?: string;
  clock?: Clock;
  /** Field name used in configuration errors. Default `rateLimit`. */
  field?: string;
}

/** The answer for one request: `headers` go on the response whether it is admitted or not. */
export type RateLimitOutcome =
  | { allowed: true; key: string; headers: Record<string, string> }
  | { allowed: false; key: string; status: 429; problem: Problem; headers: Record<string, string> };

/** A route's rate limit. */
export interface RouteRateLimiter {
  /** Takes one permit for the request's key. `claims` are the verified caller's, if any. */
  check(req: RequestLike, claims?: Claims): Promise<RateLimitOutcome>;
  /** The underlying limiter, for metrics (`snapshot()`). */
  readonly limiter: TokenBucketLimiter | RedisRateLimiter;
}

/**
 * Builds a route's rate limit on resilience's limiters: a token bucket per process, or GCRA on
 * Redis so every gateway instance counts against one limit. Responses carry the IETF draft
 * `RateLimit-*` headers, plus `Retry-After` on a 429.
 */
export function createRateLimiter(config: RateLimitConfig, deps: RateLimitDeps): RouteRateLimiter {
  const field = deps.field ?? 'rateLimit';
  checkConfig(RateLimitSchema, config, field);
  const periodMs = parseDuration(config.period ?? '1s', `${field}.period`);
  if (periodMs <= 0) badConfig(`${field}.period`, 'a positive duration', config.period);
  const common = { name: deps.route, limit: config.limit, periodMs, burst: config.burst ?? config.limit };
  let limiter: TokenBucketLimiter | RedisRateLimiter;
  if (config.store === 'redis') {
    if (deps.redis === undefined)
      badConfig(`${field}.store`, '"local" when the gateway has no Redis', 'redis');
    limiter = new RedisRateLimiter({
      ...common,
      redis: deps.redis,
      prefix: `${deps.prefix ?? 'flotilla:gateway:ratelimit:'}${deps.route}:`,
      failOpen: config.failOpen ?? true,
    });
  } else {
    limiter = new TokenBucketLimiter({ ...common, clock: deps.clock });
  }
  const source = (config.key ?? 'client') as KeySource;
  const burst = common.burst;
  const intervalMs = periodMs / config.limit;
  const policy = `${burst};w=${Math.max(1, Math.ceil((burst * intervalMs) / 1000))}`;
  const decide = (key: string): RateLimitDecision | Promise<RateLimitDecision> =>
    limiter instanceof TokenBucketLimiter ? limiter.tryAcquire(key) : limiter.acquire(key);

  return {
    limiter,
    async check(req, claims) {
      const key = partitionKey(source, req, claims);
      const decision = await decide(key);
      const remaining = Math.max(0, Math.min(burst, decision.remaining));
      if (decision.allowed) {
        const reset = Math.ceil(((burst - remaining) * intervalMs) / 1000);
        return { allowed: true, key, headers: headers(burst, remaining, reset, policy) };
      }
      const retryAfter = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
      return {
        allowed: false,
        key,
        status: 429,
        problem: problem({
          status: 429,
          code: 'RATE_LIMITED',
          detail: `Rate limit of route "${deps.route}" exceeded; retry in ${retryAfter} s`,
          retryable: true,
        }),
        headers: { ...headers(burst, 0, retryAfter, policy), 'retry-after': String(retryAfter) },
      };
    },
  };
}

function headers(limit: number, remaining: number, reset: number, policy: string): Record<string, string> {
  return {
    'ratelimit-limit': String(limit),
    'ratelimit-remaining': String(remaining),
    'ratelimit-reset': String(reset),
    'ratelimit-policy': policy,
  };
}
