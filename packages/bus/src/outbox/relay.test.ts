import { createLogger } from '@flotilla/core';
import { test } from '@flotilla/testkit';
import { Type } from '@sinclair/typebox';
import { describe, expect } from 'vitest';
import type { TransportMessage } from '../adapter.js';
import { waitFor } from '../conformance/harness.js';
import { defineMessage } from '../message.js';
import { migrateOutboxInbox } from '../migrations.js';
import { createOutbox } from './outbox.js';
import { OutboxRelay } from './relay.js';

const Placed = defineMessage('order.placed', Type.Object({ n: Type.Integer() }), { topic: 'orders' });
const logger = createLogger({ service: 'test', level: process.env.FLOTILLA_LOG_LEVEL ?? 'silent' });

describe('outbox relay', () => {
  test('one relay is active per database; a standby takes over when it stops', async ({ postgres }) => {
    await migrateOutboxInbox({ pool: postgres.pool });
    const outbox = createOutbox();
    const published: TransportMessage[] = [];
    const publish = async (messages: readonly TransportMessage[]) => void published.push(...messages);
    const options = { pool: postgres.pool, publish, pollIntervalMs: 50, standbyRetryMs: 50, logger };
    const relays = [new OutboxRelay(options).start(), new OutboxRelay(options).start()];
    try {
      await waitFor(() => relays.some((r) => r.active), 'an active relay');
      await new Promise((r) => setTimeout(r, 200));
      expect(relays.filter((r) => r.active)).toHaveLength(1);
      for (let n = 0; n < 5; n++) await outbox.publish(postgres.pool, Placed, { n });
      await waitFor(() => published.length === 5, 'five messages relayed');

      const active = relays.find((r) => r.active) as OutboxRelay;
      await active.stop();
      const standby = relays.find((r) => r !== active) as OutboxRelay;
      await waitFor(() => standby.active, 'the standby to take over');
      for (let n = 5; n < 10; n++) await outbox.publish(postgres.pool, Placed, { n });
      await waitFor(() => published.length === 10, 'ten messages relayed');
      expect(published.map((m) => (m.payload as { n: number }).n)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    } finally {
      await Promise.all(relays.map((r) => r.stop()));
    }
  });

  test('deletes published rows after the retention', async ({ postgres }) => {
    await migrateOutboxInbox({ pool: postgres.pool });
    const published: TransportMessage[] = [];
    const publish = async (messages: readonly TransportMessage[]) => void published.push(...messages);
    await createOutbox().publish(postgres.pool, Placed, { n: 1 });
    const relay = new OutboxRelay({
      pool: postgres.pool,
      publish,
      pollIntervalMs: 20,
      retainPublishedMs: 1,
      cleanupIntervalMs: 1,
      logger,
    }).start();
    try {
      await waitFor(() => published.length === 1, 'the message relayed');
      await waitFor(async () => {
        const { rows } = await postgres.pool.query('SELECT count(*)::int AS n FROM flotilla_outbox');
        return rows[0].n === 0;
      }, 'the published row deleted');
    } finally {
      await relay.stop();
    }
  });
});
