-- People who log in with OpenID Connect (HelseID in production, the local provider in development).
-- Who a person is comes from the identity provider (subject, name, national identity number);
-- what they may do comes from here: grants per registry, role and unit, kept by the registry.
CREATE TABLE app_user (
  subject        text PRIMARY KEY,            -- the provider's "sub"
  name           text NOT NULL,
  -- The keyed hash of the national identity number from the pid claim (never the number itself):
  -- with it the person has the patient role, bound to their own registrations.
  pid_hash       bytea,
  created_at     timestamptz NOT NULL DEFAULT now(),
  last_login_at  timestamptz
);

CREATE TABLE user_grant (
  subject   text NOT NULL REFERENCES app_user (subject) ON DELETE CASCADE,
  registry  text NOT NULL,                    -- a registry id, or '*' for every registry
  role      text NOT NULL CHECK (role IN ('platform-admin', 'registry-admin', 'unit-registrar', 'unit-reader', 'researcher')),
  unit      text NOT NULL,                    -- RESH id; sub-units are included
  PRIMARY KEY (subject, registry, role, unit)
);

-- Browser sessions: only the SHA-256 of the session id is stored. Idle expiry from last_seen_at,
-- absolute expiry at expires_at.
CREATE TABLE user_session (
  id_sha256        bytea PRIMARY KEY,
  subject          text NOT NULL REFERENCES app_user (subject) ON DELETE CASCADE,
  active_registry  text NOT NULL,
  active_role      text NOT NULL,
  active_unit      text NOT NULL,
  -- The provider's ID token, encrypted, as the hint for RP-initiated logout (it may carry the pid).
  id_token_enc     bytea,
  client           text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  last_seen_at     timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz NOT NULL
);
CREATE INDEX user_session_subject ON user_session (subject);
CREATE INDEX user_session_expires ON user_session (expires_at);

-- A login in progress: state, nonce and PKCE verifier between the redirect to the provider and
-- the callback, found by the SHA-256 of a short-lived cookie; used once.
CREATE TABLE login_flow (
  id_sha256      bytea PRIMARY KEY,
  state          text NOT NULL,
  nonce          text NOT NULL,
  code_verifier  text NOT NULL,
  return_to      text NOT NULL,
  expires_at     timestamptz NOT NULL
);
CREATE INDEX login_flow_expires ON login_flow (expires_at);
