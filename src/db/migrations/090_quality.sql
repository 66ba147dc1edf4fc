-- Data quality (src/quality/): the follow-up of findings. A finding is a check of one registry
-- at one unit and year whose verdict is not good (or a unit whose rate stands out); the registry
-- or the unit marks it followed up and resolved, with a note. Every change is a new row, so the
-- history stays: the current status is the newest row. Aggregates only, no person.
CREATE TABLE quality_followup (
  id         bigserial PRIMARY KEY,
  registry   text NOT NULL REFERENCES registry (id),
  finding    text NOT NULL,
  unit_resh  text NOT NULL REFERENCES org_unit (resh),
  period     text NOT NULL,
  status     text NOT NULL CHECK (status IN ('open', 'followed-up', 'resolved')),
  note       text NOT NULL DEFAULT '',
  actor      text NOT NULL,
  at         timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX quality_followup_idx ON quality_followup (registry, unit_resh, period, finding, id);
GRANT SELECT, INSERT ON quality_followup TO kvalreg_app;
GRANT USAGE ON SEQUENCE quality_followup_id_seq TO kvalreg_app;
