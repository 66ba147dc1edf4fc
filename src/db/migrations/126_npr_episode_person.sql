-- The person each NPR episode's number names, stored on the episode (src/quality/coverage.ts).
-- The linkage joins episodes with cases by person: resolving every episode's keyed hash to a person
-- at each computation (a hash join against person ∪ person_merge) cost more than the rest of it
-- (docs/performance.md, "Data quality and NPR linkage"). The import fills the column
-- (src/quality/npr.ts), and the triggers below keep it current whenever what a number names
-- changes: a person created with the number later (an episode of a patient the registry had not
-- captured yet: "only in NPR" until then), a person removed (merged away, or reserved), a merge
-- recorded or moved along (person_merge). The rule is kvalreg_person_id_by_hash's: the person
-- holding the number, else the person it was merged into, else none.
--
-- Row triggers, each one index probe of npr_episode (by hash) that finds nothing for almost every
-- person the capture creates (docs/performance.md: about 40 µs per person created, none per person updated).

ALTER TABLE npr_episode ADD COLUMN person_id bigint;
UPDATE npr_episode x SET person_id = kvalreg_person_id_by_hash(x.nin_hash);

-- Re-resolves the episodes of one number (called by the triggers below, as the owner: the capture
-- and the registrars who create persons may not write episodes).
CREATE FUNCTION kvalreg_npr_relink(p_hash bytea) RETURNS void LANGUAGE sql AS $$
  UPDATE public.npr_episode x SET person_id = r.id
  FROM (SELECT coalesce((SELECT p.id FROM public.person p WHERE p.nin_hash = p_hash),
                        (SELECT m.into_id FROM public.person_merge m WHERE m.from_hash = p_hash)) AS id) r
  WHERE x.nin_hash = p_hash AND x.person_id IS DISTINCT FROM r.id $$;
REVOKE ALL ON FUNCTION kvalreg_npr_relink(bytea) FROM PUBLIC;

-- Almost every person the capture creates has no episode: the triggers look first (one index
-- probe) and call nothing then. Persons updated without a new number, the capture's commonest
-- write, do not fire them.
CREATE FUNCTION kvalreg_npr_person_changed() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  IF TG_OP <> 'INSERT' AND EXISTS (SELECT 1 FROM npr_episode WHERE nin_hash = OLD.nin_hash) THEN
    PERFORM kvalreg_npr_relink(OLD.nin_hash);
  END IF;
  IF TG_OP <> 'DELETE' AND EXISTS (SELECT 1 FROM npr_episode WHERE nin_hash = NEW.nin_hash) THEN
    PERFORM kvalreg_npr_relink(NEW.nin_hash);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER person_relinks_npr AFTER INSERT OR DELETE OR UPDATE OF nin_hash ON person
  FOR EACH ROW EXECUTE FUNCTION kvalreg_npr_person_changed();

CREATE FUNCTION kvalreg_npr_merge_changed() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  IF TG_OP <> 'INSERT' AND EXISTS (SELECT 1 FROM npr_episode WHERE nin_hash = OLD.from_hash) THEN
    PERFORM kvalreg_npr_relink(OLD.from_hash);
  END IF;
  IF TG_OP <> 'DELETE' AND EXISTS (SELECT 1 FROM npr_episode WHERE nin_hash = NEW.from_hash) THEN
    PERFORM kvalreg_npr_relink(NEW.from_hash);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER merge_relinks_npr AFTER INSERT OR DELETE OR UPDATE OF from_hash, into_id ON person_merge
  FOR EACH ROW EXECUTE FUNCTION kvalreg_npr_merge_changed();
