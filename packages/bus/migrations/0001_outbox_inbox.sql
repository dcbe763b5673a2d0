-- Transactional outbox and idempotent inbox, in the service's own database.

CREATE TABLE flotilla_outbox (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- Top-level transaction id of the inserting transaction: the relay's ordering and horizon.
  xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  topic text NOT NULL,
  envelope jsonb NOT NULL,
  payload jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz
);

CREATE INDEX flotilla_outbox_pending ON flotilla_outbox (xid, id) WHERE published_at IS NULL;
CREATE INDEX flotilla_outbox_published ON flotilla_outbox (published_at) WHERE published_at IS NOT NULL;

CREATE TABLE flotilla_inbox (
  consumer text NOT NULL,
  message_id text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, message_id)
);

CREATE INDEX flotilla_inbox_received ON flotilla_inbox (received_at);
