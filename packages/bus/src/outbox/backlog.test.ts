import { createLogger } from '@flotilla/core';
import { test } from '@flotilla/testkit';
import { Type } from '@sinclair/typebox';
import type { Pool } from 'pg';
import { Registry } from 'prom-client';
import { describe, expect } from 'vitest';
import type { TransportMessage } from '../adapter.js';
import { createBus } from '../bus.js';
import { waitFor } from '../conformance/harness.js';
import { createMemoryAdapter } from '../memory/adapter.js';
import { defineMessage } from '../message.js';
import { migrateOutboxInbox } from '../migrations.js';
import { createOutbox } from './outbox.js';
import { OutboxRelay } from './relay.js';

const Placed = defineMessage('order.placed', Type.Object({ n: Type.Integer() }), { topic: 'orders' });
const Charged = defineMessage('payment.charged', Type.Object({ n: Type.Integer() }), { topic: 'payments' });
const logger = createLogger({ service: 'test', level: process.env.FLOTILLA_LOG_LEVEL ?? 'silent' });

/** The gauges of `topic` as a scrape sees them; undefined for a series that is absent. */
async function backlog(registry: Registry, topic: string) {
  const metrics = await registry.getMetricsAsJSON();
  const of = (name: string) =>
    metrics.find((m) => m.name === name)?.values.find((v) => v.labels.topic === topic)?.value;
  return {
    pending: of('flotilla_bus_outbox_pending'),
    age: of('flotilla_bus_outbox_oldest_age_seconds'),
  };
}

/**
 * What a service wires: a bus recording in its registry and a relay forwarding through it, but
 * the broker fails until `broker.up` is set.
 */
async function service(pool: Pool) {
  await migrateOutboxInbox({ pool });
  const registry = new Registry();
  const bus = await createBus({ adapter: createMemoryAdapter(), service: 'shop', logger, metrics: registry });
  const broker = { up: false };
  const publish = (messages: readonly TransportMessage[]) =>
    broker.up ? bus.forward(messages) : Promise.reject(new Error('broker unavailable'));
  const relay = new OutboxRelay({ pool, publish, pollIntervalMs: 20, logger });
  return { registry, broker, relay, close: () => relay.stop().then(() => bus.close()) };
}

describe('outbox backlog metrics', () => {
  test('counts committed rows as pending while the broker fails, and 0 once they are published', async ({
    postgres,
  }) => {
    const { registry, broker, relay, close } = await service(postgres.pool);
    const outbox = createOutbox();
    const open = await postgres.pool.connect();
    try {
      relay.start();
      await outbox.publish(postgres.pool, Placed, { n: 1 });
      await outbox.publish(postgres.pool, Placed, { n: 2 });
      await outbox.publish(postgres.pool, Charged, { n: 3 });
      // A row of a transaction still open is not committed, so not pending.
      await open.query('BEGIN');
      await outbox.publish(open, Placed, { n: 4 });

      const first = await backlog(registry, 'orders');
      expect(first.pending).toBe(2);
      expect(first.age).toBeGreaterThan(0);
      expect((await backlog(registry, 'payments')).pending).toBe(1);
      await waitFor(
        async () => ((await backlog(registry, 'orders')).age ?? 0) > (first.age ?? 0),
        'the oldest age to grow while the broker fails',
      );
      expect((await backlog(registry, 'orders')).pending).toBe(2);

      await open.query('ROLLBACK');
      broker.up = true;
      await waitFor(async () => {
        const [orders, payments] = [await backlog(registry, 'orders'), await backlog(registry, 'payments')];
        return orders.pending === 0 && payments.pending === 0;
      }, 'the backlog drained');
      expect(await backlog(registry, 'orders')).toEqual({ pending: 0, age: 0 });
      expect(await backlog(registry, 'payments')).toEqual({ pending: 0, age: 0 });
    } finally {
      open.release();
      await close();
    }
  });

  test('shows a topic the relay published at 0, before any scrape saw it pending', async ({ postgres }) => {
    const { registry, broker, relay, close } = await service(postgres.pool);
    try {
      broker.up = true;
      relay.start();
      await createOutbox().publish(postgres.pool, Placed, { n: 1 });
      await waitFor(async () => {
        const { rows } = await postgres.pool.query(
          'SELECT count(*)::int AS n FROM flotilla_outbox WHERE published_at IS NOT NULL',
        );
        return rows[0].n === 1;
      }, 'the message relayed');
      expect(await backlog(registry, 'orders')).toEqual({ pending: 0, age: 0 });
    } finally {
      await close();
    }
  });

  test('keeps the last values when the backlog cannot be read, and drops them when the relay stops', async ({
    postgres,
  }) => {
    const { registry, relay, close } = await service(postgres.pool);
    try {
      relay.start();
      await createOutbox().publish(postgres.pool, Placed, { n: 1 });
      const before = await backlog(registry, 'orders');
      expect(before.pending).toBe(1);

      await postgres.pool.query('ALTER TABLE flotilla_outbox RENAME TO flotilla_outbox_away');
      const during = await backlog(registry, 'orders');
      expect(during.pending).toBe(1);
      expect(during.age).toBeGreaterThanOrEqual(before.age ?? Number.POSITIVE_INFINITY);
      await postgres.pool.query('ALTER TABLE flotilla_outbox_away RENAME TO flotilla_outbox');

      await relay.stop();
      expect(await backlog(registry, 'orders')).toEqual({ pending: undefined, age: undefined });
    } finally {
      await close();
    }
  });
});
