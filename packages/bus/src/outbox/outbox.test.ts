import { test } from '@flotilla/testkit';
import { Type } from '@sinclair/typebox';
import type { Pool } from 'pg';
import { describe, expect } from 'vitest';
import type { TransportMessage } from '../adapter.js';
import { waitFor } from '../conformance/harness.js';
import { defineMessage } from '../message.js';
import { migrateOutboxInbox } from '../migrations.js';
import { createOutbox } from './outbox.js';
import { relayBatch } from './relay-batch.js';

const Placed = defineMessage('order.placed', Type.Object({ orderId: Type.String() }), { topic: 'orders' });

/** Relays until `expected` messages were published: other suites' transactions may hold the horizon a moment. */
async function relayAll(pool: Pool, publish: Publish, expected: number, published: TransportMessage[]) {
  for (let i = 0; i < 1000 && published.length < expected; i++) {
    if ((await relayBatch(pool, publish, 100)) === 0) await new Promise((r) => setTimeout(r, 10));
  }
}

type Publish = (messages: readonly TransportMessage[]) => Promise<void>;

function collector() {
  const published: TransportMessage[] = [];
  return {
    published,
    publish: async (messages: readonly TransportMessage[]) => void published.push(...messages),
  };
}

describe('transactional outbox', () => {
  test('publishes what committed and nothing of what rolled back', async ({ postgres }) => {
    await migrateOutboxInbox({ pool: postgres.pool });
    const outbox = createOutbox();
    const client = await postgres.pool.connect();
    try {
      await client.query('BEGIN');
      await outbox.publish(client, Placed, { orderId: 'kept' }, { key: 'kept' });
      await client.query('COMMIT');
      await client.query('BEGIN');
      await outbox.publish(client, Placed, { orderId: 'rolled-back' });
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    const { published, publish } = collector();
    await relayAll(postgres.pool, publish, 1, published);
    expect(await relayBatch(postgres.pool, publish, 100)).toBe(0);
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({
      topic: 'orders',
      envelope: { type: 'order.placed', key: 'kept', attempt: 1 },
      payload: { orderId: 'kept' },
    });
  });

  test('refuses an invalid message and writes nothing', async ({ postgres }) => {
    await migrateOutboxInbox({ pool: postgres.pool });
    const bad = { orderId: 7 } as unknown as { orderId: string };
    await expect(createOutbox().publish(postgres.pool, Placed, bad)).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
    const { rows } = await postgres.pool.query('SELECT count(*)::int AS n FROM flotilla_outbox');
    expect(rows[0].n).toBe(0);
  });

  test('does not skip a row whose transaction commits late, and keeps it first', async ({ postgres }) => {
    await migrateOutboxInbox({ pool: postgres.pool });
    const outbox = createOutbox();
    const early = await postgres.pool.connect();
    const late = await postgres.pool.connect();
    const { published, publish } = collector();
    try {
      // `early` takes the first id and keeps its transaction open; `late` takes the next id
      // and commits first. A relay that remembered "published up to id N" would publish the
      // second row and never see the first.
      await early.query('BEGIN');
      await outbox.publish(early, Placed, { orderId: 'first' });
      await late.query('BEGIN');
      await outbox.publish(late, Placed, { orderId: 'second' });
      await late.query('COMMIT');
      expect(await relayBatch(postgres.pool, publish, 100)).toBe(0);
      await early.query('COMMIT');
    } finally {
      early.release();
      late.release();
    }
    await relayAll(postgres.pool, publish, 2, published);
    expect(published.map((m) => (m.payload as { orderId: string }).orderId)).toEqual(['first', 'second']);
  });

  test('marks rows published only after the broker confirmed', async ({ postgres }) => {
    await migrateOutboxInbox({ pool: postgres.pool });
    const sent = await createOutbox().publish(postgres.pool, Placed, { orderId: 'o-1' });
    const calls: string[][] = [];
    let brokerUp = false;
    const publish = async (messages: readonly TransportMessage[]) => {
      calls.push(messages.map((m) => m.envelope.messageId));
      if (!brokerUp) throw new Error('broker unavailable');
    };
    await waitFor(
      () =>
        relayBatch(postgres.pool, publish, 100).then(
          () => false,
          () => true,
        ),
      'a relay step that reaches the failing broker',
    );
    const pending = await postgres.pool.query(
      'SELECT count(*)::int AS n FROM flotilla_outbox WHERE published_at IS NULL',
    );
    expect(pending.rows[0].n).toBe(1);
    brokerUp = true;
    expect(await relayBatch(postgres.pool, publish, 100)).toBe(1);
    expect(await relayBatch(postgres.pool, publish, 100)).toBe(0);
    expect(calls).toEqual([[sent.messageId], [sent.messageId]]);
    const { rows } = await postgres.pool.query('SELECT published_at FROM flotilla_outbox');
    expect(rows[0].published_at).toBeInstanceOf(Date);
  });
});
