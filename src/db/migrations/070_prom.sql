-- Patient-reported outcomes (PROM). Instruments are shared declarations (instruments/ at the
-- repository root); registries declare schedules (registries/<id>/prom.yaml). Three person-level
-- tables:
--   prom_item        what one registry asks about one case at one time point with one instrument
--                    (its due date and window), and what became of it;
--   prom_invitation  one per patient per window: collects every item due from every registry, so
--                    each instrument is asked once;
--   prom_response    the answers to one instrument, scored, shared by every item it answers.
-- Everything goes with the person (a reservation deletes the person; ON DELETE CASCADE), and with
-- the case for items.

CREATE TABLE prom_invitation (
  id                bigserial PRIMARY KEY,
  person_id         bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
  -- the unit whose patient is asked: the message names its hospital
  unit_resh         text,
  status            text NOT NULL DEFAULT 'ordered'
                    CHECK (status IN ('ordered', 'sent', 'reminded', 'answered', 'expired', 'not-reachable', 'cancelled')),
  -- why, in neutral words without diagnosis ({nb, en}, from the schedule)
  purpose           jsonb NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  send_at           timestamptz NOT NULL,
  sent_at           timestamptz,
  remind_at         timestamptz,
  reminded_at       timestamptz,
  expires_at        timestamptz,
  answered_at       timestamptz,
  -- the last day of the latest window it collects for
  closes_on         date NOT NULL,
  reminder_days     integer NOT NULL,
  expiry_days       integer NOT NULL,
  cancelled_reason  text,
  -- SHA-256 of the secret in the invitation link, and of the one-time code (paper, proxy)
  link_hash         bytea UNIQUE,
  code_hash         bytea,
  updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX prom_invitation_person ON prom_invitation (person_id);
-- At most one open invitation per patient: whatever else falls due joins it.
CREATE UNIQUE INDEX prom_invitation_one_open ON prom_invitation (person_id) WHERE status IN ('ordered', 'sent', 'reminded');
CREATE INDEX prom_invitation_due ON prom_invitation (send_at) WHERE status IN ('ordered', 'sent', 'reminded');

CREATE TABLE prom_response (
  id                  bigserial PRIMARY KEY,
  person_id           bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
  invitation_id       bigint REFERENCES prom_invitation (id) ON DELETE CASCADE,
  instrument          text NOT NULL,
  instrument_version  text NOT NULL,
  recall              text NOT NULL DEFAULT 'current' CHECK (recall IN ('current', 'pre-injury')),
  status              text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'completed')),
  answers             jsonb NOT NULL DEFAULT '{}',
  scores              jsonb,
  -- who answered and how: {kind: patient|proxy|paper|fhir|import, …}
  provenance          jsonb NOT NULL,
  answered_at         timestamptz,
  -- an external response's own key (a QuestionnaireResponse's identifier, an import row): a resend changes nothing
  source_key          text UNIQUE,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  UNIQUE (invitation_id, instrument, recall)
);
CREATE INDEX prom_response_person ON prom_response (person_id, instrument);

CREATE TABLE prom_item (
  registry          text NOT NULL,
  case_id           bigint NOT NULL,
  schedule          text NOT NULL,
  timepoint         text NOT NULL,
  instrument        text NOT NULL,
  person_id         bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
  recall            text NOT NULL,
  due_date          date NOT NULL,
  opens_on          date NOT NULL,
  closes_on         date NOT NULL,
  status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'invited', 'answered', 'expired', 'cancelled')),
  invitation_id     bigint REFERENCES prom_invitation (id) ON DELETE SET NULL,
  response_id       bigint REFERENCES prom_response (id) ON DELETE SET NULL,
  cancelled_reason  text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (registry, case_id, schedule, timepoint, instrument),
  FOREIGN KEY (registry, case_id) REFERENCES registry_case (registry, id) ON DELETE CASCADE
);
CREATE INDEX prom_item_open ON prom_item (opens_on) WHERE status IN ('pending', 'invited');
CREATE INDEX prom_item_person ON prom_item (person_id);
CREATE INDEX prom_item_invitation ON prom_item (invitation_id);
CREATE INDEX prom_item_response ON prom_item (response_id);

-- A patient who objects to one registry receiving their answers (the registry-level reservation):
-- that registry asks nothing and is shared nothing.
CREATE TABLE prom_objection (
  person_id  bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
  registry   text NOT NULL REFERENCES registry (id),
  at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (person_id, registry)
);

-- Row-level security like the cases: a unit user sees the items of cases in their units, the
-- invitations and responses of those items; a patient reads their own. The platform's own work
-- (the scheduler, capture) runs as the owner.
GRANT SELECT, INSERT, UPDATE, DELETE ON prom_invitation, prom_response, prom_item, prom_objection TO kvalreg_app;
GRANT USAGE ON SEQUENCE prom_invitation_id_seq, prom_response_id_seq TO kvalreg_app;

ALTER TABLE prom_item ENABLE ROW LEVEL SECURITY;
CREATE POLICY prom_item_scope ON prom_item USING (kvalreg_scope_all() OR EXISTS (
  SELECT 1 FROM registry_case c WHERE c.registry = prom_item.registry AND c.id = prom_item.case_id AND kvalreg_unit_visible(c.registry, c.unit_resh)));
CREATE POLICY prom_item_own ON prom_item FOR SELECT USING (kvalreg_own_person(person_id));

ALTER TABLE prom_invitation ENABLE ROW LEVEL SECURITY;
CREATE POLICY prom_invitation_scope ON prom_invitation USING (kvalreg_scope_all() OR EXISTS (
  SELECT 1 FROM prom_item i JOIN registry_case c ON c.registry = i.registry AND c.id = i.case_id
  WHERE i.invitation_id = prom_invitation.id AND kvalreg_unit_visible(c.registry, c.unit_resh)));
CREATE POLICY prom_invitation_own ON prom_invitation FOR SELECT USING (kvalreg_own_person(person_id));

ALTER TABLE prom_response ENABLE ROW LEVEL SECURITY;
CREATE POLICY prom_response_scope ON prom_response USING (kvalreg_scope_all() OR EXISTS (
  SELECT 1 FROM prom_item i JOIN registry_case c ON c.registry = i.registry AND c.id = i.case_id
  WHERE i.response_id = prom_response.id AND kvalreg_unit_visible(c.registry, c.unit_resh)));
CREATE POLICY prom_response_own ON prom_response FOR SELECT USING (kvalreg_own_person(person_id));

ALTER TABLE prom_objection ENABLE ROW LEVEL SECURITY;
CREATE POLICY prom_objection_scope ON prom_objection USING (kvalreg_scope_all());
CREATE POLICY prom_objection_own ON prom_objection FOR SELECT USING (kvalreg_own_person(person_id));
