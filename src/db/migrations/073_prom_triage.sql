-- Triage of PROM answers for digital home follow-up (a registry declares it in prom.yaml: which
-- time point, which cases, thresholds per instrument and case type, and the patient's own wish
-- for a visit). One row per case and declaration: what the answers decided ('visit' puts the
-- patient on the unit's follow-up worklist; 'no-visit' marks "no visit needed"), why, and a
-- summary of the answers; a clinician may override, with a reason. Every decision, automatic or
-- by a clinician, is kept in prom_triage_event (who, when, why).
CREATE TABLE prom_triage (
  registry         text NOT NULL,
  case_id          bigint NOT NULL,
  triage           text NOT NULL,
  person_id        bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
  schedule         text NOT NULL,
  timepoint        text NOT NULL,
  -- what the answers decided: a visit (thresholds crossed, the patient asked, answers that cannot
  -- be assessed), no visit, or no answer at all (also a visit: nobody has assessed the patient)
  outcome          text NOT NULL CHECK (outcome IN ('visit', 'no-visit', 'no-answer')),
  reasons          jsonb NOT NULL DEFAULT '[]',
  summary          jsonb NOT NULL DEFAULT '[]',
  -- the decision in force: the outcome's, or the clinician's override
  decision         text NOT NULL CHECK (decision IN ('visit', 'no-visit')),
  override_by      text,
  override_at      timestamptz,
  override_reason  text,
  -- the latest answer the decision rests on, and when the answers were last looked at
  answered_at      timestamptz,
  decided_at       timestamptz NOT NULL DEFAULT now(),
  evaluated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (registry, case_id, triage),
  FOREIGN KEY (registry, case_id) REFERENCES registry_case (registry, id) ON DELETE CASCADE
);
CREATE INDEX prom_triage_worklist ON prom_triage (registry, decision, answered_at DESC);
CREATE INDEX prom_triage_person ON prom_triage (person_id);

CREATE TABLE prom_triage_event (
  id         bigserial PRIMARY KEY,
  registry   text NOT NULL,
  case_id    bigint NOT NULL,
  triage     text NOT NULL,
  at         timestamptz NOT NULL DEFAULT now(),
  -- 'automatic' (the answers decided) or 'override' (a clinician decided)
  kind       text NOT NULL CHECK (kind IN ('automatic', 'override')),
  actor      text NOT NULL,
  decision   text NOT NULL CHECK (decision IN ('visit', 'no-visit')),
  outcome    text,
  reason     text,
  FOREIGN KEY (registry, case_id, triage) REFERENCES prom_triage (registry, case_id, triage) ON DELETE CASCADE
);
CREATE INDEX prom_triage_event_case ON prom_triage_event (registry, case_id, triage, at);

-- Unit scope like the cases; a patient reads their own. History is appended, never changed.
GRANT SELECT, INSERT, UPDATE, DELETE ON prom_triage TO kvalreg_app;
GRANT SELECT, INSERT ON prom_triage_event TO kvalreg_app;
GRANT USAGE ON SEQUENCE prom_triage_event_id_seq TO kvalreg_app;

ALTER TABLE prom_triage ENABLE ROW LEVEL SECURITY;
CREATE POLICY prom_triage_scope ON prom_triage USING (kvalreg_scope_all() OR EXISTS (
  SELECT 1 FROM registry_case c WHERE c.registry = prom_triage.registry AND c.id = prom_triage.case_id AND kvalreg_unit_visible(c.registry, c.unit_resh)));
CREATE POLICY prom_triage_own ON prom_triage FOR SELECT USING (kvalreg_own_person(person_id));

ALTER TABLE prom_triage_event ENABLE ROW LEVEL SECURITY;
CREATE POLICY prom_triage_event_scope ON prom_triage_event USING (kvalreg_scope_all() OR EXISTS (
  SELECT 1 FROM registry_case c WHERE c.registry = prom_triage_event.registry AND c.id = prom_triage_event.case_id AND kvalreg_unit_visible(c.registry, c.unit_resh)));
CREATE POLICY prom_triage_event_own ON prom_triage_event FOR SELECT USING (EXISTS (
  SELECT 1 FROM registry_case c WHERE c.registry = prom_triage_event.registry AND c.id = prom_triage_event.case_id AND kvalreg_own_person(c.person_id)));
