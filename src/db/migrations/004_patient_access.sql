-- A patient sees what is registered about them (innsyn) and who looked at it. Their transactions
-- run under row-level security with `kvalreg.person` set to their own person id.
ALTER TABLE api_token ADD COLUMN nin_hash bytea;   -- a patient's token is bound to their identity (as the OIDC pid claim will be)

CREATE FUNCTION kvalreg_own_person(p bigint) RETURNS boolean LANGUAGE sql STABLE AS
$$ SELECT p IS NOT NULL AND coalesce(current_setting('kvalreg.person', true), '') = p::text $$;

DROP POLICY registry_case_scope ON registry_case;
CREATE POLICY registry_case_scope ON registry_case
  USING (kvalreg_unit_visible(registry, unit_resh) OR kvalreg_own_person(person_id))
  WITH CHECK (kvalreg_scope_all() OR kvalreg_unit_visible(registry, unit_resh));

DROP POLICY case_form_scope ON case_form;
CREATE POLICY case_form_scope ON case_form USING (kvalreg_scope_all() OR EXISTS (
  SELECT 1 FROM registry_case c WHERE c.registry = case_form.registry AND c.id = case_form.case_id
    AND (kvalreg_unit_visible(c.registry, c.unit_resh) OR kvalreg_own_person(c.person_id))));

DROP POLICY value_history_scope ON value_history;
CREATE POLICY value_history_scope ON value_history USING (kvalreg_scope_all() OR EXISTS (
  SELECT 1 FROM registry_case c WHERE c.registry = value_history.registry AND c.id = value_history.case_id
    AND (kvalreg_unit_visible(c.registry, c.unit_resh) OR kvalreg_own_person(c.person_id))));

DROP POLICY person_scope ON person;
CREATE POLICY person_scope ON person USING (kvalreg_scope_all() OR kvalreg_own_person(id) OR EXISTS (
  SELECT 1 FROM registry_case c WHERE c.person_id = person.id AND kvalreg_unit_visible(c.registry, c.unit_resh)));

DROP POLICY audit_event_read ON audit_event;
CREATE POLICY audit_event_read ON audit_event FOR SELECT USING (kvalreg_scope_all() OR kvalreg_own_person(person_id));

-- Unit names for the patient's view of who looked.
GRANT SELECT ON org_unit TO kvalreg_app;
