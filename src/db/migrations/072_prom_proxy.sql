-- Answering on someone's behalf (a parent for a child, a relative for a patient who cannot answer
-- alone). The proxy logs in with their own secure login and gives the one-time code printed in
-- the hospital's letter; the first proxy to give it is bound to the invitation, and the code opens
-- it for nobody else. Their answers are recorded as answered on behalf (provenance "proxy").
CREATE TABLE prom_proxy (
  invitation_id  bigint PRIMARY KEY REFERENCES prom_invitation (id) ON DELETE CASCADE,
  -- the keyed hash of the proxy's own identity number (from their login), never the number
  proxy_hash     bytea NOT NULL,
  -- the proxy's login, as the audit trail names them
  proxy_label    text NOT NULL,
  relation       text NOT NULL CHECK (relation IN ('parent', 'guardian', 'relative', 'other')),
  claimed_at     timestamptz NOT NULL DEFAULT now()
);

-- Wrong codes given for an invitation: after five, the code is refused for an hour (the link's
-- secret is needed as well, so this only slows down someone who already holds the letter).
ALTER TABLE prom_invitation ADD COLUMN code_failures integer NOT NULL DEFAULT 0, ADD COLUMN code_locked_until timestamptz;

GRANT SELECT, INSERT, UPDATE, DELETE ON prom_proxy TO kvalreg_app;
ALTER TABLE prom_proxy ENABLE ROW LEVEL SECURITY;
CREATE POLICY prom_proxy_scope ON prom_proxy USING (kvalreg_scope_all() OR EXISTS (
  SELECT 1 FROM prom_item i JOIN registry_case c ON c.registry = i.registry AND c.id = i.case_id
  WHERE i.invitation_id = prom_proxy.invitation_id AND kvalreg_unit_visible(c.registry, c.unit_resh)));
-- The patient sees who answered for them.
CREATE POLICY prom_proxy_own ON prom_proxy FOR SELECT USING (EXISTS (
  SELECT 1 FROM prom_invitation v WHERE v.id = prom_proxy.invitation_id AND kvalreg_own_person(v.person_id)));
