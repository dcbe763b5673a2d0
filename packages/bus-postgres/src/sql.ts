/** The SQL of the PostgreSQL transport, in one place so it can be read as a protocol. */

/** NOTIFY channel: payload is the topic that got messages. */
export const QUEUE_CHANNEL = 'flotilla_bus';
/** NOTIFY channel: payload is the reply address that got a reply. */
export const REPLY_CHANNEL = 'flotilla_bus_reply';

/**
 * Fan-out at publish time: one queue row per subscribed group, in message order, in the same
 * statement (so one commit) as the NOTIFY that wakes the consumers of those topics.
 */
export const PUBLISH = `
  WITH m AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::jsonb[]) WITH ORDINALITY
      AS m(topic, message_id, msg_key, envelope, payload, ord)
  ), ins AS (
    INSERT INTO flotilla_bus_queue (topic, grp, message_id, msg_key, envelope, payload)
    SELECT m.topic, s.grp, m.message_id, m.msg_key, m.envelope, m.payload
    FROM m JOIN flotilla_bus_subscriptions s ON s.topic = m.topic
    ORDER BY m.ord, s.grp
    RETURNING topic
  )
  SELECT pg_notify('${QUEUE_CHANNEL}', t.topic) FROM (SELECT DISTINCT topic FROM ins) t`;

export const DECLARE_GROUP = `
  INSERT INTO flotilla_bus_subscriptions (topic, grp) VALUES ($1, $2) ON CONFLICT DO NOTHING`;

/**
 * Claims up to $3 visible messages of ($1 topic, $2 group), oldest first, and leases them for
 * $4 ms. SKIP LOCKED lets competing consumers claim disjoint rows without waiting on each other;
 * the lease (visible_at in the future) hides a claimed row until it is acknowledged, retried, or
 * the lease runs out because its consumer died. Each claim gets a fresh claim_id, so a settle
 * from an expired claim cannot touch the row after someone else claimed it.
 */
const claim = (extraCondition: string) => `
  WITH next AS (
    SELECT id FROM flotilla_bus_queue q
    WHERE topic = $1 AND grp = $2 AND visible_at <= now() ${extraCondition}
    ORDER BY id
    LIMIT $3
    FOR UPDATE SKIP LOCKED
  )
  UPDATE flotilla_bus_queue q
  SET visible_at = now() + $4 * interval '1 millisecond', attempts = q.attempts + 1, claim_id = gen_random_uuid()
  FROM next WHERE q.id = next.id
  RETURNING q.id, q.topic, q.envelope, q.payload, q.attempts, q.claim_id, q.first_failure_at`;

export const CLAIM = claim('');

/**
 * Per-key FIFO: a keyed row is claimable only when no earlier row of its key is left in the
 * group's queue, whatever that row's state (waiting, leased to a consumer, or delayed for a
 * retry). So a key has at most one message in flight, and a retried message stays ahead of its
 * successors. Rows leave the queue only by ack or dead-lettering.
 */
export const CLAIM_ORDERED = claim(`
    AND (msg_key IS NULL OR NOT EXISTS (
      SELECT 1 FROM flotilla_bus_queue e
      WHERE e.topic = q.topic AND e.grp = q.grp AND e.msg_key = q.msg_key AND e.id < q.id))`);

/** Extends the leases of the deliveries still in progress ($1 ids, $2 claim ids). */
export const RENEW = `
  UPDATE flotilla_bus_queue SET visible_at = now() + $3 * interval '1 millisecond'
  WHERE id = ANY($1::bigint[]) AND claim_id = ANY($2::uuid[])`;

/**
 * Acknowledges a batch: the acks that arrive while one DELETE is on its way go together in the
 * next. Each claim_id is a fresh UUID, so `claim_id = ANY` matches only the claim that made it.
 */
export const ACK = `
  DELETE FROM flotilla_bus_queue WHERE id = ANY($1::bigint[]) AND claim_id = ANY($2::uuid[]) RETURNING id`;

