import { createLogger } from '@flotilla/core';
import { Type } from '@sinclair/typebox';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createBus } from './bus.js';
import { waitFor } from './conformance/harness.js';
import { createMemoryAdapter } from './memory/adapter.js';
import { defineMessage } from './message.js';
import { BusMetrics } from './metrics.js';

const logger = createLogger({ service: 'test', level: process.env.FLOTILLA_LOG_LEVEL ?? 'silent' });
const Charged = defineMessage('payment.charged', Type.Object({ id: Type.String() }), { topic: 'payments' });
const fastBackoff = { initialDelayMs: 1, maxDelayMs: 5 };

/** The value of one series (a histogram's `_count` included), 0 if it was never touched. */
async function value(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const series = (await registry.getMetricsAsJSON())
    .flatMap((m) =>
      m.values.map((v) => ({ ...v, name: (v as { metricName?: string }).metricName ?? m.name })),
    )
    .find(
      (v) =>
        v.name === name &&
        Object.entries(labels).every(([k, l]) => (v.labels as Record<string, unknown>)[k] === l),
    );
  return series?.value ?? 0;
}

/** A bus on the in-memory adapter reporting to `registry`. */
function memoryBus(service: string, registry: Registry) {
  return createBus({ adapter: createMemoryAdapter(), service, logger, metrics: registry });
}

describe('bus metrics', () => {
  it('counts publishes, acks, retries and dead letters, and times the handler', async () => {
    const registry = new Registry();
    const bus = await memoryBus('ledger', registry);
    try {
      const settled: string[] = [];
      await bus.subscribe(Charged, { maxAttempts: 2, backoff: fastBackoff }, ({ payload, envelope }) => {
        // 'flaky' fails once then succeeds; 'poison' fails every time.
        const fails = payload.id === 'poison' || (payload.id === 'flaky' && envelope.attempt === 1);
        settled.push(`${payload.id}#${envelope.attempt}`);
        if (fails) throw new Error(`${payload.id} failed`);
      });
      await bus.publish(Charged, { id: 'flaky' });
      await bus.publish(Charged, { id: 'poison' });
      await waitFor(
        async () => (await bus.deadLetters.list()).length === 1,
        'the poison message dead-lettered',
      );
      await waitFor(
        async () => (await value(registry, 'flotilla_bus_messages_handled_total', { outcome: 'ack' })) === 1,
        'the flaky message acknowledged',
      );

      const handled = { topic: 'payments', group: 'ledger' };
      expect(await value(registry, 'flotilla_bus_messages_published_total', { topic: 'payments' })).toBe(2);
      expect(
        await value(registry, 'flotilla_bus_messages_handled_total', { ...handled, outcome: 'ack' }),
      ).toBe(1);
      expect(
        await value(registry, 'flotilla_bus_messages_handled_total', { ...handled, outcome: 'retry' }),
      ).toBe(2);
      expect(
        await value(registry, 'flotilla_bus_messages_handled_total', { ...handled, outcome: 'dead_letter' }),
      ).toBe(1);
      expect(await value(registry, 'flotilla_bus_handler_duration_seconds_count', handled)).toBe(
        settled.length,
      );
    } finally {
      await bus.close();
    }
  });

  it('counts messages forwarded by the outbox relay as published', async () => {
    const registry = new Registry();
    const bus = await memoryBus('ledger', registry);
    try {
      await bus.forward([
        { topic: 'payments', envelope: await bus.publish(Charged, { id: 'p-1' }), payload: { id: 'p-1' } },
      ]);
      expect(await value(registry, 'flotilla_bus_messages_published_total', { topic: 'payments' })).toBe(2);
    } finally {
      await bus.close();
    }
  });

  it('lets several buses share one registry', async () => {
    const registry = new Registry();
    const metrics = new BusMetrics({ registry });
    const first = await createBus({ adapter: createMemoryAdapter(), service: 'ledger', logger, metrics });
    const second = await memoryBus('billing', registry);
    try {
      await first.publish(Charged, { id: 'p-1' });
      await second.publish(Charged, { id: 'p-2' });
      expect(await value(registry, 'flotilla_bus_messages_published_total', { topic: 'payments' })).toBe(2);
    } finally {
      await first.close();
      await second.close();
    }
  });
});
