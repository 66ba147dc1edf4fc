-- Analytics: one typed row per case in a table per registry (schema `analytics`, created from the
-- codebook at start, see src/analytics/table.ts), kept current from a queue of changed cases, and
-- the indicator results computed from it.

CREATE SCHEMA IF NOT EXISTS analytics;
GRANT USAGE ON SCHEMA analytics TO kvalreg_app;

-- The shape each registry's analytics table was built with: a new codebook version that changes
-- the columns rebuilds the table.
CREATE TABLE analytics_table (
  registry    text PRIMARY KEY REFERENCES registry (id),
  signature   text NOT NULL,
  built_at    timestamptz NOT NULL DEFAULT now()
);

-- Changes to cases, as an append-only log filled by triggers, so that no write path (capture,
-- completion, status changes, death notices) can forget it. Writers only ever insert new rows:
-- marking a case never waits for a lock another transaction holds, so it cannot deadlock with
-- the refresher or with a registrar's edit. The refresher reads a batch, recomputes those cases
-- from committed data, and deletes exactly the rows it read; a change committed meanwhile has a
-- row it did not read, and is picked up next time.
CREATE TABLE analytics_change (
  id         bigserial PRIMARY KEY,
  registry   text NOT NULL,
  case_id    bigint NOT NULL,
  marked_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX analytics_change_registry_idx ON analytics_change (registry, id);
GRANT SELECT, INSERT ON analytics_change TO kvalreg_app;
GRANT USAGE ON SEQUENCE analytics_change_id_seq TO kvalreg_app;

CREATE FUNCTION analytics_mark_forms() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  INSERT INTO analytics_change (registry, case_id)
  SELECT DISTINCT registry, case_id FROM changed_rows;
  RETURN NULL;
END $$;
CREATE TRIGGER case_form_analytics_ins AFTER INSERT ON case_form REFERENCING NEW TABLE AS changed_rows
  FOR EACH STATEMENT EXECUTE FUNCTION analytics_mark_forms();
CREATE TRIGGER case_form_analytics_upd AFTER UPDATE ON case_form REFERENCING NEW TABLE AS changed_rows
  FOR EACH STATEMENT EXECUTE FUNCTION analytics_mark_forms();
CREATE TRIGGER case_form_analytics_del AFTER DELETE ON case_form REFERENCING OLD TABLE AS changed_rows
  FOR EACH STATEMENT EXECUTE FUNCTION analytics_mark_forms();

-- A case moved to another unit, and the person's own values (birth date, sex, date of death from
-- the population register) are part of every row of theirs. The marking functions run with the
-- owner's rights: a unit user's change must mark cases that row security hides from them.
CREATE FUNCTION analytics_mark_cases() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  INSERT INTO analytics_change (registry, case_id)
  SELECT DISTINCT n.registry, n.id FROM new_rows n JOIN old_rows o ON o.registry = n.registry AND o.id = n.id
  WHERE n.unit_resh IS DISTINCT FROM o.unit_resh;
  RETURN NULL;
END $$;
CREATE TRIGGER registry_case_analytics_upd AFTER UPDATE ON registry_case REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION analytics_mark_cases();

CREATE FUNCTION analytics_mark_persons() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  INSERT INTO analytics_change (registry, case_id)
  SELECT DISTINCT c.registry, c.id
  FROM new_rows n JOIN old_rows o ON o.id = n.id
  JOIN registry_case c ON c.person_id = n.id
  WHERE (n.birth_date, n.sex, n.deceased_date) IS DISTINCT FROM (o.birth_date, o.sex, o.deceased_date);
  RETURN NULL;
END $$;
CREATE TRIGGER person_analytics_upd AFTER UPDATE ON person REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION analytics_mark_persons();

-- How current each registry's analytics are: `version` goes up with every refresh that changed
-- rows, and cached indicator results name the version they were computed from.
CREATE TABLE analytics_state (
  registry      text PRIMARY KEY REFERENCES registry (id),
  version       bigint NOT NULL DEFAULT 0,
  refreshed_at  timestamptz,
  newest_data   timestamptz
);
GRANT SELECT ON analytics_state TO kvalreg_app;

-- Indicator results: aggregates only (counts per unit, period and stratum), never rows. One set per
-- registry, indicator and analytics version; the newest set is served, older ones are replaced.
CREATE TABLE indicator_result (
  registry      text NOT NULL,
  indicator     text NOT NULL,
  dataset       text NOT NULL CHECK (dataset IN ('fresh', 'qa')),
  grain         text NOT NULL,
  period        text NOT NULL,
  unit_resh     text NOT NULL,
  stratifier    text NOT NULL DEFAULT '',
  stratum       text NOT NULL DEFAULT '',
  numerator     integer NOT NULL,
  denominator   integer NOT NULL,
  PRIMARY KEY (registry, indicator, dataset, grain, period, unit_resh, stratifier, stratum)
);
CREATE TABLE indicator_run (
  registry      text NOT NULL,
  indicator     text NOT NULL,
  version       bigint NOT NULL,
  as_of         date NOT NULL,
  computed_at   timestamptz NOT NULL DEFAULT now(),
  duration_ms   integer NOT NULL,
  PRIMARY KEY (registry, indicator)
);
GRANT SELECT ON indicator_result, indicator_run TO kvalreg_app;
