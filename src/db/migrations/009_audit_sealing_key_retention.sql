-- A sealing key of its own for the audit chain, retention, and witnesses of the chain's head.
--
-- Rows sealed from now on name the key that sealed them (`key_id`, from KVALREG_AUDIT_KEY or the
-- audit key file, never derived from the identity keys); rows sealed before keep key_id null and
-- stay verifiable with the key they were sealed with (derived from the identity hash key).
ALTER TABLE audit_event ADD COLUMN key_id text;

-- Pruning under the retention rule leaves a checkpoint: the sequence number and hash of the last
-- event removed, signed with the sealing key, so that verification starts from it and a removal
-- that left no signed checkpoint is still found.
CREATE TABLE audit_checkpoint (
  id             bigserial PRIMARY KEY,
  seq            bigint NOT NULL UNIQUE,        -- the last event removed: verification continues at seq + 1
  hash           bytea NOT NULL,                -- that event's hash (the next event's prev_hash)
  event_at       text NOT NULL,                 -- its time, as hashed
  pruned_before  timestamptz NOT NULL,          -- the retention boundary used
  pruned_count   bigint NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  key_id         text NOT NULL,
  signature      bytea NOT NULL
);
-- The application role may read checkpoints (to verify) but never write them.
GRANT SELECT ON audit_checkpoint TO kvalreg_app;

CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  boundary text := current_setting('kvalreg.audit_prune', true);
BEGIN
  IF TG_OP = 'DELETE' THEN
    -- Only pruning deletes: sealed rows up to a checkpoint recorded first, in the same transaction
    -- that sets kvalreg.audit_prune. The application role has no DELETE privilege at all.
    IF boundary IS NOT NULL AND boundary <> '' AND OLD.seq IS NOT NULL AND OLD.seq <= boundary::bigint
       AND EXISTS (SELECT 1 FROM audit_checkpoint c WHERE c.seq = boundary::bigint) THEN
      RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_event is append-only: rows cannot be deleted (only `kvalreg audit prune` removes sealed events older than the retention period, behind a signed checkpoint)';
  END IF;
  -- Sealing sets seq, prev_hash, hash and key_id once; nothing else may change, ever.
  IF OLD.seq IS NOT NULL OR NEW.seq IS NULL
     OR (NEW.id, NEW.at, NEW.actor, NEW.role, NEW.unit, NEW.person_id, NEW.action, NEW.object, NEW.purpose, NEW.outcome, NEW.client, NEW.registry)
        IS DISTINCT FROM (OLD.id, OLD.at, OLD.actor, OLD.role, OLD.unit, OLD.person_id, OLD.action, OLD.object, OLD.purpose, OLD.outcome, OLD.client, OLD.registry) THEN
    RAISE EXCEPTION 'audit_event is append-only: rows cannot be changed';
  END IF;
  RETURN NEW;
END $$;

-- Inserts cannot choose the key either.
CREATE OR REPLACE FUNCTION audit_event_insert_defaults() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.id := nextval(pg_get_serial_sequence('audit_event', 'id'));
  NEW.at := clock_timestamp();
  NEW.seq := NULL; NEW.prev_hash := NULL; NEW.hash := NULL; NEW.key_id := NULL;
  RETURN NEW;
END $$;

-- Checkpoints are append-only too (pruning adds one; nothing changes or removes them).
CREATE FUNCTION audit_checkpoint_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_checkpoint is append-only';
END $$;
CREATE TRIGGER audit_checkpoint_append_only BEFORE UPDATE OR DELETE ON audit_checkpoint
  FOR EACH ROW EXECUTE FUNCTION audit_checkpoint_append_only();