export const RETRY = `
  UPDATE flotilla_bus_queue
  SET visible_at = now() + $3 * interval '1 millisecond', claim_id = NULL,
      first_failure_at = coalesce(first_failure_at, to_timestamp($4 / 1000.0)),
      last_failure_at = to_timestamp($4 / 1000.0), last_error = $5
  WHERE id = $1 AND claim_id = $2`;

/** Removal from the queue and the dead-letter record in one statement: nothing lost in between. */
export const DEAD_LETTER = `
  WITH d AS (DELETE FROM flotilla_bus_queue WHERE id = $1 AND claim_id = $2 RETURNING *)
  INSERT INTO flotilla_bus_dead_letters
    (id, topic, grp, message_id, msg_key, envelope, payload, reason, error, attempts, first_failure_at, last_failure_at)
  SELECT $3, topic, grp, message_id, msg_key, jsonb_set(envelope, '{attempt}', to_jsonb(attempts)), payload,
         $4, $5, $6, to_timestamp($7 / 1000.0), to_timestamp($8 / 1000.0)
  FROM d`;

/** Dead-letter selection shared by list, replay and purge: $1 topic, $2 group, $3 ids (each optional). */
const DL_FILTER = `($1::text IS NULL OR topic = $1) AND ($2::text IS NULL OR grp = $2)
  AND ($3::text[] IS NULL OR id::text = ANY($3::text[]))`;

export const DL_LIST = `
  SELECT id, topic, grp, envelope, payload, reason, error, attempts, first_failure_at, last_failure_at
  FROM flotilla_bus_dead_letters WHERE ${DL_FILTER} ORDER BY id LIMIT $4`;

export const DL_PURGE = `DELETE FROM flotilla_bus_dead_letters WHERE ${DL_FILTER}`;

/** Back to the group's queue with attempt 1 and the same messageId; behind what is queued now. */
export const DL_REPLAY = `
  WITH d AS (DELETE FROM flotilla_bus_dead_letters WHERE ${DL_FILTER} RETURNING *),
  ins AS (
    INSERT INTO flotilla_bus_queue (topic, grp, message_id, msg_key, envelope, payload)
    SELECT topic, grp, message_id, msg_key, jsonb_set(envelope, '{attempt}', '1'), payload FROM d ORDER BY id
    RETURNING topic
  ),
  n AS (SELECT pg_notify('${QUEUE_CHANNEL}', t.topic) FROM (SELECT DISTINCT topic FROM ins) t)
  SELECT (SELECT count(*) FROM ins)::int AS count, (SELECT count(*) FROM n)::int AS notified`;

export const SEND_REPLY = `
  WITH r AS (
    INSERT INTO flotilla_bus_replies (address, envelope, payload, expires_at)
    VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond') RETURNING address
  )
  SELECT pg_notify('${REPLY_CHANNEL}', address) FROM r`;

export const TAKE_REPLIES = 'DELETE FROM flotilla_bus_replies WHERE address = $1 RETURNING envelope, payload';

export const EXPIRE_REPLIES = 'DELETE FROM flotilla_bus_replies WHERE expires_at < now()';

/** A claimed queue row. */
export interface ClaimedRow {
  id: string;
  topic: string;
  envelope: Record<string, unknown>;
  payload: unknown;
  attempts: number;
  claim_id: string;
  first_failure_at: Date | null;
}

/** A dead-letter row. */
export interface DeadLetterRow {
  id: string;
  topic: string;
  grp: string;
  envelope: Record<string, unknown>;
  payload: unknown;
  reason: string;
  error: Record<string, unknown>;
  attempts: number;
  first_failure_at: Date;
  last_failure_at: Date;
}

/** Gives back rows claimed by a consumer that closed before handing them out (not an attempt). */
export const RELEASE = `
  UPDATE flotilla_bus_queue SET visible_at = now(), claim_id = NULL, attempts = attempts - 1
  WHERE id = ANY($1::bigint[]) AND claim_id = ANY($2::uuid[])`;
