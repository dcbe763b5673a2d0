-- Config store: every change is a revision (author, message, time); the current values are
-- kept materialized for fast loads, and every change of every key is kept for history and
-- restores. `service` 'application' means every service, `env` '' every environment,
-- `versions` '' every version (else a semver range).

CREATE TABLE flotilla_config_revisions (
  revision      bigint PRIMARY KEY,
  author        text NOT NULL,
  message       text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  restored_from bigint REFERENCES flotilla_config_revisions (revision)
);

CREATE TABLE flotilla_config_changes (
  revision  bigint NOT NULL REFERENCES flotilla_config_revisions (revision),
  service   text NOT NULL,
  env       text NOT NULL,
  versions  text NOT NULL,
  key       text NOT NULL,
  -- NULL: the key was deleted by this revision.
  value     jsonb,
  PRIMARY KEY (revision, service, env, versions, key)
);

CREATE INDEX flotilla_config_changes_scope ON flotilla_config_changes (service, env, versions, key, revision DESC);

CREATE TABLE flotilla_config_values (
  service   text NOT NULL,
  env       text NOT NULL,
  versions  text NOT NULL,
  key       text NOT NULL,
  value     jsonb NOT NULL,
  revision  bigint NOT NULL REFERENCES flotilla_config_revisions (revision),
  PRIMARY KEY (service, env, versions, key)
);
