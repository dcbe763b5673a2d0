import type { Envelope } from '@flotilla/core';
import type { TransportMessage } from '../adapter.js';
import type { Queryable } from './outbox.js';

/**
 * Why the relay reads `xid < pg_snapshot_xmin(pg_current_snapshot())`, ordered by (xid, id):
 *
 * Outbox ids come from a sequence when the row is inserted, but rows become visible when their
 * transaction commits. A relay that remembers "published up to id N" loses a row whose
 * transaction took id N-1 and committed after the relay had read N: the sequence-gap trap.
 *
 * Each row records the id of its top-level transaction (`xid8`, assigned at the transaction's
 * first write and increasing). `pg_snapshot_xmin` of the current snapshot is the oldest
 * transaction id still running; every transaction below it has ended, committed or rolled back,
 * and every transaction that is running or yet to start has an id at or above it. So the rows
 * with `xid < xmin` are final: no row with a smaller (xid, id) can appear later. The relay
 * publishes only those, in (xid, id) order, and the published stream never goes back in that
 * order: a transaction that commits late holds back the transactions that started writing after
 * it (rather than being skipped or overtaken), and a transaction that commits before another
 * begins is published before it. Rows are selected by their own `published_at`, not by a
 * remembered watermark, so even a row that somehow fell behind would still be published.
 *
 * The cost: a transaction that stays open (anywhere on the server) holds the relay back until it
 * ends, as it holds back vacuum. Keep transactions short.
 */
const SELECT_FINAL_ROWS = `
  SELECT id, topic, envelope, payload FROM flotilla_outbox
  WHERE published_at IS NULL AND xid < pg_snapshot_xmin(pg_current_snapshot())
  ORDER BY xid, id
  LIMIT $1`;

const MARK_PUBLISHED = 'UPDATE flotilla_outbox SET published_at = now() WHERE id = ANY($1::bigint[])';
const DELETE_PUBLISHED = 'DELETE FROM flotilla_outbox WHERE id = ANY($1::bigint[])';

interface OutboxRow {
  id: string;
  topic: string;
  envelope: Envelope;
  payload: unknown;
}

/**
 * One relay step: reads up to `limit` final rows in order, publishes them (resolving only after
 * the broker confirmed), then marks them published (or deletes them when `deleteOnPublish`).
 * A crash between publish and mark publishes them again: at-least-once; inboxes deduplicate by
 * `messageId`, which the outbox fixed at insert. Returns how many rows were published.
 */
export async function relayBatch(
  client: Queryable,
  publish: (messages: readonly TransportMessage[]) => Promise<void>,
  limit: number,
  deleteOnPublish = false,
): Promise<number> {
  const { rows } = await client.query<OutboxRow>(SELECT_FINAL_ROWS, [limit]);
  if (rows.length === 0) return 0;
  await publish(rows.map((r) => ({ topic: r.topic, envelope: r.envelope, payload: r.payload })));
  await client.query(deleteOnPublish ? DELETE_PUBLISHED : MARK_PUBLISHED, [rows.map((r) => r.id)]);
  return rows.length;
}

/** Deletes published rows older than `retainMs`, at most `limit` per call; returns how many. */
export async function deletePublished(client: Queryable, retainMs: number, limit = 10_000): Promise<number> {
  const result = await client.query(
    `DELETE FROM flotilla_outbox WHERE id IN (
       SELECT id FROM flotilla_outbox
       WHERE published_at IS NOT NULL AND published_at < now() - $1 * interval '1 millisecond'
       LIMIT $2)`,
    [retainMs, limit],
  );
  return result.rowCount ?? 0;
}
