-- prom_item's references to its case and its invitation, checked once per statement instead of
-- once per row.
--
-- A foreign key checks each written row by itself: one lookup (and a row lock) per item. The
-- scheduler writes a busy day's items in one statement (64,746 at 1,000,000 cases), and these two
-- checks were 2.7 of its 6.1 seconds (auto_explain's trigger times, docs/performance.md, PROM). The
-- triggers below keep every guarantee the two keys gave, set-based:
--   - an item names a case and (when it has one) an invitation that exist: checked over all of an
--     insert's new rows at once (an update that changes a reference, row by row), which also locks
--     those rows as a key does (FOR KEY SHARE), so neither can be deleted before the writing
--     transaction ends; a case or invitation deleted by a transaction that committed first is
--     missing from the check, and the write fails as it did;
--   - deleting a case deletes its items (ON DELETE CASCADE), deleting an invitation leaves its
--     items without one (ON DELETE SET NULL), truncating the cases truncates the items;
--   - the key of a case or invitation that items name cannot be changed (NO ACTION);
--   - a delete the cascade could not see every item of fails with a serialization error, as a
--     key's cascade fails (below: a delete under REPEATABLE READ or SERIALIZABLE is refused).
-- A data-only restore (pg_dump --data-only) must run with --disable-triggers, or restore the cases
-- before the items: nothing orders those tables now (a full dump creates the triggers after the data).
-- Functions of the owner (SECURITY DEFINER), as a foreign key's checks are: row-level security
-- must not hide a case from the check of a caller who may write the item. Their search path puts
-- the session's temporary tables last, so that no caller can stand a table of its own in for
-- registry_case or prom_invitation.

ALTER TABLE prom_item DROP CONSTRAINT prom_item_invitation_id_fkey;
ALTER TABLE prom_item DROP CONSTRAINT prom_item_registry_case_id_fkey;

-- New items: all the cases and invitations a statement's rows name are there, and locked until
-- commit, in two statements whatever the number of rows.
CREATE FUNCTION kvalreg_prom_items_check_keys() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  wanted bigint;
  locked bigint;
  missing text;
BEGIN
  WITH k AS MATERIALIZED (SELECT DISTINCT registry, case_id FROM new_rows)
  SELECT (SELECT count(*) FROM k),
         (SELECT count(*) FROM (SELECT 1 FROM registry_case c JOIN k ON c.registry = k.registry AND c.id = k.case_id FOR KEY SHARE OF c) l)
  INTO wanted, locked;
  IF locked < wanted THEN
    SELECT format('(registry, case_id)=(%s, %s)', n.registry, n.case_id) INTO missing FROM new_rows n
    WHERE NOT EXISTS (SELECT 1 FROM registry_case c WHERE c.registry = n.registry AND c.id = n.case_id) LIMIT 1;
    RAISE foreign_key_violation USING
      MESSAGE = 'insert or update on table "prom_item" violates the reference to its case',
      DETAIL = format('Key %s is not present in table "registry_case".', coalesce(missing, '(deleted meanwhile)'));
  END IF;

  WITH k AS MATERIALIZED (SELECT DISTINCT invitation_id FROM new_rows WHERE invitation_id IS NOT NULL)
  SELECT (SELECT count(*) FROM k),
         (SELECT count(*) FROM (SELECT 1 FROM prom_invitation v JOIN k ON v.id = k.invitation_id FOR KEY SHARE OF v) l)
  INTO wanted, locked;
  IF locked < wanted THEN
    SELECT format('(invitation_id)=(%s)', n.invitation_id) INTO missing FROM new_rows n
    WHERE n.invitation_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM prom_invitation v WHERE v.id = n.invitation_id) LIMIT 1;
    RAISE foreign_key_violation USING
      MESSAGE = 'insert or update on table "prom_item" violates the reference to its invitation',
      DETAIL = format('Key %s is not present in table "prom_invitation".', coalesce(missing, '(deleted meanwhile)'));
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER prom_item_keys_ins AFTER INSERT ON prom_item REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION kvalreg_prom_items_check_keys();

