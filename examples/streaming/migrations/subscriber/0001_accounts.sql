-- Accounts and their plans. The seed rows are the walk-through's users.
CREATE TABLE plans (
  plan text PRIMARY KEY,
  max_quality text NOT NULL CHECK (max_quality IN ('sd', 'hd', 'uhd')),
  max_streams int NOT NULL CHECK (max_streams > 0)
);

CREATE TABLE accounts (
  user_id text PRIMARY KEY,
  plan text NOT NULL REFERENCES plans (plan),
  status text NOT NULL CHECK (status IN ('active', 'past_due', 'cancelled')),
  updated_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO plans VALUES ('basic', 'sd', 1), ('standard', 'hd', 2), ('premium', 'uhd', 4);

INSERT INTO accounts (user_id, plan, status) VALUES
  ('alice', 'premium', 'active'),
  ('bob', 'basic', 'active'),
  ('carol', 'standard', 'cancelled'),
  ('dave', 'standard', 'past_due');
