import type { Envelope } from '@flotilla/core';
import { withTransaction } from '@flotilla/postgres';
import type { Pool, PoolClient } from 'pg';
import { assertInteger, assertName } from '../names.js';
import type { Queryable } from '../outbox/outbox.js';

/** Options of `createInbox`. */
export interface InboxOptions {
  /** How long a processed message id is remembered; default 7 days. */
  retentionMs?: number;
}

/** What `inbox.handle` did. */
export type InboxResult<T> = { readonly duplicate: true } | { readonly duplicate: false; readonly result: T };

/**
 * The idempotent inbox: `(consumer, messageId)` is recorded in the same transaction as the
 * handler's writes, so a message delivered again (a redelivery after a crash between commit and
 * ack, an outbox relay publishing twice) finds its record and is not handled twice. A message
 * redelivered after the retention window would be handled again: keep the window longer than
 * redeliveries and replays can take.
 */
export class Inbox {
  readonly retentionMs: number;

  constructor(options: InboxOptions = {}) {
    this.retentionMs = assertInteger('retentionMs', options.retentionMs ?? 7 * 24 * 3600_000, 1);
  }

  /**
   * Runs `fn` in a transaction on `pool` unless `consumer` already handled `envelope.messageId`;
   * the record and `fn`'s writes commit together. A concurrent duplicate waits for the first
   * transaction and then sees the record.
   */
  handle<T>(
    pool: Pool,
    consumer: string,
    envelope: Pick<Envelope, 'messageId'>,
    fn: (client: PoolClient) => Promise<T>,
  ): Promise<InboxResult<T>> {
    assertName('consumer', consumer);
    return withTransaction(pool, async (client) => {
      const inserted = await client.query(
        'INSERT INTO flotilla_inbox (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING',
        [consumer, envelope.messageId],
      );
      if (inserted.rowCount === 0) return { duplicate: true } as const;
      return { duplicate: false, result: await fn(client) } as const;
    });
  }

  /** Forgets message ids older than the retention window, at most `limit` per call; returns how many. */
  async purgeExpired(client: Queryable, limit = 10_000): Promise<number> {
    const result = await client.query(
      `DELETE FROM flotilla_inbox WHERE (consumer, message_id) IN (
         SELECT consumer, message_id FROM flotilla_inbox
         WHERE received_at < now() - $1 * interval '1 millisecond' LIMIT $2)`,
      [this.retentionMs, limit],
    );
    return result.rowCount ?? 0;
  }
}

/** Creates an inbox. */
export function createInbox(options: InboxOptions = {}): Inbox {
  return new Inbox(options);
}
