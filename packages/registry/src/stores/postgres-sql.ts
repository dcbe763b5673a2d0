/**
 * The PostgreSQL store's statements. Each change is one statement (so one implicit transaction
 * and one round trip): bump the revision row, write the instance, append to the change log and
 * NOTIFY, all committed together. NOTIFYs are delivered in commit order, which the revision row
 * lock makes revision order.
 */

export const CHANGES_CHANNEL = 'flotilla_registry_changes';
export const RENEWALS_CHANNEL = 'flotilla_registry_renewals';

/** NOTIFY payloads are limited to 8000 bytes; bigger changes are announced by revision only. */
const NOTIFY_LIMIT = 7_900;

const payload = (revisionExpr: string) => `
  CASE WHEN octet_length(p.text) < ${NOTIFY_LIMIT} THEN p.text
       ELSE json_build_object('node', $NODE::text, 'revision', ${revisionExpr}, 'truncated', true)::text END`;

/** $1 service, $2 instance id, $3 data, $4 last renewed, $5 lease ms, $6 type, $7 at, $8 node. */
export const PUT_SQL = `
WITH rev AS (
  UPDATE registry_state SET revision = revision + 1 WHERE id = 1 RETURNING revision
), ins AS (
  INSERT INTO registry_instances AS i (service, instance_id, data, revision, last_renewed_at, lease_duration_ms)
  SELECT $1, $2, jsonb_set($3::jsonb, '{revision}', to_jsonb(rev.revision)), rev.revision, $4, $5 FROM rev
  ON CONFLICT (service, instance_id) DO UPDATE SET
    data = excluded.data,
    revision = excluded.revision,
    last_renewed_at = greatest(i.last_renewed_at, excluded.last_renewed_at),
    lease_duration_ms = excluded.lease_duration_ms
  RETURNING i.revision, i.data, i.last_renewed_at
), ch AS (
  SELECT ins.revision,
         jsonb_set(ins.data, '{lastRenewedAt}', to_jsonb(ins.last_renewed_at)) AS instance
  FROM ins
), log AS (
  INSERT INTO registry_changes (revision, type, at, instance) SELECT ch.revision, $6, $7, ch.instance FROM ch
)
SELECT ch.revision, ch.instance, pg_notify('${CHANGES_CHANNEL}', ${payload('ch.revision')})
FROM ch, LATERAL (
  SELECT json_build_object('node', $8::text, 'change',
    json_build_object('revision', ch.revision, 'type', $6::text, 'at', $7::bigint, 'instance', ch.instance))::text AS text
) p`.replaceAll('$NODE', '$8');

/**
 * $1 service, $2 instance id, $3 expired-at (null: unconditional), $4 type, $5 at, $6 node.
 * `USING rev` makes the revision row lock come before the instance row lock, in every writer.
 */
export const REMOVE_SQL = `
WITH rev AS (
  UPDATE registry_state SET revision = revision + 1 WHERE id = 1 RETURNING revision
), del AS (
  DELETE FROM registry_instances i USING rev
  WHERE i.service = $1 AND i.instance_id = $2
    AND ($3::bigint IS NULL OR i.last_renewed_at + i.lease_duration_ms < $3::bigint)
  RETURNING rev.revision, i.data, i.last_renewed_at
), ch AS (
  SELECT del.revision,
         jsonb_set(jsonb_set(jsonb_set(del.data, '{revision}', to_jsonb(del.revision)),
           '{updatedAt}', to_jsonb($5::bigint)), '{lastRenewedAt}', to_jsonb(del.last_renewed_at)) AS instance
  FROM del
), log AS (
  INSERT INTO registry_changes (revision, type, at, instance) SELECT ch.revision, $4, $5, ch.instance FROM ch
)
SELECT ch.revision, ch.instance, pg_notify('${CHANGES_CHANNEL}', ${payload('ch.revision')})
FROM ch, LATERAL (
  SELECT json_build_object('node', $6::text, 'change',
    json_build_object('revision', ch.revision, 'type', $4::text, 'at', $5::bigint, 'instance', ch.instance))::text AS text
) p`.replaceAll('$NODE', '$6');

/** $1 services, $2 instance ids, $3 times, $4 node, $5 renewal count (before coalescing). */
export const FLUSH_RENEWALS_SQL = `
WITH v AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) AS v(service, instance_id, at)
), u AS (
  UPDATE registry_instances i
  SET last_renewed_at = greatest(i.last_renewed_at, v.at), renewal_seq = nextval('registry_renewal_seq')
  FROM v WHERE i.service = v.service AND i.instance_id = v.instance_id
  RETURNING i.service, i.instance_id
)
SELECT (SELECT count(*) FROM u)::int AS updated,
       pg_notify('${RENEWALS_CHANNEL}', json_build_object('node', $4::text, 'count', $5::int)::text)`;

export const RENEWED_SINCE_SQL = `
SELECT service, instance_id, last_renewed_at, renewal_seq FROM registry_instances
WHERE renewal_seq > $1 ORDER BY renewal_seq`;

export const RENEWAL_OF_SQL =
  'SELECT last_renewed_at FROM registry_instances WHERE service = $1 AND instance_id = $2';

export const SNAPSHOT_SQL = `
SELECT jsonb_set(data, '{lastRenewedAt}', to_jsonb(last_renewed_at)) AS instance FROM registry_instances`;

export const CHANGES_SINCE_SQL = `
SELECT revision, type, at, instance FROM registry_changes WHERE revision > $1 ORDER BY revision`;

export const CHANGE_AT_SQL = `SELECT revision, type, at, instance FROM registry_changes WHERE revision = $1`;

export const STATE_SQL = 'SELECT epoch, revision, pruned_through FROM registry_state WHERE id = 1';

export const MAX_RENEWAL_SEQ_SQL = 'SELECT coalesce(max(renewal_seq), 0) AS seq FROM registry_instances';

/** Deletes log entries older than $1 (ms), keeping the newest, and records how far it pruned. */
export const PRUNE_SQL = `
WITH gone AS (
  DELETE FROM registry_changes
  WHERE at < $1 AND revision < (SELECT max(revision) FROM registry_changes)
  RETURNING revision
)
UPDATE registry_state SET pruned_through = greatest(pruned_through, (SELECT max(revision) FROM gone))
WHERE id = 1 AND EXISTS (SELECT 1 FROM gone)`;

/** One leader among the registry processes on this database: a session-level advisory lock. */
export const TRY_LEAD_SQL = "SELECT pg_try_advisory_lock(hashtext('flotilla.registry.leader')) AS leader";
