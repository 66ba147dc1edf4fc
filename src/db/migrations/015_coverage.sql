-- Coverage (dekningsgrad): the share of a unit's eligible patients the registry holds, per year,
-- as measured against the national patient register. Published beside every result; below 60 %
-- a result is flagged, as national publishing does. Loaded by `kvalreg coverage import`.
CREATE TABLE coverage (
  registry   text NOT NULL REFERENCES registry (id),
  unit_resh  text NOT NULL REFERENCES org_unit (resh),
  year       integer NOT NULL,
  coverage   numeric NOT NULL CHECK (coverage >= 0 AND coverage <= 1),
  source     text NOT NULL DEFAULT '',
  loaded_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (registry, unit_resh, year)
);
GRANT SELECT ON coverage TO kvalreg_app;
