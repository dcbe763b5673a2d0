import { type Clock, ConfigurationError, isFlotillaError } from '@flotilla/core';
import type { Redis } from 'ioredis';
import { parse as parseYaml } from 'yaml';
import { AdaptiveConcurrency } from './adaptive/adaptive-concurrency.js';
import { CircuitBreaker } from './breaker/circuit-breaker.js';
import { Bulkhead } from './bulkhead.js';
import { isAbortError, isRejection } from './classify.js';
import { parseDuration } from './duration.js';
import { Fallback, type FallbackHandler } from './fallback.js';
import { Hedge } from './hedge.js';
import type { ResilienceMetrics } from './metrics.js';
import type { PipelineSnapshot, Policy } from './policy.js';
import { BUILT_IN_PREDICATES, type ErrorPredicate, resolvePredicate } from './predicates.js';
import { RedisRateLimiter } from './rate-limit/redis-limiter.js';
import { TokenBucketLimiter } from './rate-limit/token-bucket.js';
import { Retry } from './retry.js';
import { RetryBudget } from './retry-budget.js';
import { TimeoutPolicy } from './timeout.js';
import { Pipeline } from './wrap.js';

/**
 * Declarative policies, in the spirit of Dapr's resiliency spec: named policies under
 * `policies`, applied to `targets` by name. Every target gets its own policy instances (its own
 * breaker state, its own bulkhead), except retry budgets, which are shared by name on purpose.
 * `targets['*']` applies to targets not listed.
 */
export interface ResiliencySpec {
  policies?: {
    /** name → per-attempt timeout (`"2s"`). */
    timeouts?: Record<string, string | number>;
    retries?: Record<string, RetrySpec>;
    retryBudgets?: Record<string, RetryBudgetSpec>;
    circuitBreakers?: Record<string, CircuitBreakerSpec>;
    bulkheads?: Record<string, BulkheadSpec>;
    adaptiveConcurrency?: Record<string, AdaptiveConcurrencySpec>;
    rateLimits?: Record<string, RateLimitSpec>;
    hedges?: Record<string, HedgeSpec>;
    fallbacks?: Record<string, FallbackSpec>;
  };
  targets?: Record<string, TargetSpec>;
}

type Duration = string | number;

/**
 * Error predicates by name: registered through `options.predicates`, or built in
 * (`connection-error`, `timeout`, `failure`, `retryable`, `rejection`, `status:503`, `status:5xx`).
 * A list matches when any of its names does.
 */
export type PredicateRef = string | string[];

export interface RetrySpec {
  maxAttempts?: number;
  backoff?: { initialDelay?: Duration; maxDelay?: Duration; multiplier?: number; jitter?: 'full' | 'none' };
  idempotent?: boolean;
  /** Name of a shared budget, `false` for none. Default: an own budget. */
  budget?: string | false;
  /** Errors worth retrying. The policies' own rejections and caller aborts never are. */
  retryOn?: PredicateRef;
}

export interface RetryBudgetSpec {
  ratio?: number;
  minRetriesPerSecond?: number;
  window?: Duration;
}

export interface CircuitBreakerSpec {
  failureRateThreshold?: number;
  slowCallRateThreshold?: number;
  slowCallDurationThreshold?: Duration;
  slidingWindowType?: 'COUNT_BASED' | 'TIME_BASED';
  slidingWindowSize?: number;
  minimumNumberOfCalls?: number;
  waitDurationInOpenState?: Duration;
  permittedNumberOfCallsInHalfOpenState?: number;
  /** Errors that count as failures (rejections and caller aborts are still ignored). */
  failureOn?: PredicateRef;
}

export interface BulkheadSpec {
  maxConcurrentCalls?: number;
  maxQueuedCalls?: number;
  maxWait?: Duration;
}

export interface AdaptiveConcurrencySpec {
  limit?: 'gradient' | 'aimd';
  initialLimit?: number;
  minLimit?: number;
  maxLimit?: number;
  window?: Duration;
  minSamples?: number;
  /** Calls that may wait for a slot over the limit. Default 0 (shed). */
  maxQueuedCalls?: number;
  maxWait?: Duration;
}

export interface RateLimitSpec {
  /** `local` (token bucket in this process, default) or `redis` (shared by every process). */
  type?: 'local' | 'redis';
  limit: number;
  period?: Duration;
  burst?: number;
  /** local only. */
  maxWait?: Duration;
  /** redis only. */
  prefix?: string;
  /** redis only. */
  failOpen?: boolean;
}

