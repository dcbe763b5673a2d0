-- Registry state shared by every registry process on this database.

-- One row per registered instance. `data` is the instance as the API serves it; renewal times
-- live in their own column because renewals are frequent and are not revisioned changes.
CREATE TABLE registry_instances (
  service text NOT NULL,
  instance_id text NOT NULL,
  data jsonb NOT NULL,
  revision bigint NOT NULL,
  last_renewed_at bigint NOT NULL,
  lease_duration_ms bigint NOT NULL,
  renewal_seq bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (service, instance_id)
);
CREATE INDEX registry_instances_renewal_seq ON registry_instances (renewal_seq);

-- The change log behind watch resumption (Last-Event-ID) across registry processes.
CREATE TABLE registry_changes (
  revision bigint PRIMARY KEY,
  type text NOT NULL CHECK (type IN ('registered', 'updated', 'deregistered', 'evicted')),
  at bigint NOT NULL,
  instance jsonb NOT NULL
);
CREATE INDEX registry_changes_at ON registry_changes (at);

-- The revision counter. Every change updates this single row in the statement that writes the
-- change, so concurrent writers serialize on its lock and commit in revision order: a listener
-- never sees revision n+1 before n. `pruned_through` is the newest revision pruned from the log.
CREATE TABLE registry_state (
  id int PRIMARY KEY CHECK (id = 1),
  revision bigint NOT NULL,
  pruned_through bigint NOT NULL
);
INSERT INTO registry_state (id, revision, pruned_through) VALUES (1, 0, 0);

CREATE SEQUENCE registry_renewal_seq;
