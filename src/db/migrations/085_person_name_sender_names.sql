-- The patient's name, so that a registrar can tell who a registration is about and find the chart:
-- kept only encrypted, like the identity number (AES-256-GCM, key outside the database), with a
-- keyed hash to tell whether a message brings a different name without decrypting. It goes with the
-- person when they opt out (the row is deleted), and `kvalreg keys reencrypt` moves it to a new key.
ALTER TABLE person ADD COLUMN name_enc bytea;
ALTER TABLE person ADD COLUMN name_mac bytea;

-- The names of the sending systems (from their tokens and OAuth clients), by sender id: what a
-- case header and innsyn call the system a value came from ("SUS DIPS Arena", not "sus-dips").
-- Runs with the owner's rights and reveals nothing but the names.
CREATE FUNCTION kvalreg_sender_names(OUT sender text, OUT name text) RETURNS SETOF record LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = public AS $$
    SELECT DISTINCT ON (sender) sender, name FROM (
      SELECT sender, name, 1 AS rank, created_at FROM api_client
      UNION ALL SELECT sender, name, 2, created_at FROM api_token WHERE kind = 'system' AND sender IS NOT NULL) s
    ORDER BY sender, rank, created_at $$;
REVOKE ALL ON FUNCTION kvalreg_sender_names() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION kvalreg_sender_names() TO kvalreg_app;

-- The names of people who entered values (provenance keeps their subject), for the per-field
-- history a registrar reads ("Sindre Stavanger", not "sub-registrar"). Only the names asked for.
CREATE FUNCTION kvalreg_user_names(p_subjects text[], OUT subject text, OUT name text) RETURNS SETOF record LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = public AS $$ SELECT subject, name FROM app_user WHERE subject = ANY(p_subjects) $$;
REVOKE ALL ON FUNCTION kvalreg_user_names(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION kvalreg_user_names(text[]) TO kvalreg_app;

-- Where a case came from, for its header: the sending system and its own identifiers of the
-- anchor resource and the encounter it refers to (the record or contact number a registrar looks
-- up in the chart). Captured resources are not visible to unit users, so this owner function gives
-- those three fields only, and only for cases the caller may see: the same unit rule as the
-- policies, applied explicitly (inside the function the owner's "see everything" does not count
-- for the application's login).
CREATE FUNCTION kvalreg_case_sources(p_registry text, p_ids bigint[], OUT case_id bigint, OUT sender text, OUT anchor_key text, OUT encounter_ref text)
  RETURNS SETOF record LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT c.id, s.sender, c.anchor_key, s.resource->'encounter'->>'reference'
  FROM registry_case c LEFT JOIN source_resource s ON s.rkey = c.anchor_key
  WHERE c.registry = p_registry AND c.id = ANY(p_ids)
    AND ((coalesce(current_setting('kvalreg.scope', true), '') = 'all' AND session_user <> 'kvalreg_app_login' AND current_setting('role', true) IS DISTINCT FROM 'kvalreg_app')
         OR (coalesce(current_setting('kvalreg.scope', true), '') = 'units' AND kvalreg_unit_visible(c.registry, c.unit_resh))) $$;
REVOKE ALL ON FUNCTION kvalreg_case_sources(text, bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION kvalreg_case_sources(text, bigint[]) TO kvalreg_app;
