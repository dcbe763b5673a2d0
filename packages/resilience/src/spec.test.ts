import { ConfigurationError, ManualClock } from '@flotilla/core';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parseDuration } from './duration.js';
import { BrokenCircuitError } from './errors.js';
import { httpError } from './fixtures/helpers.js';
import { ResilienceMetrics } from './metrics.js';
import { fromSpec, Resiliency } from './spec.js';

const YAML = `
policies:
  timeouts:
    fast: 500ms
    general: 2s
  retryBudgets:
    shared: { ratio: 0.1, minRetriesPerSecond: 5, window: 10s }
  retries:
    standard:
      maxAttempts: 3
      backoff: { initialDelay: 50ms, maxDelay: 2s }
      budget: shared
  circuitBreakers:
    default:
      failureRateThreshold: 50
      slidingWindowSize: 4
      minimumNumberOfCalls: 2
      waitDurationInOpenState: 5s
  bulkheads:
    small: { maxConcurrentCalls: 10, maxQueuedCalls: 5, maxWait: 100ms }
  rateLimits:
    edge: { limit: 100, period: 1s }
  fallbacks:
    empty: { value: [] }
targets:
  catalog:
    timeout: general
    retry: standard
    circuitBreaker: default
    bulkhead: small
    fallback: empty
  payments:
    timeout: fast
    circuitBreaker: default
    rateLimit: edge
  "*":
    timeout: general
`;

describe('resiliency spec', () => {
  it('builds one pipeline per target in the documented order', () => {
    const r = fromSpec(YAML, { clock: new ManualClock() });
    expect(r.targets()).toEqual(['catalog', 'payments']);
    expect(r.pipeline('catalog').policies.map((p) => `${p.kind}:${p.name}`)).toEqual([
      'fallback:empty',
      'retry:standard',
      'circuit-breaker:default',
      'bulkhead:small',
      'timeout:general',
    ]);
    expect(r.pipeline('payments').policies.map((p) => p.kind)).toEqual([
      'circuit-breaker',
      'rate-limiter',
      'timeout',
    ]);
    expect(r.pipeline('unknown').policies.map((p) => p.kind)).toEqual(['timeout']);
    expect(r.pipeline('catalog')).toBe(r.pipeline('catalog'));
  });

  it('gives every target its own breaker but shares named retry budgets', async () => {
    const r = fromSpec(YAML, { clock: new ManualClock() });
    const payments = r.pipeline('payments');
    for (let i = 0; i < 2; i++) await payments.execute(() => Promise.reject(httpError(500))).catch(() => 0);
    await expect(payments.execute(async () => 1)).rejects.toBeInstanceOf(BrokenCircuitError);
    // catalog's breaker is a different instance, still closed; its fallback answers failures.
    await expect(r.pipeline('catalog').execute(async () => ['a'])).resolves.toEqual(['a']);
    await expect(r.pipeline('catalog').execute(() => Promise.reject(new Error('down')))).resolves.toEqual([]);
    const snap = r.snapshot();
    expect(Object.keys(snap)).toEqual(['catalog', 'payments']);
  });

  it('accepts a plain object and a named fallback handler', async () => {
    const r = new Resiliency(
      {
        policies: { fallbacks: { stale: { handler: 'fromCache' } }, timeouts: { t: 1000 } },
        targets: { profile: { fallback: 'stale', timeout: 't' } },
      },
      { fallbacks: { fromCache: () => 'cached profile' } },
    );
    await expect(r.pipeline('profile').execute(() => Promise.reject(httpError(503)))).resolves.toBe(
      'cached profile',
    );
  });

  it('fails at construction naming the path, the field and the value', () => {
    const bad = (spec: unknown) => () => fromSpec(spec as never);
    expect(bad({ policies: { circuitBreakers: { cb: { failureRateThreshold: 150 } } } })).toThrow(
      'resiliency spec policies.circuitBreakers.cb: CircuitBreaker failureRateThreshold should be in (0, 100], got 150',
    );
    expect(bad({ policies: { retries: { r: { maxAttempt: 3 } } } })).toThrow(
      'resiliency spec policies.retries.r: unknown field "maxAttempt"',
    );
    expect(bad({ policies: { timeouts: {} }, targets: { a: { timeout: 'nope' } } })).toThrow(
      'resiliency spec targets.a.timeout: refers to unknown timeouts entry "nope"',
    );
    expect(bad({ policies: { timeouts: { t: 'soon' } } })).toThrow(ConfigurationError);
    expect(bad({ policies: { timeouts: { t: 'soon' } } })).toThrow(
      'policies.timeouts.t should be a duration like "250ms", "5s", "1m30s" or a number of ms, got "soon"',
    );
    expect(
      bad({
        policies: { rateLimits: { r: { type: 'redis', limit: 5 } } },
        targets: { a: { rateLimit: 'r' } },
      }),
    ).toThrow('resiliency spec policies.rateLimits.r.type: is "redis" but no redis client was given');
    expect(
      bad({ policies: { fallbacks: { f: { handler: 'x' } } }, targets: { a: { fallback: 'f' } } }),
    ).toThrow('no fallback handler named "x" was given');
    expect(
      bad({ policies: { bulkheads: { b: { maxConcurrentCalls: 0 } } }, targets: { '*': { bulkhead: 'b' } } }),
    ).toThrow(
      'resiliency spec policies.bulkheads.b: Bulkhead maxConcurrentCalls should be an integer >= 1, got 0',
    );
    expect(bad({ target: {} })).toThrow('resiliency spec (root): unknown field "target"');
  });

  it('registers every target with metrics, labelled by target', async () => {
    const registry = new Registry();
    const r = fromSpec(YAML, { clock: new ManualClock(), metrics: new ResilienceMetrics({ registry }) });
    await r.pipeline('payments').execute(async () => 1);
    const text = await registry.metrics();
    expect(text).toContain(
      'flotilla_resilience_circuit_state{policy="default",target="payments",state="CLOSED"} 1',
    );
    expect(text).toContain(
      'flotilla_resilience_circuit_calls_total{policy="default",target="payments",outcome="success"} 1',
    );
    expect(text).toContain(
      'flotilla_resilience_admitted_calls_total{policy="edge",target="payments",kind="rate-limiter"} 1',
    );
  });
});

describe('parseDuration', () => {
  it('reads Go-style durations and plain milliseconds', () => {
    expect(parseDuration('250ms', 'x')).toBe(250);
    expect(parseDuration('1m30s', 'x')).toBe(90_000);
    expect(parseDuration('1.5s', 'x')).toBe(1_500);
    expect(parseDuration('2h', 'x')).toBe(7_200_000);
    expect(parseDuration(75, 'x')).toBe(75);
    expect(parseDuration('75', 'x')).toBe(75);
    expect(() => parseDuration('-1s', 'timeout')).toThrow('timeout should be a duration');
    expect(() => parseDuration('5 seconds', 'timeout')).toThrow(ConfigurationError);
  });
});
