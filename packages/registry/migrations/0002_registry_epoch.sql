-- The id of this database's revision history, shared by every registry process on it. Watch
-- resume ids carry it: an id from another database (or from a memory registry) never resumes
-- here, even at a revision this one has reached. Random, created once (for the existing row too:
-- a volatile default is evaluated when the column is added).
ALTER TABLE registry_state
  ADD COLUMN epoch text NOT NULL DEFAULT md5(random()::text || clock_timestamp()::text);
