-- The audit trail against its database's owner: a signed state of how far it was sealed, a
-- migration checkpoint for the legacy seals, and the time and order of each event given by the
-- sealer (src/access/audit.ts, audit-state.ts).
--
-- Each event sealed from now on records when the sealer sealed it (`sealed_at`) and its watermark
-- at that moment (`watermark`: every event written before it had already been sealed). Both are
-- covered by the seal, so an event inserted later with an earlier time than the watermark — back-
-- dated by someone who went around the insert trigger — is sealed as what it is, and `verify`
-- reports it. The sequence number (the order) was already the sealer's.
ALTER TABLE audit_event ADD COLUMN sealed_at timestamptz, ADD COLUMN watermark timestamptz;

-- The sealer's signed state: the newest sealed event (seq and hash) and its watermark, signed with
-- the audit key and rewritten with each batch. A trail emptied or shortened no longer reaches it.
-- One row. The application role may not even read it: only the sealer (the owner) needs it.
CREATE TABLE audit_trail_state (
  trail      boolean PRIMARY KEY DEFAULT true CHECK (trail),
  seq        bigint NOT NULL,
  hash       bytea NOT NULL,
  watermark  timestamptz,
  sealed_at  timestamptz NOT NULL,
  key_id     text NOT NULL,
  signature  bytea NOT NULL
);

-- Checkpoints now come in three kinds, each signed with the audit key:
--   prune    events up to seq removed under the retention rule (as before);
--   legacy   events up to seq were sealed with the legacy key (derived from the identity hash key)
--            before the trail had its own: their last hash is pinned here once, and a legacy seal
--            anywhere else is refused;
--   restore  the trail was restored from a backup and ends at seq, though the signed state had
--            reached state_seq; recorded by `kvalreg audit accept-restore` with its reason.
ALTER TABLE audit_checkpoint
  ADD COLUMN kind text NOT NULL DEFAULT 'prune' CHECK (kind IN ('prune', 'legacy', 'restore')),
  ADD COLUMN state_seq bigint,
  ADD COLUMN note text,
  ALTER COLUMN event_at DROP NOT NULL,
  ALTER COLUMN pruned_before DROP NOT NULL,
  ALTER COLUMN pruned_count DROP NOT NULL;
ALTER TABLE audit_checkpoint ADD CONSTRAINT audit_checkpoint_prune_fields
  CHECK (kind <> 'prune' OR (event_at IS NOT NULL AND pruned_before IS NOT NULL AND pruned_count IS NOT NULL));
ALTER TABLE audit_checkpoint DROP CONSTRAINT audit_checkpoint_seq_key;
CREATE UNIQUE INDEX audit_checkpoint_prune_seq ON audit_checkpoint (seq) WHERE kind = 'prune';

CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  boundary text := current_setting('kvalreg.audit_prune', true);
BEGIN
  IF TG_OP = 'DELETE' THEN
    -- Only pruning deletes: sealed rows up to a pruning checkpoint recorded first, in the same
    -- transaction that sets kvalreg.audit_prune. The application role has no DELETE privilege.
    IF boundary IS NOT NULL AND boundary <> '' AND OLD.seq IS NOT NULL AND OLD.seq <= boundary::bigint
       AND EXISTS (SELECT 1 FROM audit_checkpoint c WHERE c.kind = 'prune' AND c.seq = boundary::bigint) THEN
      RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_event is append-only: rows cannot be deleted (only `kvalreg audit prune` removes sealed events older than the retention period, behind a signed checkpoint)';
  END IF;
  -- Sealing sets seq, prev_hash, hash, key_id, sealed_at and watermark once; nothing else may change, ever.
  IF OLD.seq IS NOT NULL OR NEW.seq IS NULL
     OR (NEW.id, NEW.at, NEW.actor, NEW.role, NEW.unit, NEW.person_id, NEW.action, NEW.object, NEW.purpose, NEW.outcome, NEW.client, NEW.registry)
        IS DISTINCT FROM (OLD.id, OLD.at, OLD.actor, OLD.role, OLD.unit, OLD.person_id, OLD.action, OLD.object, OLD.purpose, OLD.outcome, OLD.client, OLD.registry) THEN
    RAISE EXCEPTION 'audit_event is append-only: rows cannot be changed';
  END IF;
  RETURN NEW;
END $$;

-- Inserts cannot choose their seal time or watermark either.
CREATE OR REPLACE FUNCTION audit_event_insert_defaults() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.id := nextval(pg_get_serial_sequence('audit_event', 'id'));
  NEW.at := clock_timestamp();
  NEW.seq := NULL; NEW.prev_hash := NULL; NEW.hash := NULL; NEW.key_id := NULL;
  NEW.sealed_at := NULL; NEW.watermark := NULL;
  RETURN NEW;
END $$;
