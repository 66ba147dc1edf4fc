-- The audit trail: one row per look at or change of person-level data, per refused attempt, and
-- per export. Append-only: a trigger refuses every change except sealing, and sealing links each
-- row to the one before with a keyed hash (HMAC, key outside the database), so that a changed,
-- deleted or inserted row breaks the chain (`kvalreg audit verify`).
--
-- Rows are written unsealed by the transaction that did the work (cheap: no shared row to wait
-- for) and sealed in id order shortly after by one sealer at a time.
CREATE TABLE audit_event (
  id          bigserial PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  actor       text NOT NULL,                 -- system:<sender> | user:<id> | platform:<task>
  role        text,
  unit        text,
  person_id   bigint,                        -- no foreign key: the trail outlives a reservation
  action      text NOT NULL,                 -- read | create | update | delete | capture | reserve | list | …
  object      text NOT NULL,                 -- what was touched, e.g. fracture/case/42
  purpose     text NOT NULL,
  outcome     text NOT NULL CHECK (outcome IN ('ok', 'denied')),
  client      text,
  seq         bigint UNIQUE,                 -- position in the sealed chain (1, 2, 3 … without gaps)
  prev_hash   bytea,
  hash        bytea
);
CREATE INDEX audit_event_person_idx ON audit_event (person_id, at) WHERE person_id IS NOT NULL;
CREATE INDEX audit_event_unsealed_idx ON audit_event (id) WHERE seq IS NULL;

CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'audit_event is append-only: rows cannot be deleted';
  END IF;
  -- Sealing sets seq, prev_hash and hash once; nothing else may change, ever.
  IF OLD.seq IS NOT NULL OR NEW.seq IS NULL
     OR (NEW.id, NEW.at, NEW.actor, NEW.role, NEW.unit, NEW.person_id, NEW.action, NEW.object, NEW.purpose, NEW.outcome, NEW.client)
        IS DISTINCT FROM (OLD.id, OLD.at, OLD.actor, OLD.role, OLD.unit, OLD.person_id, OLD.action, OLD.object, OLD.purpose, OLD.outcome, OLD.client) THEN
    RAISE EXCEPTION 'audit_event is append-only: rows cannot be changed';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
  FOR EACH ROW EXECUTE FUNCTION audit_event_append_only();

CREATE FUNCTION audit_event_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_event is append-only: it cannot be truncated';
END $$;
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
  FOR EACH STATEMENT EXECUTE FUNCTION audit_event_no_truncate();

-- Whoever inserts an event cannot choose its place in the chain, its seal, its id or its time.
CREATE FUNCTION audit_event_insert_defaults() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.id := nextval(pg_get_serial_sequence('audit_event', 'id'));
  NEW.at := clock_timestamp();
  NEW.seq := NULL; NEW.prev_hash := NULL; NEW.hash := NULL;
  RETURN NEW;
END $$;
CREATE TRIGGER audit_event_insert_defaults BEFORE INSERT ON audit_event
  FOR EACH ROW EXECUTE FUNCTION audit_event_insert_defaults();
