-- DRM profile per device class, and a ledger of issued licenses (for audit and revocation).
CREATE TABLE device_profiles (
  device_type text PRIMARY KEY,
  drm text NOT NULL CHECK (drm IN ('widevine', 'playready', 'fairplay')),
  security_level text NOT NULL CHECK (security_level IN ('L1', 'L3'))
);

INSERT INTO device_profiles VALUES
  ('tv', 'playready', 'L1'),
  ('console', 'playready', 'L1'),
  ('mobile', 'widevine', 'L1'),
  ('web', 'widevine', 'L3');

CREATE TABLE licenses (
  license_id text PRIMARY KEY,
  user_id text NOT NULL,
  title_id text NOT NULL,
  device_type text NOT NULL REFERENCES device_profiles (device_type),
  key_id text NOT NULL,
  expires_at timestamptz NOT NULL,
  issued_at timestamptz NOT NULL DEFAULT now()
);
