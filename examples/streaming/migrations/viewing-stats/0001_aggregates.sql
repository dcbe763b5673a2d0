-- Aggregates of the plays topic. Both tables are written in the inbox transaction of the
-- message that changes them, so a redelivered play is never counted twice.

-- Plays per title in 1-minute tumbling windows, cut by event time (when the play started).
CREATE TABLE title_plays_per_minute (
  title_id text NOT NULL,
  window_start timestamptz NOT NULL,
  plays int NOT NULL,
  PRIMARY KEY (title_id, window_start)
);

CREATE INDEX title_plays_per_minute_window ON title_plays_per_minute (window_start);

-- The latest play of each title per user: the "continue watching" row.
CREATE TABLE continue_watching (
  user_id text NOT NULL,
  title_id text NOT NULL,
  position_seconds int NOT NULL,
  last_played_at timestamptz NOT NULL,
  PRIMARY KEY (user_id, title_id)
);

CREATE INDEX continue_watching_recent ON continue_watching (user_id, last_played_at DESC);
