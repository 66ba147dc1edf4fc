-- A patient sees what is registered about them (innsyn) and who looked at it. Their transactions
-- run under row-level security with `kvalreg.person` set to their own person id.
ALTER TABLE api_token ADD COLUMN nin_hash bytea;   -- a patient's token is bound to their identity (as the OIDC pid claim will be)

CREATE FUNCTION kvalreg_own_person(p bigint) RETURNS boolean LANGUAGE sql STABLE AS
$$ SELECT p IS NOT NULL AND coalesce(current_setting('kvalreg.person', true), '') = p::text $$;

-- Read-only additions (policies of one command are OR'ed): a patient reads their own rows and
-- can change nothing through them.
CREATE POLICY registry_case_own ON registry_case FOR SELECT USING (kvalreg_own_person(person_id));
CREATE POLICY case_form_own ON case_form FOR SELECT USING (EXISTS (
  SELECT 1 FROM registry_case c WHERE c.registry = case_form.registry AND c.id = case_form.case_id AND kvalreg_own_person(c.person_id)));
CREATE POLICY value_history_own ON value_history FOR SELECT USING (EXISTS (
  SELECT 1 FROM registry_case c WHERE c.registry = value_history.registry AND c.id = value_history.case_id AND kvalreg_own_person(c.person_id)));
CREATE POLICY person_own ON person FOR SELECT USING (kvalreg_own_person(id));
CREATE POLICY audit_event_own ON audit_event FOR SELECT USING (kvalreg_own_person(person_id));

-- Unit names for the patient's view of who looked.
GRANT SELECT ON org_unit TO kvalreg_app;
