-- Every play started. Written in the same transaction as its play.started event (outbox), so
-- a play is recorded if and only if its event is published.
CREATE TABLE plays (
  play_id text PRIMARY KEY,
  user_id text NOT NULL,
  title_id text NOT NULL,
  device text NOT NULL,
  network text NOT NULL,
  position_seconds int NOT NULL,
  started_at timestamptz NOT NULL
);

CREATE INDEX plays_user_started ON plays (user_id, started_at DESC);
