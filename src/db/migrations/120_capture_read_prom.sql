-- The capture read also returns what the PROM module's capture hook (src/prom/capture.ts) used to
-- read on its own, in two more round trips and after flushing the message's writes: which of the
-- message's QuestionnaireResponses are kept already, and the completed answers of the message's
-- persons still waiting for a case to match. Neither depends on what the capture writes (it never
-- writes PROM tables), so they can be read with everything else, after the persons' locks; a
-- message with no PROM answer then takes its read and its commit, and the hook reads nothing.
--
-- The function of migration 110 keeps its body under a new name; kvalreg_capture_read calls it
-- and adds the PROM part. Each statement of a PL/pgSQL function takes a new snapshot (READ
-- COMMITTED), so the PROM part, read after the call, sees what the locks' previous holders committed.
ALTER FUNCTION kvalreg_capture_read(jsonb) RENAME TO kvalreg_capture_read_cases;

-- Input: as kvalreg_capture_read_cases (migration 110). Output: its document, and
--   prom_kept     rkeys of the message's QuestionnaireResponses that a PROM response is kept under
--   prom_waiting  completed responses of the message's persons that no PROM item took yet
--                 [{id, person_id, instrument, recall, answered_at, provenance, source_key}]
CREATE FUNCTION kvalreg_capture_read(p jsonb) RETURNS jsonb LANGUAGE plpgsql SET plan_cache_mode = auto AS $$
DECLARE
  v jsonb;
  v_pids bigint[];
  v_responses text[];
BEGIN
  v := kvalreg_capture_read_cases(p);
  v_pids := ARRAY(SELECT (x->>'id')::bigint FROM jsonb_each(v->'people') AS e(k, x));
  v_responses := ARRAY(SELECT x FROM jsonb_array_elements_text(coalesce(p->'resources', '[]')) AS x WHERE x LIKE 'QuestionnaireResponse|%');
  RETURN v || jsonb_build_object(
    'prom_kept', (SELECT coalesce(jsonb_agg(r.source_key), '[]') FROM prom_response r
                  WHERE cardinality(v_responses) > 0 AND r.source_key = ANY(v_responses)),
    'prom_waiting', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', r.id, 'person_id', r.person_id, 'instrument', r.instrument,
                       'recall', r.recall, 'answered_at', r.answered_at, 'provenance', r.provenance, 'source_key', r.source_key) ORDER BY r.id), '[]')
                     FROM prom_response r
                     WHERE cardinality(v_pids) > 0 AND r.person_id = ANY(v_pids) AND r.status = 'completed' AND r.source_key IS NOT NULL
                       AND NOT EXISTS (SELECT 1 FROM prom_item i WHERE i.response_id = r.id)));
END $$;

REVOKE ALL ON FUNCTION kvalreg_capture_read(jsonb) FROM PUBLIC;
