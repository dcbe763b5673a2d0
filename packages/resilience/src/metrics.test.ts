import { ManualClock } from '@flotilla/core';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from './breaker/circuit-breaker.js';
import { Bulkhead } from './bulkhead.js';
import { httpError } from './fixtures/helpers.js';
import { ResilienceMetrics } from './metrics.js';
import { Retry } from './retry.js';
import { TimeoutPolicy } from './timeout.js';
import { wrap } from './wrap.js';

describe('ResilienceMetrics', () => {
  it('exposes flotilla_resilience_* metrics in the registry it is given, read at scrape time', async () => {
    const clock = new ManualClock();
    const registry = new Registry();
    const breaker = new CircuitBreaker({
      clock,
      name: 'catalog-cb',
      minimumNumberOfCalls: 2,
      slidingWindowSize: 2,
    });
    const pipeline = wrap(
      new Retry({ clock, name: 'catalog-retry', budget: false, backoff: { initialDelayMs: 0 } }),
      breaker,
      new Bulkhead({ clock, name: 'catalog-bh', maxConcurrentCalls: 3 }),
      new TimeoutPolicy(1_000, { clock, name: 'catalog-timeout' }),
    );
    const metrics = new ResilienceMetrics({ registry });
    const off = metrics.register(pipeline, { target: 'catalog' });
    await pipeline.execute(() => Promise.reject(httpError(503))).catch(() => 0);
    await pipeline.execute(async () => 1).catch(() => 0);
    const text = await registry.metrics();
    const line = (s: string) => expect(text).toContain(s);
    line('flotilla_resilience_circuit_state{policy="catalog-cb",target="catalog",state="OPEN"} 1');
    line('flotilla_resilience_circuit_state{policy="catalog-cb",target="catalog",state="CLOSED"} 0');
    line('flotilla_resilience_circuit_calls_total{policy="catalog-cb",target="catalog",outcome="failure"} 2');
    line('flotilla_resilience_circuit_transitions_total{policy="catalog-cb",target="catalog"} 1');
    line(
      'flotilla_resilience_rejected_calls_total{policy="catalog-cb",target="catalog",kind="circuit-breaker"} 2',
    );
    line('flotilla_resilience_retries_total{policy="catalog-retry",target="catalog"} 2');
    line(
      'flotilla_resilience_retry_gave_up_total{policy="catalog-retry",target="catalog",reason="not-retryable"} 1',
    );
    line('flotilla_resilience_active_calls{policy="catalog-bh",target="catalog",kind="bulkhead"} 0');
    line(
      'flotilla_resilience_concurrency_limit_calls{policy="catalog-bh",target="catalog",kind="bulkhead"} 3',
    );
    line('flotilla_resilience_timeouts_total{policy="catalog-timeout",target="catalog",cause="timeout"} 0');
    // A second instance on the same registry reuses the metric objects instead of failing.
    new ResilienceMetrics({ registry }).register(new Bulkhead({ name: 'other' }));
    off();
    const after = await registry.metrics();
    expect(after).not.toContain('catalog-cb');
    expect(after).toContain('policy="other"');
  });
});
