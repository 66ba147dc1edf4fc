-- PROM results reach the analytics tables: a registry's `prom` derived variables (codebook.yaml)
-- read each case's PROM items and the scores of their answers, so a change to an item (invited,
-- answered, expired, cancelled, its answer taken back) or to the scores of an answer marks the
-- case for the refresher, as a changed form does (migration 013).

CREATE FUNCTION analytics_mark_prom_items() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  INSERT INTO analytics_change (registry, case_id)
  SELECT DISTINCT registry, case_id FROM changed_rows;
  RETURN NULL;
END $$;
CREATE TRIGGER prom_item_analytics_ins AFTER INSERT ON prom_item REFERENCING NEW TABLE AS changed_rows
  FOR EACH STATEMENT EXECUTE FUNCTION analytics_mark_prom_items();
CREATE TRIGGER prom_item_analytics_del AFTER DELETE ON prom_item REFERENCING OLD TABLE AS changed_rows
  FOR EACH STATEMENT EXECUTE FUNCTION analytics_mark_prom_items();

-- Updates mark only what a result can show: the status and the answer.
CREATE FUNCTION analytics_mark_prom_item_updates() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  INSERT INTO analytics_change (registry, case_id)
  SELECT DISTINCT n.registry, n.case_id FROM new_rows n
  JOIN old_rows o ON o.registry = n.registry AND o.case_id = n.case_id AND o.schedule = n.schedule AND o.timepoint = n.timepoint AND o.instrument = n.instrument
  WHERE n.status IS DISTINCT FROM o.status OR n.response_id IS DISTINCT FROM o.response_id;
  RETURN NULL;
END $$;
CREATE TRIGGER prom_item_analytics_upd AFTER UPDATE ON prom_item REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION analytics_mark_prom_item_updates();

CREATE FUNCTION analytics_mark_prom_responses() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  INSERT INTO analytics_change (registry, case_id)
  SELECT DISTINCT i.registry, i.case_id FROM new_rows n
  JOIN old_rows o ON o.id = n.id
  JOIN prom_item i ON i.response_id = n.id
  WHERE n.scores IS DISTINCT FROM o.scores OR n.status IS DISTINCT FROM o.status OR n.answered_at IS DISTINCT FROM o.answered_at;
  RETURN NULL;
END $$;
CREATE TRIGGER prom_response_analytics_upd AFTER UPDATE ON prom_response REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION analytics_mark_prom_responses();
