import { ConfigurationError, ManualClock } from '@flotilla/core';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { AdaptiveConcurrency } from './adaptive/adaptive-concurrency.js';
import { parseDuration } from './duration.js';
import { BrokenCircuitError } from './errors.js';
import { connectionRefused, httpError } from './fixtures/helpers.js';
import type { Hedge } from './hedge.js';
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

describe('resiliency spec: named predicates', () => {
  const PREDICATES = `
policies:
  circuitBreakers:
    strict:
      failureOn: http-5xx-or-429
      slidingWindowSize: 2
      minimumNumberOfCalls: 2
  retries:
    onConnection:
      maxAttempts: 3
      backoff: { initialDelay: 0ms }
      retryOn: [connection-error, status:429]
  fallbacks:
    teapot: { value: tea, on: status:418 }
targets:
  a: { circuitBreaker: strict }
  b: { retry: onConnection }
  c: { fallback: teapot }
`;
  const predicates = {
    'http-5xx-or-429': (e: unknown) => {
      const status = (e as { status?: number }).status;
      return status === 429 || (status !== undefined && status >= 500);
    },
  };

  it('opens a breaker on the errors a registered predicate names as failures', async () => {
    const r = fromSpec(PREDICATES, { clock: new ManualClock(), predicates });
    const a = r.pipeline('a');
    for (let i = 0; i < 2; i++) await a.execute(() => Promise.reject(httpError(429))).catch(() => 0);
    await expect(a.execute(async () => 1)).rejects.toBeInstanceOf(BrokenCircuitError);
  });

  it('retries exactly the errors a list of built-in predicates matches', async () => {
    const r = fromSpec(PREDICATES, { clock: new ManualClock(), predicates });
    const b = r.pipeline('b');
    let calls = 0;
    const failWith = (error: unknown) => () => {
      calls++;
      return Promise.reject(error);
    };
    await b.execute(failWith(connectionRefused())).catch(() => 0);
    expect(calls).toBe(3);
    calls = 0;
    await b.execute(failWith(httpError(429))).catch(() => 0);
    expect(calls).toBe(3);
    calls = 0;
    await b.execute(failWith(httpError(503))).catch(() => 0);
    expect(calls).toBe(1);
  });

  it('never retries a policy rejection, even one a predicate would match', async () => {
    const r = fromSpec(
      {
        policies: { retries: { r: { maxAttempts: 3, retryOn: 'status:5xx' } } },
        targets: { t: { retry: 'r' } },
      },
      { clock: new ManualClock() },
    );
    let calls = 0;
    const open = new BrokenCircuitError('open');
    await expect(
      r.pipeline('t').execute(() => {
        calls++;
        return Promise.reject(open);
      }),
    ).rejects.toBe(open);
    expect(calls).toBe(1);
  });

  it('answers with a fallback only the errors its predicate names', async () => {
    const c = fromSpec(PREDICATES, { clock: new ManualClock(), predicates }).pipeline('c');
    await expect(c.execute(() => Promise.reject(httpError(418)))).resolves.toBe('tea');
    await expect(c.execute(() => Promise.reject(httpError(500)))).rejects.toMatchObject({ status: 500 });
  });

  it('fails at construction on an unknown predicate, naming the field and the name', () => {
    expect(() => fromSpec(PREDICATES)).toThrow(
      'resiliency spec policies.circuitBreakers.strict.failureOn: unknown predicate "http-5xx-or-429" (registered: none; built in: connection-error, timeout, failure, retryable, rejection, status:NNN, status:Nxx)',
    );
    expect(() => fromSpec({ policies: { retries: { r: { retryOn: ['timeout', 'status:6xx'] } } } })).toThrow(
      'resiliency spec policies.retries.r.retryOn: unknown predicate "status:6xx"',
    );
    expect(() => fromSpec({ policies: { fallbacks: { f: { value: 1, on: 42 as never } } } })).toThrow(
      'resiliency spec policies.fallbacks.f.on: should be a predicate name or a list of them, got 42',
    );
    expect(() => fromSpec({}, { predicates: { x: 'nope' as never } })).toThrow(
      'resiliency spec options.predicates.x: should be a function, got string',
    );
  });
});

describe('resiliency spec: queues and measured hedge delays', () => {
  it('builds an adaptive limit with a bounded queue', () => {
    const r = fromSpec(`
policies:
  adaptiveConcurrency:
    auto: { limit: aimd, initialLimit: 5, minLimit: 1, maxQueuedCalls: 50, maxWait: 100ms }
targets:
  a: { adaptiveConcurrency: auto }
`);
    const limiter = r.pipeline('a').policies[0] as AdaptiveConcurrency;
    expect(limiter.snapshot()).toMatchObject({ limit: 5, maxQueuedCalls: 50, queuedCalls: 0 });
    expect(limiter.maxWaitMs).toBe(100);
  });

  it('builds a hedge whose delay is a percentile of the measured latency', () => {
    const r = fromSpec(`
policies:
  hedges:
    tail: { delay: { percentile: 95, min: 10ms, max: 1s, window: 200, initial: 50ms } }
targets:
  a: { hedge: tail }
`);
    const h = r.pipeline('a').policies[0] as Hedge;
    expect(h.delayMs).toBe(50);
    expect(h.latency?.size).toBe(200);
  });

  it('fails at construction on a bad queue or delay, naming the field and the value', () => {
    expect(() => fromSpec({ policies: { adaptiveConcurrency: { a: { maxQueuedCalls: -1 } } } })).toThrow(
      'resiliency spec policies.adaptiveConcurrency.a: AdaptiveConcurrency maxQueuedCalls should be an integer >= 0, got -1',
    );
    expect(() => fromSpec({ policies: { hedges: { h: { delay: { percentile: 101 } } } } })).toThrow(
      'resiliency spec policies.hedges.h: Hedge delay.percentile should be in (0, 100], got 101',
    );
    expect(() => fromSpec({ policies: { hedges: { h: { delay: { p: 95 } as never } } } })).toThrow(
      'resiliency spec policies.hedges.h.delay: unknown field "p"',
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