export interface HedgeSpec {
  /** A fixed delay, or a percentile of the measured latency. */
  delay: Duration | LatencyDelaySpec;
  maxHedges?: number;
  /** Name of a shared retry budget. */
  budget?: string;
}

export interface LatencyDelaySpec {
  percentile: number;
  min?: Duration;
  max?: Duration;
  /** Successful attempts measured (the most recent ones). */
  window?: number;
  minSamples?: number;
  /** Delay until `minSamples` were measured. Default `min`. */
  initial?: Duration;
}

/**
 * A registered handler by name, or a fixed value (a static response); `on` says which errors it
 * answers (caller aborts never).
 */
export type FallbackSpec = ({ handler: string } | { value: unknown }) & { on?: PredicateRef };

export interface TargetSpec {
  timeout?: string;
  retry?: string;
  circuitBreaker?: string;
  bulkhead?: string;
  adaptiveConcurrency?: string;
  rateLimit?: string;
  hedge?: string;
  fallback?: string;
}

export interface ResiliencyOptions {
  clock?: Clock;
  /** ioredis client for `type: redis` rate limits. */
  redis?: Redis;
  /** Fallback handlers referred to by `fallbacks.<name>.handler`. */
  fallbacks?: Record<string, FallbackHandler>;
  /** Registers every target's policies (label `target`) when given. */
  metrics?: ResilienceMetrics;
  /** Error predicates referred to by name from `failureOn`, `retryOn` and `fallbacks.<name>.on`. */
  predicates?: Record<string, ErrorPredicate>;
}

const POLICY_SECTIONS = [
  'timeouts',
  'retries',
  'retryBudgets',
  'circuitBreakers',
  'bulkheads',
  'adaptiveConcurrency',
  'rateLimits',
  'hedges',
  'fallbacks',
] as const;

/** target field → policies section it refers to. */
const TARGET_FIELDS = {
  fallback: 'fallbacks',
  retry: 'retries',
  hedge: 'hedges',
  circuitBreaker: 'circuitBreakers',
  rateLimit: 'rateLimits',
  bulkhead: 'bulkheads',
  adaptiveConcurrency: 'adaptiveConcurrency',
  timeout: 'timeouts',
} as const;

const FIELDS: Record<string, readonly string[]> = {
  retries: ['maxAttempts', 'backoff', 'idempotent', 'budget', 'retryOn'],
  backoff: ['initialDelay', 'maxDelay', 'multiplier', 'jitter'],
  retryBudgets: ['ratio', 'minRetriesPerSecond', 'window'],
  circuitBreakers: [
    'failureRateThreshold',
    'slowCallRateThreshold',
    'slowCallDurationThreshold',
    'slidingWindowType',
    'slidingWindowSize',
    'minimumNumberOfCalls',
    'waitDurationInOpenState',
    'permittedNumberOfCallsInHalfOpenState',
    'failureOn',
  ],
  bulkheads: ['maxConcurrentCalls', 'maxQueuedCalls', 'maxWait'],
  adaptiveConcurrency: [
    'limit',
    'initialLimit',
    'minLimit',
    'maxLimit',
    'window',
    'minSamples',
    'maxQueuedCalls',
    'maxWait',
  ],
  rateLimits: ['type', 'limit', 'period', 'burst', 'maxWait', 'prefix', 'failOpen'],
  hedges: ['delay', 'maxHedges', 'budget'],
  fallbacks: ['handler', 'value', 'on'],
  delay: ['percentile', 'min', 'max', 'window', 'minSamples', 'initial'],
};

