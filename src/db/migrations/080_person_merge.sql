-- One patient, two numbers: a patient first registered under a temporary number (a felles
-- hjelpenummer, a local H-number, an auxiliary number) whose real number becomes known later.
-- When the sending system says so (Patient.link replaces / replaced-by, or both numbers on one
-- Patient) or a registry admin joins them (POST /api/persons/merge), the two persons become one
-- (records/persons.ts): cases, captured resources and routing decisions move to the surviving
-- person, the merged-away person's row goes, and the merge is recorded here.
--
-- `from_hash` is the keyed hash of the number merged away: a later message that still names it
-- finds the surviving person, and a reservation under either number applies to both. `from_id`
-- is the person id the merged-away number had: audit events are append-only and keep naming it,
-- so innsyn and the audit API follow these rows to show the surviving person everything that was
-- recorded about them under either id. `into_id` always names the surviving person (a merge of
-- a merged person moves the rows of earlier merges along; `first_into_id` keeps where it went
-- first). A number that only changed (the person had no record under the real number yet) is
-- recorded with from_id = into_id.
CREATE TABLE person_merge (
  id             bigserial PRIMARY KEY,
  from_id        bigint NOT NULL,
  from_hash      bytea NOT NULL UNIQUE,
  from_kind      text NOT NULL,
  into_id        bigint NOT NULL REFERENCES person (id) ON DELETE CASCADE,
  first_into_id  bigint NOT NULL,
  at             timestamptz NOT NULL DEFAULT now(),
  by_actor       text NOT NULL,                  -- who said so: a sending system or a user
  source         text NOT NULL CHECK (source IN ('message', 'registry')),
  message_id     bigint                          -- the message that said so, when one did
);
CREATE INDEX person_merge_into_idx ON person_merge (into_id);
CREATE INDEX person_merge_from_idx ON person_merge (from_id);
-- Person-level, and read only by the platform's own work and the owner functions below.
ALTER TABLE person_merge ENABLE ROW LEVEL SECURITY;

-- The person ids whose audit events are about this person: their own, and every id merged into it.
CREATE FUNCTION kvalreg_person_ids(p bigint) RETURNS bigint[] LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = public AS $$ SELECT array_agg(DISTINCT x) FROM (SELECT p AS x UNION SELECT from_id FROM person_merge WHERE into_id = p) AS ids $$;
REVOKE ALL ON FUNCTION kvalreg_person_ids(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION kvalreg_person_ids(bigint) TO kvalreg_app;

-- A person's id by the keyed hash of a number, also a number merged into another person.
CREATE OR REPLACE FUNCTION kvalreg_person_id_by_hash(p_hash bytea) RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = public AS $$
  SELECT coalesce((SELECT id FROM person WHERE nin_hash = p_hash), (SELECT into_id FROM person_merge WHERE from_hash = p_hash)) $$;

-- A patient sees, in innsyn, the audit events recorded under an id merged into their own.
CREATE FUNCTION kvalreg_merged_into_own(p bigint) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = public AS $$
  SELECT p IS NOT NULL AND EXISTS (SELECT 1 FROM person_merge m
    WHERE m.from_id = p AND m.into_id::text = coalesce(current_setting('kvalreg.person', true), '')) $$;
REVOKE ALL ON FUNCTION kvalreg_merged_into_own(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION kvalreg_merged_into_own(bigint) TO kvalreg_app;
CREATE POLICY audit_event_own_merged ON audit_event FOR SELECT USING (kvalreg_merged_into_own(person_id));
