-- PROM channels: how each invitation reached the patient (or did not), per channel and attempt,
-- and the contact details invitations are sent to.

-- Every attempt to deliver an invitation or its reminder on one channel: the statuses per
-- invitation and channel (sent, failed, not reachable; paper: to be printed).
CREATE TABLE prom_delivery (
  id             bigserial PRIMARY KEY,
  invitation_id  bigint NOT NULL REFERENCES prom_invitation (id) ON DELETE CASCADE,
  channel        text NOT NULL CHECK (channel IN ('helsenorge', 'email', 'sms', 'paper')),
  kind           text NOT NULL CHECK (kind IN ('invitation', 'reminder')),
  status         text NOT NULL CHECK (status IN ('sent', 'failed', 'not-reachable', 'to-print', 'printed')),
  at             timestamptz NOT NULL DEFAULT now(),
  error          text,
  message_id     text
);
CREATE INDEX prom_delivery_invitation ON prom_delivery (invitation_id, at);

-- Where a patient can be reached (from the contact register, or given by the patient), encrypted
-- like identity numbers. Goes with the person.
CREATE TABLE prom_contact (
  person_id   bigint PRIMARY KEY REFERENCES person (id) ON DELETE CASCADE,
  email_enc   bytea,
  mobile_enc  bytea,
  source      text NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Which channel an invitation was sent on (its reminder goes the same way), and how many times
-- sending was tried (retried with backoff until the channel cascade gives up).
ALTER TABLE prom_invitation ADD COLUMN channel text, ADD COLUMN attempts integer NOT NULL DEFAULT 0;

GRANT SELECT, INSERT, UPDATE, DELETE ON prom_delivery, prom_contact TO kvalreg_app;
GRANT USAGE ON SEQUENCE prom_delivery_id_seq TO kvalreg_app;
ALTER TABLE prom_delivery ENABLE ROW LEVEL SECURITY;
CREATE POLICY prom_delivery_scope ON prom_delivery USING (kvalreg_scope_all() OR EXISTS (
  SELECT 1 FROM prom_item i JOIN registry_case c ON c.registry = i.registry AND c.id = i.case_id
  WHERE i.invitation_id = prom_delivery.invitation_id AND kvalreg_unit_visible(c.registry, c.unit_resh)));
ALTER TABLE prom_contact ENABLE ROW LEVEL SECURITY;
CREATE POLICY prom_contact_scope ON prom_contact USING (kvalreg_scope_all());
CREATE POLICY prom_contact_own ON prom_contact FOR SELECT USING (kvalreg_own_person(person_id));
