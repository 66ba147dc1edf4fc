-- Row-level security: unit users read and write person-level data as `kvalreg_app`, a role that
-- owns no table and cannot bypass RLS. The data-access door switches their transactions to it and
-- sets what the caller may see (work that may see everything runs as the owning role; see door.ts):
--   kvalreg.scope  = 'all'    for the platform's own work, sending systems (capture must route)
--                             and registry/platform admins;
--                  = 'units' for unit users, with
--   kvalreg.grants = 'registry:unit,registry:unit,…' (units with their sub-units, '*' = any registry).
-- With no context set, nothing person-level is visible.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kvalreg_app') THEN
    CREATE ROLE kvalreg_app NOLOGIN NOBYPASSRLS;
  END IF;
END $$;
GRANT kvalreg_app TO CURRENT_USER;

CREATE FUNCTION kvalreg_scope_all() RETURNS boolean LANGUAGE sql STABLE AS
$$ SELECT coalesce(current_setting('kvalreg.scope', true), '') = 'all' $$;

CREATE FUNCTION kvalreg_unit_visible(registry text, unit text) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT kvalreg_scope_all()
      OR (coalesce(current_setting('kvalreg.scope', true), '') = 'units' AND unit IS NOT NULL
          AND (registry || ':' || unit = ANY (string_to_array(current_setting('kvalreg.grants', true), ','))
               OR '*:' || unit = ANY (string_to_array(current_setting('kvalreg.grants', true), ','))
               -- a registry admin sees all of that registry: the grant "registry:*"
               OR registry || ':*' = ANY (string_to_array(current_setting('kvalreg.grants', true), ','))))
$$;

GRANT USAGE ON SCHEMA public TO kvalreg_app;
GRANT SELECT ON org_unit, registry, registry_version TO kvalreg_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON person, reservation, refused_count, inbox_message, source_resource,
  registry_case, case_form, value_history, routing_decision TO kvalreg_app;
-- The audit trail: the application may add to it and read it, never change it.
GRANT SELECT, INSERT ON audit_event TO kvalreg_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO kvalreg_app;

ALTER TABLE registry_case ENABLE ROW LEVEL SECURITY;
CREATE POLICY registry_case_scope ON registry_case USING (kvalreg_unit_visible(registry, unit_resh)) WITH CHECK (kvalreg_scope_all() OR kvalreg_unit_visible(registry, unit_resh));

ALTER TABLE case_form ENABLE ROW LEVEL SECURITY;
CREATE POLICY case_form_scope ON case_form USING (kvalreg_scope_all() OR EXISTS (
  SELECT 1 FROM registry_case c WHERE c.registry = case_form.registry AND c.id = case_form.case_id AND kvalreg_unit_visible(c.registry, c.unit_resh)));

ALTER TABLE value_history ENABLE ROW LEVEL SECURITY;
CREATE POLICY value_history_scope ON value_history USING (kvalreg_scope_all() OR EXISTS (
  SELECT 1 FROM registry_case c WHERE c.registry = value_history.registry AND c.id = value_history.case_id AND kvalreg_unit_visible(c.registry, c.unit_resh)));

ALTER TABLE person ENABLE ROW LEVEL SECURITY;
CREATE POLICY person_scope ON person USING (kvalreg_scope_all() OR EXISTS (
  SELECT 1 FROM registry_case c WHERE c.person_id = person.id AND kvalreg_unit_visible(c.registry, c.unit_resh)));

-- Raw messages, captured resources, routing, reservations: only the platform's own work and admins.
ALTER TABLE inbox_message ENABLE ROW LEVEL SECURITY;
CREATE POLICY inbox_message_scope ON inbox_message USING (kvalreg_scope_all());
ALTER TABLE source_resource ENABLE ROW LEVEL SECURITY;
CREATE POLICY source_resource_scope ON source_resource USING (kvalreg_scope_all());
ALTER TABLE routing_decision ENABLE ROW LEVEL SECURITY;
CREATE POLICY routing_decision_scope ON routing_decision USING (kvalreg_scope_all());
ALTER TABLE reservation ENABLE ROW LEVEL SECURITY;
CREATE POLICY reservation_scope ON reservation USING (kvalreg_scope_all());
ALTER TABLE refused_count ENABLE ROW LEVEL SECURITY;
CREATE POLICY refused_count_scope ON refused_count USING (kvalreg_scope_all());

ALTER TABLE audit_event ENABLE ROW LEVEL SECURITY;
CREATE POLICY audit_event_insert ON audit_event FOR INSERT WITH CHECK (true);
CREATE POLICY audit_event_read ON audit_event FOR SELECT USING (kvalreg_scope_all());

-- Which unit a case belongs to, for the door to tell "not yours" (403, audited) from "no such
-- case" (404) without showing the caller the row. Runs with the owner's rights; reveals only the unit.
-- It also gives the person, so that the refused attempt is recorded against them (innsyn shows it).
CREATE FUNCTION kvalreg_case_unit(p_registry text, p_id bigint, OUT unit text, OUT person_id bigint) LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = public AS $$ SELECT unit_resh, person_id FROM registry_case WHERE registry = p_registry AND id = p_id $$;
REVOKE ALL ON FUNCTION kvalreg_case_unit(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION kvalreg_case_unit(text, bigint) TO kvalreg_app;
