-- The audit API for registry admins: each event names the registry it concerns (null for events
-- that span registries: capture of a message, raw messages, reservations, innsyn), so that the
-- admin of one registry sees that registry's events and nothing else, and events can be filtered
-- by user, unit and time without scanning the whole trail.
ALTER TABLE audit_event ADD COLUMN registry text;

-- The seal covers the registry too (sealing code: new rows hash it), so it may not change either.
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'audit_event is append-only: rows cannot be deleted';
  END IF;
  -- Sealing sets seq, prev_hash and hash once; nothing else may change, ever.
  IF OLD.seq IS NOT NULL OR NEW.seq IS NULL
     OR (NEW.id, NEW.at, NEW.actor, NEW.role, NEW.unit, NEW.person_id, NEW.action, NEW.object, NEW.purpose, NEW.outcome, NEW.client, NEW.registry)
        IS DISTINCT FROM (OLD.id, OLD.at, OLD.actor, OLD.role, OLD.unit, OLD.person_id, OLD.action, OLD.object, OLD.purpose, OLD.outcome, OLD.client, OLD.registry) THEN
    RAISE EXCEPTION 'audit_event is append-only: rows cannot be changed';
  END IF;
  RETURN NEW;
END $$;

-- Filters of the audit API, each ordered by id for cursor paging. BRIN for time: the trail is
-- written in time order, so a block-range index is tiny and cheap to keep up at capture rates.
CREATE INDEX audit_event_actor_idx ON audit_event (actor, id);
CREATE INDEX audit_event_registry_idx ON audit_event (registry, id) WHERE registry IS NOT NULL;
CREATE INDEX audit_event_unit_idx ON audit_event (unit, id) WHERE unit IS NOT NULL;
CREATE INDEX audit_event_at_idx ON audit_event USING brin (at);

-- The admin of one registry works under row-level security with the grant "registry:*": they
-- read that registry's events (the admins of every registry read everything as the owner).
CREATE POLICY audit_event_registry ON audit_event FOR SELECT USING (
  registry IS NOT NULL AND registry || ':*' = ANY (string_to_array(current_setting('kvalreg.grants', true), ',')));

-- A person's id by the keyed hash of their number, for work under row-level security that is given
-- a number (the audit API's person filter, a patient's own person). Reveals only the id.
CREATE FUNCTION kvalreg_person_id_by_hash(p_hash bytea) RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = public AS $$ SELECT id FROM person WHERE nin_hash = p_hash $$;
REVOKE ALL ON FUNCTION kvalreg_person_id_by_hash(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION kvalreg_person_id_by_hash(bytea) TO kvalreg_app;