function specError(path: string, message: string, cause?: unknown): ConfigurationError {
  return new ConfigurationError(`resiliency spec ${path}: ${message}`, {
    data: { path },
    ...(cause === undefined ? {} : { cause }),
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkFields(path: string, value: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (!isRecord(value)) throw specError(path, `should be a mapping, got ${JSON.stringify(value)}`);
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw specError(path, `unknown field "${key}" (expected one of ${allowed.join(', ')})`);
    }
  }
  return value;
}

/** Parses a spec from YAML (or JSON, which is YAML) text. */
export function parseResiliencySpec(text: string): ResiliencySpec {
  const value: unknown = parseYaml(text);
  if (value === null || value === undefined) return {};
  checkFields('(root)', value, ['policies', 'targets']);
  return value as ResiliencySpec;
}

/**
 * Policies built from a declarative spec. Everything is validated at construction: a bad field
 * fails with its path and value before any call runs.
 */
export class Resiliency {
  private readonly spec: ResiliencySpec;
  private readonly options: ResiliencyOptions;
  private readonly pipelines = new Map<string, Pipeline>();
  private readonly budgets = new Map<string, RetryBudget>();

  constructor(spec: ResiliencySpec | string, options: ResiliencyOptions = {}) {
    this.spec = typeof spec === 'string' ? parseResiliencySpec(spec) : spec;
    this.options = options;
    for (const [name, p] of Object.entries(options.predicates ?? {})) {
      if (typeof p !== 'function')
        throw specError(`options.predicates.${name}`, `should be a function, got ${typeof p}`);
    }
    this.validate();
    // Build every named policy once, so a bad one fails now even if no target uses it yet.
    for (const section of Object.values(TARGET_FIELDS)) {
      for (const name of Object.keys(this.spec.policies?.[section] ?? {})) this.make(section, name, name);
    }
    for (const name of Object.keys(this.spec.policies?.retryBudgets ?? {}))
      this.budget(name, `policies.retryBudgets.${name}`);
    for (const target of Object.keys(this.spec.targets ?? {})) {
      if (target !== '*') this.pipeline(target);
    }
    // Build the default once to validate it; real targets get their own instances.
    if (this.spec.targets?.['*'] !== undefined) this.build('*', this.spec.targets['*'], false);
  }

  /** The pipeline of `target` (its own policies; `'*'`'s, or none, when it is not listed). */
  pipeline(target: string): Pipeline {
    let p = this.pipelines.get(target);
    if (p === undefined) {
      const spec = this.spec.targets?.[target] ?? this.spec.targets?.['*'] ?? {};
      p = this.build(target, spec, true);
      this.pipelines.set(target, p);
    }
    return p;
  }

  /** Targets listed in the spec (without `'*'`). */
  targets(): string[] {
    return Object.keys(this.spec.targets ?? {}).filter((t) => t !== '*');
  }

  /** Snapshots of every pipeline built so far, by target. */
  snapshot(): Record<string, PipelineSnapshot> {
    const out: Record<string, PipelineSnapshot> = {};
    for (const [target, p] of this.pipelines) out[target] = p.snapshot();
    return out;
  }

  private validate(): void {
    const spec = this.spec as Record<string, unknown>;
    checkFields('(root)', spec, ['policies', 'targets']);
    const policies =
      spec.policies === undefined ? {} : checkFields('policies', spec.policies, POLICY_SECTIONS);
    for (const section of POLICY_SECTIONS) {
      const entries = policies[section];
      if (entries === undefined) continue;
      if (!isRecord(entries))
        throw specError(`policies.${section}`, 'should be a mapping of names to policies');
      const fields = FIELDS[section];
      if (fields === undefined) continue;
      for (const [name, value] of Object.entries(entries)) {
        const path = `policies.${section}.${name}`;
        const record = checkFields(path, value, fields);
        if (section === 'retries' && record.backoff !== undefined) {
          checkFields(`${path}.backoff`, record.backoff, FIELDS.backoff!);
        }
        if (section === 'hedges' && isRecord(record.delay)) {
          checkFields(`${path}.delay`, record.delay, FIELDS.delay!);
        }
      }
    }
    const targets = spec.targets === undefined ? {} : spec.targets;
    if (!isRecord(targets)) throw specError('targets', 'should be a mapping of target names to policy names');
    for (const [target, value] of Object.entries(targets)) {
      const record = checkFields(`targets.${target}`, value, Object.keys(TARGET_FIELDS));
      for (const [field, ref] of Object.entries(record)) {
        const section = TARGET_FIELDS[field as keyof typeof TARGET_FIELDS];
        const known = (policies[section] as Record<string, unknown> | undefined) ?? {};
        if (typeof ref !== 'string' || !(ref in known)) {
          throw specError(
            `targets.${target}.${field}`,
            `refers to unknown ${section} entry ${JSON.stringify(ref)}`,
          );
        }
      }
    }
  }

  private budget(name: string, path: string): RetryBudget {
    let b = this.budgets.get(name);
    if (b === undefined) {
      const spec = this.spec.policies?.retryBudgets?.[name];
      if (spec === undefined)
        throw specError(path, `refers to unknown retryBudgets entry ${JSON.stringify(name)}`);
      b = this.construct(`policies.retryBudgets.${name}`, () => {
        const o = {
          clock: this.options.clock,
          ratio: spec.ratio,
          minRetriesPerSecond: spec.minRetriesPerSecond,
        };
        const windowMs = spec.window === undefined ? undefined : parseDuration(spec.window, 'window');
        return new RetryBudget(clean({ ...o, windowMs }));
      });
      this.budgets.set(name, b);
    }
    return b;
  }

  /** The predicate `ref` names; an unknown name fails with the field's path and the name. */
  private predicate(path: string, ref: unknown): ErrorPredicate {
    const isList = Array.isArray(ref) && ref.length > 0 && ref.every((r) => typeof r === 'string');
    if (typeof ref !== 'string' && !isList) {
      throw specError(path, `should be a predicate name or a list of them, got ${JSON.stringify(ref)}`);
    }
    const p = resolvePredicate(ref as PredicateRef, this.options.predicates ?? {});
    if (typeof p === 'function') return p;
    const registered = Object.keys(this.options.predicates ?? {});
    throw specError(
      path,
      `unknown predicate ${JSON.stringify(p.unknown)} (registered: ${registered.length === 0 ? 'none' : registered.join(', ')}; built in: ${BUILT_IN_PREDICATES.join(', ')})`,
    );
  }

  /** Runs a constructor; a configuration error is re-thrown with the spec path in front. */
  private construct<T>(path: string, make: () => T): T {
    try {
      return make();
    } catch (error) {
      if (isFlotillaError(error) && error.code === 'INVALID_CONFIGURATION') {
        if (error.message.startsWith('resiliency spec ')) throw error;
        throw specError(path, error.message, error);
      }
      throw error;
    }
  }

  private build(target: string, t: TargetSpec, register: boolean): Pipeline {
    const out: Policy[] = [];
    // Canonical order, outermost first (see README "Composition order").
    for (const [field, section] of Object.entries(TARGET_FIELDS)) {
      const name = t[field as keyof TargetSpec];
      if (name !== undefined) out.push(this.make(section, name, target));
    }
    const pipeline = new Pipeline(out, target);
    if (register && this.options.metrics !== undefined) this.options.metrics.register(pipeline, { target });
    return pipeline;
  }

  /** Builds a fresh instance of the named policy of `section` for `target`. */
  private make(
    section: (typeof TARGET_FIELDS)[keyof typeof TARGET_FIELDS],
    name: string,
    target: string,
  ): Policy {
    const p = this.spec.policies ?? {};
    const path = `policies.${section}.${name}`;
    const base = clean({ name, clock: this.options.clock });
    const ms = (v: Duration | undefined, field: string) =>
      v === undefined ? undefined : parseDuration(v, field);
    return this.construct(path, (): Policy => {
      switch (section) {
        case 'fallbacks': {
          const f = p.fallbacks![name]!;
          const on = f.on === undefined ? undefined : this.predicate(`${path}.on`, f.on);
          const options =
            on === undefined ? base : { ...base, when: (e: unknown) => !isAbortError(e) && on(e) };
          if ('handler' in f) {
            const handler = this.options.fallbacks?.[f.handler];
            if (handler === undefined) {
              throw specError(
                `${path}.handler`,
                `no fallback handler named ${JSON.stringify(f.handler)} was given`,
              );
            }
            return new Fallback(handler, options);
          }
          const value = (f as { value: unknown }).value;
          return new Fallback(() => value, options);
        }
        case 'retries': {
          const r = p.retries![name]!;
          const b = r.backoff ?? {};
          const backoff = clean({
            initialDelayMs: ms(b.initialDelay, 'backoff.initialDelay'),
            maxDelayMs: ms(b.maxDelay, 'backoff.maxDelay'),
            multiplier: b.multiplier,
            jitter: b.jitter,
          });
          const budget =
            r.budget === false
              ? false
              : r.budget === undefined
                ? undefined
                : this.budget(r.budget, `${path}.budget`);
          const on = r.retryOn === undefined ? undefined : this.predicate(`${path}.retryOn`, r.retryOn);
          // Retrying into an open breaker or a full bulkhead only adds load, whatever the name says.
          const retryOn =
            on === undefined ? undefined : (e: unknown) => !isRejection(e) && !isAbortError(e) && on(e);
          return new Retry(
            clean({
              ...base,
              maxAttempts: r.maxAttempts,
              backoff,
              idempotent: r.idempotent,
              budget,
              retryOn,
            }),
          );
        }
        case 'hedges': {
          const h = p.hedges![name]!;
          const budget = h.budget === undefined ? undefined : this.budget(h.budget, `${path}.budget`);
          const common = clean({ ...base, maxHedges: h.maxHedges, budget });
          if (!isRecord(h.delay)) return new Hedge({ ...common, delayMs: parseDuration(h.delay, 'delay') });
          const d = h.delay as LatencyDelaySpec;
          return new Hedge({
            ...common,
            delay: {
              ...clean({
                minMs: ms(d.min, 'delay.min'),
                maxMs: ms(d.max, 'delay.max'),
                window: d.window,
                minSamples: d.minSamples,
                initialMs: ms(d.initial, 'delay.initial'),
              }),
              percentile: d.percentile,
            },
          });
        }
        case 'circuitBreakers': {
          const c = p.circuitBreakers![name]!;
          const isFailure =
            c.failureOn === undefined ? undefined : this.predicate(`${path}.failureOn`, c.failureOn);
          return new CircuitBreaker(
            clean({
              ...base,
              failureRateThreshold: c.failureRateThreshold,
              slowCallRateThreshold: c.slowCallRateThreshold,
              slowCallDurationThresholdMs: ms(c.slowCallDurationThreshold, 'slowCallDurationThreshold'),
              slidingWindowType: c.slidingWindowType,
              slidingWindowSize: c.slidingWindowSize,
              minimumNumberOfCalls: c.minimumNumberOfCalls,
              waitDurationInOpenStateMs: ms(c.waitDurationInOpenState, 'waitDurationInOpenState'),
              permittedNumberOfCallsInHalfOpenState: c.permittedNumberOfCallsInHalfOpenState,
              isFailure,
            }),
          );
        }
        case 'rateLimits': {
          const r = p.rateLimits![name]!;
          const periodMs = ms(r.period, 'period');
          const type = r.type ?? 'local';
          if (type === 'redis') {
            const redis = this.options.redis;
            if (redis === undefined)
              throw specError(`${path}.type`, 'is "redis" but no redis client was given');
            return new RedisRateLimiter({
              ...clean({ ...base, periodMs, burst: r.burst, prefix: r.prefix, failOpen: r.failOpen }),
              redis,
              limit: r.limit,
              defaultKey: target,
            });
          }
          if (type !== 'local')
            throw specError(`${path}.type`, `should be "local" or "redis", got ${JSON.stringify(type)}`);
          return new TokenBucketLimiter({
            ...clean({ ...base, periodMs, burst: r.burst, maxWaitMs: ms(r.maxWait, 'maxWait') }),
            limit: r.limit,
          });
        }
        case 'bulkheads': {
          const b = p.bulkheads![name]!;
          return new Bulkhead(
            clean({
              ...base,
              maxConcurrentCalls: b.maxConcurrentCalls,
              maxQueuedCalls: b.maxQueuedCalls,
              maxWaitMs: ms(b.maxWait, 'maxWait'),
            }),
          );
        }
        case 'adaptiveConcurrency': {
          const a = p.adaptiveConcurrency![name]!;
          const limits = clean({ initialLimit: a.initialLimit, minLimit: a.minLimit, maxLimit: a.maxLimit });
          return new AdaptiveConcurrency(
            clean({
              ...base,
              limit: a.limit,
              gradient: limits,
              aimd: limits,
              windowMs: ms(a.window, 'window'),
              minSamples: a.minSamples,
              maxQueuedCalls: a.maxQueuedCalls,
              maxWaitMs: ms(a.maxWait, 'maxWait'),
            }),
          );
        }
        case 'timeouts':
          return new TimeoutPolicy(parseDuration(p.timeouts![name]!, path), base);
      }
    });
  }
}

/** Drops undefined fields, so defaults apply. */
function clean<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = v;
  return out as { [K in keyof T]: Exclude<T[K], undefined> };
}

/** Builds policies from a spec object or YAML text. */
export function fromSpec(spec: ResiliencySpec | string, options?: ResiliencyOptions): Resiliency {
  return new Resiliency(spec, options);
}
