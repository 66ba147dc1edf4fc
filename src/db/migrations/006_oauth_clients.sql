-- Sending systems that authenticate with OAuth2 client credentials (HelseID in production): each
-- client is bound to the sender id recorded as provenance, its organisation, and the registries
-- it may report to (empty: every registry whose rules match).
CREATE TABLE api_client (
  client_id   text PRIMARY KEY,
  name        text NOT NULL,
  sender      text NOT NULL,
  orgnr       text,
  registries  text[] NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now()
);
