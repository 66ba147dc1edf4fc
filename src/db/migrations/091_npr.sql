-- Coverage against the national patient register (NPR), src/quality/npr.ts and coverage.ts.
-- An extract from NPR is imported per registry: only the episodes the registry's declaration
-- selects are kept (the rest are counted), with the identity number encrypted and its keyed hash
-- for linkage, as everywhere else. Episodes are person-level: row-level security shows a unit user
-- only their hospitals' episodes, and a patient who opts out loses theirs (trigger below).

CREATE TABLE npr_extract (
  id           bigserial PRIMARY KEY,
  registry     text NOT NULL REFERENCES registry (id),
  source       text NOT NULL DEFAULT '',
  imported_at  timestamptz NOT NULL DEFAULT now(),
  imported_by  text NOT NULL,
  years        integer[] NOT NULL,
  rows_read    integer NOT NULL,
  episodes     integer NOT NULL,
  selected     integer NOT NULL,
  reserved     integer NOT NULL,
  duplicates   integer NOT NULL
);

CREATE TABLE npr_episode (
  registry        text NOT NULL REFERENCES registry (id),
  id              bigserial,
  extract_id      bigint NOT NULL REFERENCES npr_extract (id) ON DELETE CASCADE,
  episode_id      text NOT NULL,
  nin_hash        bytea NOT NULL,
  nin_enc         bytea NOT NULL,
  hospital_resh   text NOT NULL REFERENCES org_unit (resh),
  admission_date  date NOT NULL,
  discharge_date  date NOT NULL,
  contact_type    text NOT NULL CHECK (contact_type IN ('inpatient', 'outpatient', 'day')),
  icd10           text[] NOT NULL DEFAULT '{}',
  ncsp            text[] NOT NULL DEFAULT '{}',
  -- The first admission of the event's transfer chain (the same person moved between hospitals).
  chain_start     date NOT NULL,
  -- A follow-up contact of an event already counted (declared sameEventDays): kept, not counted.
  duplicate_of    bigint,
  year            integer NOT NULL,
  PRIMARY KEY (registry, id)
);
CREATE INDEX npr_episode_hash_idx ON npr_episode (nin_hash);
CREATE INDEX npr_episode_unit_idx ON npr_episode (registry, hospital_resh, year);

-- Episodes of patients who have opted out: counted per hospital and year, without identity, so that
-- coverage can be reported as the national service reports it (they are in NPR, not in the registry).
CREATE TABLE npr_reserved (
  registry       text NOT NULL REFERENCES registry (id),
  hospital_resh  text NOT NULL REFERENCES org_unit (resh),
  year           integer NOT NULL,
  episodes       integer NOT NULL,
  PRIMARY KEY (registry, hospital_resh, year)
);

-- Coverage per unit (every level) and year as last computed from the linkage: counts only.
CREATE TABLE npr_coverage (
  registry        text NOT NULL REFERENCES registry (id),
  unit_resh       text NOT NULL REFERENCES org_unit (resh),
  year            integer NOT NULL,
  both_npr        integer NOT NULL,
  both_registry   integer NOT NULL,
  only_npr        integer NOT NULL,
  only_registry   integer NOT NULL,
  reserved        integer NOT NULL,
  computed_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (registry, unit_resh, year)
);

GRANT SELECT ON npr_extract, npr_reserved, npr_coverage TO kvalreg_app;
GRANT SELECT ON npr_episode TO kvalreg_app;
ALTER TABLE npr_episode ENABLE ROW LEVEL SECURITY;
-- NPR names the hospital, not the department: a unit user sees the episodes of a hospital when
-- they hold the hospital or any unit under it (registering is the hospital's task).
CREATE POLICY npr_episode_scope ON npr_episode USING (kvalreg_scope_all() OR EXISTS (
  SELECT 1 FROM org_unit u WHERE u.path @> ARRAY[npr_episode.hospital_resh] AND kvalreg_unit_visible(npr_episode.registry, u.resh)));

-- The reservation right reaches NPR episodes too: when a number is reserved, its episodes are
-- removed at once (whoever reserves, by whatever path), and counted without identity.
CREATE FUNCTION npr_reservation_removes() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  WITH gone AS (
    DELETE FROM npr_episode WHERE nin_hash = NEW.nin_hash RETURNING registry, hospital_resh, year, duplicate_of
  )
  INSERT INTO npr_reserved (registry, hospital_resh, year, episodes)
  SELECT registry, hospital_resh, year, count(*) FROM gone WHERE duplicate_of IS NULL GROUP BY 1, 2, 3
  ON CONFLICT (registry, hospital_resh, year) DO UPDATE SET episodes = npr_reserved.episodes + EXCLUDED.episodes;
  RETURN NEW;
END $$;
CREATE TRIGGER reservation_removes_npr AFTER INSERT ON reservation FOR EACH ROW EXECUTE FUNCTION npr_reservation_removes();
