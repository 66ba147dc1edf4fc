-- Correctness by re-abstraction (src/quality/validation.ts): a random sample of cases per unit,
-- re-registered by a registrar from the patient record without seeing the stored values, and the
-- agreement per variable. Samples and their values are person-level: row-level security shows a
-- unit user only their units' samples, and they go with the case (a reservation removes the person
-- and, by cascade, their cases and these rows).
CREATE TABLE validation_study (
  registry    text NOT NULL REFERENCES registry (id),
  id          bigserial,
  name        text NOT NULL,
  year        integer NOT NULL,
  variables   text[] NOT NULL,
  per_unit    integer NOT NULL CHECK (per_unit > 0),
  seed        text NOT NULL,
  created_by  text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (registry, id)
);
CREATE TABLE validation_sample (
  registry       text NOT NULL,
  study_id       bigint NOT NULL,
  case_id        bigint NOT NULL,
  unit_resh      text,
  drawn_at       timestamptz NOT NULL DEFAULT now(),
  abstracted_by  text,
  abstracted_at  timestamptz,
  PRIMARY KEY (registry, study_id, case_id),
  FOREIGN KEY (registry, study_id) REFERENCES validation_study (registry, id) ON DELETE CASCADE,
  FOREIGN KEY (registry, case_id) REFERENCES registry_case (registry, id) ON DELETE CASCADE
);
CREATE TABLE validation_value (
  registry   text NOT NULL,
  study_id   bigint NOT NULL,
  case_id    bigint NOT NULL,
  variable   text NOT NULL,
  -- what the record says (null: the record does not say)
  value      jsonb,
  PRIMARY KEY (registry, study_id, case_id, variable),
  FOREIGN KEY (registry, study_id, case_id) REFERENCES validation_sample (registry, study_id, case_id) ON DELETE CASCADE
);
GRANT SELECT ON validation_study TO kvalreg_app;
GRANT SELECT, UPDATE ON validation_sample TO kvalreg_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON validation_value TO kvalreg_app;
ALTER TABLE validation_sample ENABLE ROW LEVEL SECURITY;
CREATE POLICY validation_sample_scope ON validation_sample USING (kvalreg_unit_visible(registry, unit_resh));
ALTER TABLE validation_value ENABLE ROW LEVEL SECURITY;
CREATE POLICY validation_value_scope ON validation_value USING (kvalreg_scope_all() OR EXISTS (
  SELECT 1 FROM validation_sample s WHERE s.registry = validation_value.registry AND s.study_id = validation_value.study_id
    AND s.case_id = validation_value.case_id AND kvalreg_unit_visible(s.registry, s.unit_resh)));
