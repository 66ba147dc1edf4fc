-- Bearer tokens expire, and can be revoked: a token issued once must not work for ever, and a
-- token withdrawn must stop working at once (the server looks a token up on every request).
-- Tokens issued before this migration get 90 days from the upgrade to be replaced (docs/operations.md).
ALTER TABLE api_token
  ADD COLUMN expires_at timestamptz NOT NULL DEFAULT now() + interval '90 days',
  ADD COLUMN revoked_at timestamptz;
