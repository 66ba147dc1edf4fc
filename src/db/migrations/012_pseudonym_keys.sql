-- Research pseudonyms: a secret per registry and project, random (not derived from any platform
-- key), stored encrypted with the identity encryption key, in generations. Rotating adds a
-- generation: new deliveries get new pseudonyms that cannot be linked to the old ones without the
-- platform, which keeps every generation (to reproduce old deliveries and, when approved, to map
-- old pseudonyms to new). Generation 0 is the key derived from the identity hash key that
-- deliveries made before this table used.
CREATE TABLE pseudonym_key (
  id          bigserial PRIMARY KEY,
  registry    text NOT NULL REFERENCES registry (id),
  project     text NOT NULL,
  generation  integer NOT NULL CHECK (generation >= 1),
  key_enc     bytea NOT NULL,                 -- AES-256-GCM under the identity encryption key (re-encrypted on key rotation)
  created_at  timestamptz NOT NULL DEFAULT now(),
  created_by  text NOT NULL,
  UNIQUE (registry, project, generation)
);
ALTER TABLE extract_delivery ADD COLUMN pseudonym_generation integer NOT NULL DEFAULT 0;

-- The admin of one registry delivers extracts under row-level security: that registry's keys only.
GRANT SELECT, INSERT ON pseudonym_key TO kvalreg_app;
GRANT USAGE ON SEQUENCE pseudonym_key_id_seq TO kvalreg_app;
ALTER TABLE pseudonym_key ENABLE ROW LEVEL SECURITY;
CREATE POLICY pseudonym_key_registry ON pseudonym_key
  USING (kvalreg_scope_all() OR registry || ':*' = ANY (string_to_array(current_setting('kvalreg.grants', true), ',')))
  WITH CHECK (kvalreg_scope_all() OR registry || ':*' = ANY (string_to_array(current_setting('kvalreg.grants', true), ',')));
