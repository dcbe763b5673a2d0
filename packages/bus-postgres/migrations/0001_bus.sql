-- PostgreSQL bus transport: durable subscriptions, one queue row per (message, subscribed group),
-- dead letters and reply rows.

CREATE TABLE flotilla_bus_subscriptions (
  topic text NOT NULL,
  grp text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (topic, grp)
);

-- visible_at is in no index, so claims, lease renewals and retries are HOT updates; the fill
-- factor leaves room on each page for them.
CREATE TABLE flotilla_bus_queue (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  topic text NOT NULL,
  grp text NOT NULL,
  message_id text NOT NULL,
  msg_key text,
  envelope jsonb NOT NULL,
  payload jsonb NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  visible_at timestamptz NOT NULL DEFAULT now(),
  claim_id uuid,
  first_failure_at timestamptz,
  last_failure_at timestamptz,
  last_error jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 70);

CREATE INDEX flotilla_bus_queue_claim ON flotilla_bus_queue (topic, grp, id);
CREATE INDEX flotilla_bus_queue_key ON flotilla_bus_queue (topic, grp, msg_key, id) WHERE msg_key IS NOT NULL;

CREATE TABLE flotilla_bus_dead_letters (
  id uuid PRIMARY KEY,
  topic text NOT NULL,
  grp text NOT NULL,
  message_id text NOT NULL,
  msg_key text,
  envelope jsonb NOT NULL,
  payload jsonb NOT NULL,
  reason text NOT NULL,
  error jsonb NOT NULL,
  attempts integer NOT NULL,
  first_failure_at timestamptz NOT NULL,
  last_failure_at timestamptz NOT NULL,
  dead_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX flotilla_bus_dead_letters_topic ON flotilla_bus_dead_letters (topic, grp, id);

CREATE TABLE flotilla_bus_replies (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  address text NOT NULL,
  envelope jsonb NOT NULL,
  payload jsonb NOT NULL,
  expires_at timestamptz NOT NULL
);

CREATE INDEX flotilla_bus_replies_address ON flotilla_bus_replies (address, id);
CREATE INDEX flotilla_bus_replies_expiry ON flotilla_bus_replies (expires_at);
