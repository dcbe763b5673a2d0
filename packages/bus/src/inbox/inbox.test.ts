import { newId } from '@flotilla/core';
import { test } from '@flotilla/testkit';
import { describe, expect } from 'vitest';
import { migrateOutboxInbox } from '../migrations.js';
import { createInbox } from './inbox.js';

async function setup(pool: import('pg').Pool) {
  await migrateOutboxInbox({ pool });
  await pool.query('CREATE TABLE effects (message_id text NOT NULL)');
}

async function effects(pool: import('pg').Pool): Promise<number> {
  const { rows } = await pool.query('SELECT count(*)::int AS n FROM effects');
  return rows[0].n;
}

describe('idempotent inbox', () => {
  test('runs the handler once for a message delivered twice', async ({ postgres }) => {
    await setup(postgres.pool);
    const inbox = createInbox();
    const envelope = { messageId: newId() };
    const apply = (client: import('pg').PoolClient) =>
      client.query('INSERT INTO effects VALUES ($1)', [envelope.messageId]).then(() => 'applied');
    expect(await inbox.handle(postgres.pool, 'billing', envelope, apply)).toEqual({
      duplicate: false,
      result: 'applied',
    });
    expect(await inbox.handle(postgres.pool, 'billing', envelope, apply)).toEqual({ duplicate: true });
    expect(await effects(postgres.pool)).toBe(1);
    // Another consumer of the same message has its own record.
    expect(await inbox.handle(postgres.pool, 'shipping', envelope, apply)).toMatchObject({
      duplicate: false,
    });
  });

  test('records nothing when the handler fails, so the retry runs it', async ({ postgres }) => {
    await setup(postgres.pool);
    const inbox = createInbox();
    const envelope = { messageId: newId() };
    await expect(
      inbox.handle(postgres.pool, 'billing', envelope, async (client) => {
        await client.query('INSERT INTO effects VALUES ($1)', [envelope.messageId]);
        throw new Error('handler failed');
      }),
    ).rejects.toThrow('handler failed');
    expect(await effects(postgres.pool)).toBe(0);
    await inbox.handle(postgres.pool, 'billing', envelope, (client) =>
      client.query('INSERT INTO effects VALUES ($1)', [envelope.messageId]),
    );
    expect(await effects(postgres.pool)).toBe(1);
  });

  test('of two concurrent deliveries, one runs and the other is a duplicate', async ({ postgres }) => {
    await setup(postgres.pool);
    const inbox = createInbox();
    const envelope = { messageId: newId() };
    const results = await Promise.all(
      [1, 2].map(() =>
        inbox.handle(postgres.pool, 'billing', envelope, async (client) => {
          await client.query('INSERT INTO effects VALUES ($1)', [envelope.messageId]);
          await new Promise((r) => setTimeout(r, 50));
        }),
      ),
    );
    expect(results.map((r) => r.duplicate).sort()).toEqual([false, true]);
    expect(await effects(postgres.pool)).toBe(1);
  });

  test('forgets message ids older than the retention window', async ({ postgres }) => {
    await setup(postgres.pool);
    const inbox = createInbox({ retentionMs: 60_000 });
    const old = { messageId: newId() };
    const recent = { messageId: newId() };
    await inbox.handle(postgres.pool, 'billing', old, async () => {});
    await inbox.handle(postgres.pool, 'billing', recent, async () => {});
    await postgres.pool.query(
      "UPDATE flotilla_inbox SET received_at = now() - interval '1 hour' WHERE message_id = $1",
      [old.messageId],
    );
    expect(await inbox.purgeExpired(postgres.pool)).toBe(1);
    expect(await inbox.handle(postgres.pool, 'billing', recent, async () => {})).toEqual({ duplicate: true });
  });
});
