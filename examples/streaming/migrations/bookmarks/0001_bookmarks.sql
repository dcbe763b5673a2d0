-- Where each user stopped each title.
CREATE TABLE bookmarks (
  user_id text NOT NULL,
  title_id text NOT NULL,
  position_seconds int NOT NULL CHECK (position_seconds >= 0),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, title_id)
);
