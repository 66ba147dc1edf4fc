-- Stage assessment (src/quality/stage.ts): the registry's answers to the requirements the platform
-- cannot judge itself, with a link to the evidence; every answer is kept, the newest counts.
CREATE TABLE stage_answer (
  id          bigserial PRIMARY KEY,
  registry    text NOT NULL REFERENCES registry (id),
  year        integer NOT NULL,
  nr          integer NOT NULL,
  answer      boolean NOT NULL,
  evidence    text NOT NULL DEFAULT '',
  note        text NOT NULL DEFAULT '',
  actor       text NOT NULL,
  at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX stage_answer_idx ON stage_answer (registry, year, nr, id);
GRANT SELECT ON stage_answer TO kvalreg_app;