-- An item given another case or invitation: checked by itself, as a foreign key checks it. Only
-- such rows fire it (the WHEN clause costs nothing to the patients' answers, which change an item's
-- status, never its references), and the platform changes them a few hundred at a time at most
-- (an item left pending joining an invitation, a merge).
CREATE FUNCTION kvalreg_prom_item_check_changed_keys() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF (NEW.registry, NEW.case_id) IS DISTINCT FROM (OLD.registry, OLD.case_id) THEN
    PERFORM 1 FROM registry_case c WHERE c.registry = NEW.registry AND c.id = NEW.case_id FOR KEY SHARE;
    IF NOT FOUND THEN
      RAISE foreign_key_violation USING
        MESSAGE = 'insert or update on table "prom_item" violates the reference to its case',
        DETAIL = format('Key (registry, case_id)=(%s, %s) is not present in table "registry_case".', NEW.registry, NEW.case_id);
    END IF;
  END IF;
  IF NEW.invitation_id IS NOT NULL AND NEW.invitation_id IS DISTINCT FROM OLD.invitation_id THEN
    PERFORM 1 FROM prom_invitation v WHERE v.id = NEW.invitation_id FOR KEY SHARE;
    IF NOT FOUND THEN
      RAISE foreign_key_violation USING
        MESSAGE = 'insert or update on table "prom_item" violates the reference to its invitation',
        DETAIL = format('Key (invitation_id)=(%s) is not present in table "prom_invitation".', NEW.invitation_id);
    END IF;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER prom_item_keys_upd AFTER UPDATE ON prom_item FOR EACH ROW
  WHEN ((NEW.registry, NEW.case_id) IS DISTINCT FROM (OLD.registry, OLD.case_id)
        OR (NEW.invitation_id IS NOT NULL AND NEW.invitation_id IS DISTINCT FROM OLD.invitation_id))
  EXECUTE FUNCTION kvalreg_prom_item_check_changed_keys();

-- A cascade (or set-null) run by a trigger reads with the deleting transaction's snapshot. Under
-- READ COMMITTED, which the platform runs in, that is the delete's own statement, which sees every
-- item committed before it; a foreign key's cascade sees them under any isolation level, and fails
-- with a serialization error where it cannot. So the triggers refuse a delete under REPEATABLE
-- READ or SERIALIZABLE (40001: try again, or run it READ COMMITTED) rather than leave an item
-- committed meanwhile behind, without a case, after an opt-out.
CREATE FUNCTION kvalreg_prom_item_read_committed() RETURNS void LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION USING ERRCODE = 'serialization_failure',
      MESSAGE = format('deleting cases or PROM invitations needs READ COMMITTED (this transaction is %s): items written meanwhile could not be seen', current_setting('transaction_isolation'));
  END IF;
END $$;

-- ON DELETE CASCADE from the case.
CREATE FUNCTION kvalreg_prom_item_case_deleted() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  PERFORM kvalreg_prom_item_read_committed();
  DELETE FROM prom_item i USING old_rows o WHERE i.registry = o.registry AND i.case_id = o.id;
  RETURN NULL;
END $$;
CREATE TRIGGER registry_case_deletes_prom_items AFTER DELETE ON registry_case REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION kvalreg_prom_item_case_deleted();

CREATE FUNCTION kvalreg_prom_item_cases_truncated() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  TRUNCATE prom_item;
  RETURN NULL;
END $$;
CREATE TRIGGER registry_case_truncates_prom_items AFTER TRUNCATE ON registry_case
  FOR EACH STATEMENT EXECUTE FUNCTION kvalreg_prom_item_cases_truncated();

-- ON DELETE SET NULL from the invitation.
CREATE FUNCTION kvalreg_prom_item_invitation_deleted() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  PERFORM kvalreg_prom_item_read_committed();
  UPDATE prom_item i SET invitation_id = NULL FROM old_rows o WHERE i.invitation_id = o.id;
  RETURN NULL;
END $$;
CREATE TRIGGER prom_invitation_unlinks_prom_items AFTER DELETE ON prom_invitation REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION kvalreg_prom_item_invitation_deleted();

-- NO ACTION on a changed key: a case's or an invitation's key that items name stays as it is.
CREATE FUNCTION kvalreg_prom_item_case_key_changed() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM prom_item i WHERE i.registry = OLD.registry AND i.case_id = OLD.id) THEN
    RAISE foreign_key_violation USING MESSAGE = format('case (%s, %s) has PROM items: its key cannot change', OLD.registry, OLD.id);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER registry_case_key_kept_for_prom_items BEFORE UPDATE OF registry, id ON registry_case
  FOR EACH ROW WHEN (OLD.registry IS DISTINCT FROM NEW.registry OR OLD.id IS DISTINCT FROM NEW.id)
  EXECUTE FUNCTION kvalreg_prom_item_case_key_changed();

CREATE FUNCTION kvalreg_prom_item_invitation_key_changed() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM prom_item i WHERE i.invitation_id = OLD.id) THEN
    RAISE foreign_key_violation USING MESSAGE = format('invitation %s has PROM items: its key cannot change', OLD.id);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER prom_invitation_key_kept_for_prom_items BEFORE UPDATE OF id ON prom_invitation
  FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
  EXECUTE FUNCTION kvalreg_prom_item_invitation_key_changed();
