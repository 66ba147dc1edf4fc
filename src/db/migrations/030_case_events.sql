-- Event identity across cases (a registry's optional `event` declaration in mapping.yaml): one
-- real-world event of a person may give several cases (one per receiving unit), which share an
-- event key; a second registration of the same event at the same unit the same day is marked
-- invalid, merged into the first. Nothing is deleted: an invalid case keeps its forms and history,
-- stays readable and audited, and is left out of analytics, indicators and the worklist.
ALTER TABLE registry_case
  ADD COLUMN event_key      text,             -- keyed hash (hex) of the person and the event's start date
  ADD COLUMN invalid_reason text,             -- why the case does not count (e.g. 'same-event-same-day')
  ADD COLUMN merged_into    bigint;           -- the case of the same registry it was merged into
CREATE INDEX registry_case_event_idx ON registry_case (registry, event_key) WHERE event_key IS NOT NULL;

-- A case's event or validity is part of its analytics row (invalid cases have none), so a change
-- marks it like a change of unit does.
CREATE OR REPLACE FUNCTION analytics_mark_cases() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  INSERT INTO analytics_change (registry, case_id)
  SELECT DISTINCT n.registry, n.id FROM new_rows n JOIN old_rows o ON o.registry = n.registry AND o.id = n.id
  WHERE (n.unit_resh, n.event_key, n.invalid_reason) IS DISTINCT FROM (o.unit_resh, o.event_key, o.invalid_reason);
  RETURN NULL;
END $$;
