-- prom_item's references to its case and its invitation, checked once per statement instead of
-- once per row.
--
-- A foreign key checks each written row by itself: one lookup (and a row lock) per item. The
-- scheduler writes a busy day's items in one statement (64,746 at 1,000,000 cases), and these two
-- checks were 2.7 of its 6.1 seconds (auto_explain's trigger times, docs/performance.md, PROM). The
-- triggers below keep every guarantee the two keys gave, set-based:
--   - an item names a case and (when it has one) an invitation that exist: checked over all the
--     statement's new rows at once, which also locks those rows as a key does (FOR KEY SHARE), so
--     neither can be deleted before the writing transaction ends; a case or invitation deleted by
--     a transaction that committed first is missing from the check, and the write fails as it did;
--   - deleting a case deletes its items (ON DELETE CASCADE), deleting an invitation leaves its
--     items without one (ON DELETE SET NULL), truncating the cases truncates the items;
--   - the key of a case or invitation that items name cannot be changed (NO ACTION).
-- Functions of the owner (SECURITY DEFINER), as a foreign key's checks are: row-level security
-- must not hide a case from the check of a caller who may write the item.

ALTER TABLE prom_item DROP CONSTRAINT prom_item_invitation_id_fkey;
ALTER TABLE prom_item DROP CONSTRAINT prom_item_registry_case_id_fkey;

-- The cases and invitations that new items, or items given another case or invitation, name: all
-- there, and locked until commit. (An update that keeps an item's case and invitation, which is
-- every update the platform makes, checks nothing, as a foreign key would not.) The statements are
-- put together per operation because an insert's trigger has no old rows to compare with.
CREATE FUNCTION kvalreg_prom_item_check_keys() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  cases text := 'SELECT DISTINCT n.registry, n.case_id FROM new_rows n';
  invitations text := 'SELECT DISTINCT n.invitation_id FROM new_rows n WHERE n.invitation_id IS NOT NULL';
  wanted bigint;
  locked bigint;
  missing text;
BEGIN
  IF TG_OP = 'UPDATE' THEN
    cases := cases || ' WHERE NOT EXISTS (SELECT 1 FROM old_rows o WHERE o.registry = n.registry AND o.case_id = n.case_id)';
    invitations := invitations || ' AND NOT EXISTS (SELECT 1 FROM old_rows o WHERE o.invitation_id = n.invitation_id)';
  END IF;

  EXECUTE format('WITH k AS MATERIALIZED (%s)
    SELECT (SELECT count(*) FROM k),
           (SELECT count(*) FROM (SELECT 1 FROM registry_case c JOIN k ON c.registry = k.registry AND c.id = k.case_id FOR KEY SHARE OF c) l)', cases)
    INTO wanted, locked;
  IF locked < wanted THEN
    EXECUTE format('SELECT format(''(registry, case_id)=(%%s, %%s)'', k.registry, k.case_id) FROM (%s) k
      WHERE NOT EXISTS (SELECT 1 FROM registry_case c WHERE c.registry = k.registry AND c.id = k.case_id) LIMIT 1', cases) INTO missing;
    RAISE foreign_key_violation USING
      MESSAGE = 'insert or update on table "prom_item" violates the reference to its case',
      DETAIL = format('Key %s is not present in table "registry_case".', coalesce(missing, '(deleted meanwhile)'));
  END IF;

  EXECUTE format('WITH k AS MATERIALIZED (%s)
    SELECT (SELECT count(*) FROM k),
           (SELECT count(*) FROM (SELECT 1 FROM prom_invitation v JOIN k ON v.id = k.invitation_id FOR KEY SHARE OF v) l)', invitations)
    INTO wanted, locked;
  IF locked < wanted THEN
    EXECUTE format('SELECT format(''(invitation_id)=(%%s)'', k.invitation_id) FROM (%s) k
      WHERE NOT EXISTS (SELECT 1 FROM prom_invitation v WHERE v.id = k.invitation_id) LIMIT 1', invitations) INTO missing;
    RAISE foreign_key_violation USING
      MESSAGE = 'insert or update on table "prom_item" violates the reference to its invitation',
      DETAIL = format('Key %s is not present in table "prom_invitation".', coalesce(missing, '(deleted meanwhile)'));
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER prom_item_keys_ins AFTER INSERT ON prom_item REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION kvalreg_prom_item_check_keys();
CREATE TRIGGER prom_item_keys_upd AFTER UPDATE ON prom_item REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION kvalreg_prom_item_check_keys();

-- ON DELETE CASCADE from the case.
CREATE FUNCTION kvalreg_prom_item_case_deleted() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  DELETE FROM prom_item i USING old_rows o WHERE i.registry = o.registry AND i.case_id = o.id;
  RETURN NULL;
END $$;
CREATE TRIGGER registry_case_deletes_prom_items AFTER DELETE ON registry_case REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION kvalreg_prom_item_case_deleted();

CREATE FUNCTION kvalreg_prom_item_cases_truncated() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  TRUNCATE prom_item;
  RETURN NULL;
END $$;
CREATE TRIGGER registry_case_truncates_prom_items AFTER TRUNCATE ON registry_case
  FOR EACH STATEMENT EXECUTE FUNCTION kvalreg_prom_item_cases_truncated();

-- ON DELETE SET NULL from the invitation.
CREATE FUNCTION kvalreg_prom_item_invitation_deleted() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  UPDATE prom_item i SET invitation_id = NULL FROM old_rows o WHERE i.invitation_id = o.id;
  RETURN NULL;
END $$;
CREATE TRIGGER prom_invitation_unlinks_prom_items AFTER DELETE ON prom_invitation REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION kvalreg_prom_item_invitation_deleted();

-- NO ACTION on a changed key: a case's or an invitation's key that items name stays as it is.
CREATE FUNCTION kvalreg_prom_item_case_key_changed() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM prom_item i WHERE i.registry = OLD.registry AND i.case_id = OLD.id) THEN
    RAISE foreign_key_violation USING MESSAGE = format('case (%s, %s) has PROM items: its key cannot change', OLD.registry, OLD.id);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER registry_case_key_kept_for_prom_items BEFORE UPDATE OF registry, id ON registry_case
  FOR EACH ROW WHEN (OLD.registry IS DISTINCT FROM NEW.registry OR OLD.id IS DISTINCT FROM NEW.id)
  EXECUTE FUNCTION kvalreg_prom_item_case_key_changed();

CREATE FUNCTION kvalreg_prom_item_invitation_key_changed() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM prom_item i WHERE i.invitation_id = OLD.id) THEN
    RAISE foreign_key_violation USING MESSAGE = format('invitation %s has PROM items: its key cannot change', OLD.id);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER prom_invitation_key_kept_for_prom_items BEFORE UPDATE OF id ON prom_invitation
  FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
  EXECUTE FUNCTION kvalreg_prom_item_invitation_key_changed();
