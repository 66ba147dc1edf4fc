-- PROM results reach the analytics tables: a registry's `prom` derived variables (codebook.yaml)
-- read each case's PROM items and the scores of their answers, so a change to an item (invited,
-- answered, expired, cancelled, its answer taken back) or to an answer marks the case for the
-- refresher, as a changed form does (migration 013).

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

-- An update marks the cases of the items it touched: every update of an item changes its status
-- or its answer. (Joining the new rows to the old ones to check that would cost a nested loop over
-- two transition tables without indexes: 46 s for the 8,000 items of one busy day.)
CREATE TRIGGER prom_item_analytics_upd AFTER UPDATE ON prom_item REFERENCING NEW TABLE AS changed_rows
  FOR EACH STATEMENT EXECUTE FUNCTION analytics_mark_prom_items();

-- New scores of an answer (a new version from its sender) mark the cases of the items it answers.
CREATE FUNCTION analytics_mark_prom_responses() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  INSERT INTO analytics_change (registry, case_id)
  SELECT DISTINCT i.registry, i.case_id FROM changed_rows n JOIN prom_item i ON i.response_id = n.id;
  RETURN NULL;
END $$;
CREATE TRIGGER prom_response_analytics_upd AFTER UPDATE ON prom_response REFERENCING NEW TABLE AS changed_rows
  FOR EACH STATEMENT EXECUTE FUNCTION analytics_mark_prom_responses();
