-- Capture in two round trips (src/capture/snapshot.ts, src/capture/changes.ts): one server-side
-- function takes a message's locks and reads everything the pipeline needs; the pipeline decides
-- in memory; one function writes everything, together with the raw message, in the round trip
-- that commits. Before this a message took about 25 round trips and two transactions.
--
-- Lock order (src/records/locks.ts, architecture.md decision 25): persons first (transaction
-- advisory locks in ascending key order), then cases in id order (FOR UPDATE), then their forms.
-- Each statement of a PL/pgSQL function takes a new snapshot (READ COMMITTED), so everything read
-- after a lock statement sees what the lock's previous holder committed: no read shares a
-- statement with the lock it waited for.

-- The advisory-lock key of a person: the first 64 bits of the keyed hash, signed big-endian, as
-- records/locks.ts computes it (the same key from JavaScript and from SQL).
CREATE FUNCTION kvalreg_person_lock_key(h bytea) RETURNS bigint LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $$ SELECT ('x' || encode(substring(h FROM 1 FOR 8), 'hex'))::bit(64)::bigint $$;

-- Locks the persons with these keyed hashes that are not locked yet, in ascending key order, one
-- statement per lock (re-locking one already held is free anyway).
CREATE FUNCTION kvalreg_lock_persons(hashes bytea[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE k bigint;
BEGIN
  FOR k IN SELECT DISTINCT kvalreg_person_lock_key(h) AS key FROM unnest(hashes) AS h WHERE length(h) >= 8 ORDER BY key LOOP
    PERFORM pg_advisory_xact_lock(k);
  END LOOP;
END $$;

-- Everything one message's capture reads, after taking its locks. Input (jsonb):
--   message_id      the message's id, or null: a new one is drawn (before any lock: ids follow receipt)
--   sender          the sending system (its registries, if it is limited to some)
--   lock            keyed hashes (hex) to lock: every identity number the message's text names
--   identities      keyed hashes (hex) of the message's patients, looked up as persons
--   deceased        {hash: date} dates of death the message gives (cases of persons whose date changes are re-evaluated)
--   resources       rkeys of the message's resources (their stored versions)
--   deletions       rkeys the message deletes (their persons are locked too)
--   registries      [{id, event, anchor_keys, shared_keys, anchors: [{rkey, refs}]}]: per registry,
--                   the keys by which stored cases concern the message, and the message's anchors
--                   (for the resources stored before them)
-- Output: one jsonb document (see src/capture/snapshot.ts).
CREATE FUNCTION kvalreg_capture_read(p jsonb) RETURNS jsonb LANGUAGE plpgsql SET plan_cache_mode = auto AS $$
DECLARE
  v_message bigint := coalesce((p->>'message_id')::bigint, nextval(pg_get_serial_sequence('inbox_message', 'id')));
  v_identities bytea[] := ARRAY(SELECT decode(x, 'hex') FROM jsonb_array_elements_text(coalesce(p->'identities', '[]')) AS x);
  v_lock bytea[] := ARRAY(SELECT decode(x, 'hex') FROM jsonb_array_elements_text(coalesce(p->'lock', '[]')) AS x);
  v_resources text[] := ARRAY(SELECT jsonb_array_elements_text(coalesce(p->'resources', '[]')));
  v_deletions text[] := ARRAY(SELECT jsonb_array_elements_text(coalesce(p->'deletions', '[]')));
  v_owners_before jsonb;
  v_owners_after jsonb;
  v_locked bytea[];
  v_extra bytea[];
  v_pids bigint[];
  v_persons jsonb;
  v_people jsonb;
  v_new_persons jsonb;
  v_registries jsonb := '[]';
  v_case_ids bigint[] := '{}';
  v_case_registries text[] := '{}';
  v_reg jsonb;
  v_known jsonb;
  v_known_ids bigint[];
  v_earlier jsonb;
  v_recheck bigint[];
  v_event bigint[];
  v_new_cases int := 0;
  v_result jsonb;
BEGIN
  -- 1. Persons: the message's, and those of the resources it deletes (read before their lock,
  -- checked again after it: a merge may have moved one meanwhile, then the transaction starts again).
  SELECT coalesce(jsonb_object_agg(s.rkey, s.person_id), '{}') INTO v_owners_before
    FROM source_resource s WHERE s.rkey = ANY(v_deletions);
  v_locked := v_lock || v_identities || ARRAY(SELECT p2.nin_hash FROM source_resource s JOIN person p2 ON p2.id = s.person_id WHERE s.rkey = ANY(v_deletions));
  PERFORM kvalreg_lock_persons(v_locked);
  SELECT coalesce(jsonb_object_agg(s.rkey, s.person_id), '{}') INTO v_owners_after
    FROM source_resource s WHERE s.rkey = ANY(v_deletions);
  IF v_owners_after IS DISTINCT FROM v_owners_before THEN
    RAISE EXCEPTION 'a resource to delete changed owner while the message waited' USING ERRCODE = '40001';
  END IF;
  -- A number merged into another person names that person (person_merge, read after the number's
  -- own lock): the survivor is locked in a second step, and looked up again, as records/persons.ts does.
  FOR round IN 1..4 LOOP
    v_extra := ARRAY(
      SELECT DISTINCT p2.nin_hash FROM unnest(v_identities) AS h
      CROSS JOIN LATERAL (SELECT coalesce((SELECT id FROM person WHERE nin_hash = h), (SELECT into_id FROM person_merge WHERE from_hash = h)) AS id) AS r
      JOIN person p2 ON p2.id = r.id
      WHERE p2.nin_hash <> ALL(v_locked));
    EXIT WHEN cardinality(v_extra) = 0;
    PERFORM kvalreg_lock_persons(v_extra);
    v_locked := v_locked || v_extra;
  END LOOP;
  -- Each asked hash: the person it names now (its own, or the survivor of a merge), and whether it opted out.
  SELECT coalesce(jsonb_object_agg(encode(h, 'hex'), jsonb_build_object('live', encode(p2.nin_hash, 'hex'),
           'reserved', EXISTS (SELECT 1 FROM reservation r WHERE r.nin_hash = h))), '{}'),
         coalesce(jsonb_object_agg(encode(p2.nin_hash, 'hex'), jsonb_build_object('id', p2.id, 'kind', p2.nin_kind, 'birth_date', p2.birth_date,
           'sex', p2.sex, 'deceased_date', p2.deceased_date, 'reserved', EXISTS (SELECT 1 FROM reservation r WHERE r.nin_hash = p2.nin_hash)))
           FILTER (WHERE p2.id IS NOT NULL), '{}'),
         coalesce(array_agg(DISTINCT p2.id) FILTER (WHERE p2.id IS NOT NULL), '{}')
    INTO v_persons, v_people, v_pids
    FROM unnest(v_identities) AS h
    CROSS JOIN LATERAL (SELECT coalesce((SELECT id FROM person WHERE nin_hash = h), (SELECT into_id FROM person_merge WHERE from_hash = h)) AS id) AS r
    LEFT JOIN person p2 ON p2.id = r.id;
  -- Ids for the persons the message may create (drawn now, so that what is written can name them).
  SELECT coalesce(jsonb_object_agg(encode(h, 'hex'), nextval(pg_get_serial_sequence('person', 'id'))), '{}') INTO v_new_persons
    FROM (SELECT DISTINCT h FROM unnest(v_identities) AS h) AS t
    WHERE v_persons->encode(h, 'hex')->>'live' IS NULL;

  -- 2. Per registry: the stored cases the message concerns (by an anchor's key, or by what an
  -- anchor refers to), the resources stored before the message's new anchors, the cases to
  -- re-evaluate for a new date of death, and every case of the persons for event identity.
  -- Only the message's persons' cases: values go only to cases of the resource's own person.
  FOR v_reg IN SELECT * FROM jsonb_array_elements(coalesce(p->'registries', '[]')) LOOP
    SELECT coalesce(jsonb_agg(jsonb_build_object('id', c.id, 'anchor_key', c.anchor_key, 'person_id', c.person_id, 'resource', s.resource) ORDER BY c.id), '[]'),
           coalesce(array_agg(c.id), '{}')
      INTO v_known, v_known_ids
      FROM registry_case c JOIN source_resource s ON s.rkey = c.anchor_key
      WHERE c.registry = v_reg->>'id' AND c.person_id = ANY(v_pids)
        AND (c.anchor_key = ANY(ARRAY(SELECT jsonb_array_elements_text(v_reg->'anchor_keys')))
             OR s.links && ARRAY(SELECT jsonb_array_elements_text(v_reg->'shared_keys')));
    -- Anchors without a case yet may become cases: what was stored before them belongs to them.
    WITH fresh AS (
      SELECT a->>'rkey' AS rkey, a->'refs' AS refs FROM jsonb_array_elements(coalesce(v_reg->'anchors', '[]')) AS a
      WHERE NOT EXISTS (SELECT 1 FROM registry_case c WHERE c.registry = v_reg->>'id' AND c.anchor_key = a->>'rkey')),
    keys AS (SELECT ARRAY(SELECT rkey FROM fresh) AS anchors,
                    ARRAY(SELECT DISTINCT jsonb_array_elements_text(refs) FROM fresh) AS refs,
                    (SELECT count(*) FROM fresh) AS n)
    SELECT coalesce((SELECT jsonb_agg(jsonb_build_object('rkey', s.rkey, 'resource_type', s.resource_type, 'resource', s.resource, 'person_id', s.person_id) ORDER BY s.rkey)
             FROM source_resource s
             WHERE k.n > 0 AND s.person_id = ANY(v_pids) AND (s.links && k.anchors OR s.rkey = ANY(k.refs) OR s.links && k.refs)), '[]'),
           v_new_cases + k.n
      INTO v_earlier, v_new_cases
      FROM keys k;
    v_recheck := ARRAY(
      SELECT c.id FROM registry_case c JOIN person p2 ON p2.id = c.person_id
      JOIN jsonb_each_text(coalesce(p->'deceased', '{}')) AS d(hash, date) ON v_persons->d.hash->>'live' = encode(p2.nin_hash, 'hex')
      WHERE c.registry = v_reg->>'id' AND p2.deceased_date IS DISTINCT FROM d.date::date);
    v_event := CASE WHEN (v_reg->>'event')::boolean
      THEN ARRAY(SELECT c.id FROM registry_case c WHERE c.registry = v_reg->>'id' AND c.person_id = ANY(v_pids)) ELSE '{}' END;
    v_registries := v_registries || jsonb_build_array(jsonb_build_object('id', v_reg->>'id', 'known', v_known, 'earlier', v_earlier,
      'recheck', to_jsonb(v_recheck), 'event', to_jsonb(v_event)));
    v_case_ids := v_case_ids || v_known_ids || v_recheck || v_event;
    v_case_registries := v_case_registries || array_fill(v_reg->>'id', ARRAY[cardinality(v_known_ids) + cardinality(v_recheck) + cardinality(v_event)]);
  END LOOP;

  -- 3. The cases, in id order, then their forms: read after the lock.
  PERFORM 1 FROM registry_case c JOIN (SELECT DISTINCT r, i FROM unnest(v_case_registries, v_case_ids) AS t(r, i)) AS t ON c.registry = t.r AND c.id = t.i
    ORDER BY c.id FOR UPDATE OF c;
  SELECT jsonb_build_object(
      'message_id', v_message,
      'sender_registries', (SELECT to_jsonb(registries) FROM api_client WHERE sender = p->>'sender' AND cardinality(registries) > 0 LIMIT 1),
      'persons', v_persons, 'people', v_people, 'new_persons', v_new_persons,
      'new_case_ids', (SELECT coalesce(jsonb_agg(nextval(pg_get_serial_sequence('registry_case', 'id'))), '[]') FROM generate_series(1, v_new_cases)),
      'existing', (SELECT coalesce(jsonb_agg(jsonb_build_object('rkey', s.rkey, 'content_sha256', encode(s.content_sha256, 'hex'), 'version', s.version,
                     'message_id', s.message_id, 'sender', s.sender, 'owner', encode(p2.nin_hash, 'hex'))), '[]')
                   FROM source_resource s JOIN person p2 ON p2.id = s.person_id WHERE s.rkey = ANY(v_resources)),
      'deletions', (SELECT coalesce(jsonb_agg(jsonb_build_object('rkey', s.rkey, 'sender', s.sender, 'person_id', s.person_id, 'message_id', s.message_id,
                     'deleted', s.deleted_at IS NOT NULL, 'nin_hash', encode(p2.nin_hash, 'hex'))), '[]')
                   FROM source_resource s JOIN person p2 ON p2.id = s.person_id WHERE s.rkey = ANY(v_deletions)),
      'registries', v_registries,
      'cases', (SELECT coalesce(jsonb_agg(jsonb_build_object('registry', c.registry, 'id', c.id, 'person_id', c.person_id, 'anchor_key', c.anchor_key,
                  'unit_resh', c.unit_resh, 'unit_path', coalesce(to_jsonb(u.path), jsonb_build_array(c.unit_resh)), 'event_key', c.event_key,
                  'invalid_reason', c.invalid_reason, 'merged_into', c.merged_into,
                  'forms', (SELECT coalesce(jsonb_agg(jsonb_build_object('form', f.form, 'instance', f.instance, 'status', f.status, 'data', f.data,
                              'provenance', f.provenance, 'missing', to_jsonb(f.missing), 'findings', f.findings, 'version', f.version)), '[]')
                            FROM case_form f WHERE f.registry = c.registry AND f.case_id = c.id)) ORDER BY c.id), '[]')
                FROM registry_case c JOIN (SELECT DISTINCT r, i FROM unnest(v_case_registries, v_case_ids) AS t(r, i)) AS t ON c.registry = t.r AND c.id = t.i
                LEFT JOIN org_unit u ON u.resh = c.unit_resh))
    INTO v_result;
  RETURN v_result;
END $$;

-- Everything one message's capture writes, in one call (the round trip that commits). Input
-- (jsonb): message_id, sender, and the rows the pipeline decided on (src/capture/changes.ts).
-- The rules that decide between writers are part of the writes (a new version of a captured
-- resource only from the same sender for the same person, with other content, from a later
-- message; a deletion only of the sender's own, current resource): when a write disagrees with
-- what the pipeline read, a concurrent message about another patient got there first, and the
-- transaction is aborted as a serialization failure, which the data-access door runs again.
CREATE FUNCTION kvalreg_capture_write(p jsonb) RETURNS void LANGUAGE plpgsql SET plan_cache_mode = auto AS $$
DECLARE
  v_message bigint := (p->>'message_id')::bigint;
  v_sender text := p->>'sender';
  v_at timestamptz := coalesce((p->>'at')::timestamptz, now());
  n bigint;
BEGIN
  IF jsonb_array_length(coalesce(p->'person_updates', '[]')) > 0 THEN
    UPDATE person x SET birth_date = u.birth, sex = u.sex, deceased_date = u.deceased, updated_at = now()
      FROM jsonb_to_recordset(p->'person_updates') AS u(id bigint, birth date, sex text, deceased date) WHERE x.id = u.id;
  END IF;
  IF jsonb_array_length(coalesce(p->'person_inserts', '[]')) > 0 THEN
    INSERT INTO person (id, nin_hash, nin_enc, nin_kind, birth_date, sex, deceased_date)
      SELECT u.id, decode(u.hash, 'hex'), decode(u.enc, 'hex'), u.kind, u.birth, u.sex, u.deceased
      FROM jsonb_to_recordset(p->'person_inserts') AS u(id bigint, hash text, enc text, kind text, birth date, sex text, deceased date)
      ON CONFLICT (nin_hash) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> jsonb_array_length(p->'person_inserts') THEN
      RAISE EXCEPTION 'a person of this message was created by a concurrent message' USING ERRCODE = '40001';
    END IF;
  END IF;
  IF jsonb_array_length(coalesce(p->'resources', '[]')) > 0 THEN
    INSERT INTO source_resource (resource_type, rkey, person_id, sender, message_id, content_sha256, links, resource)
      SELECT r.type, r.rkey, r.person, v_sender, v_message, decode(r.sha, 'hex'), r.links, r.resource
      FROM jsonb_to_recordset(p->'resources') AS r(type text, rkey text, person bigint, sha text, links text[], resource jsonb)
      ON CONFLICT (rkey) DO UPDATE SET version = source_resource.version + 1, sender = EXCLUDED.sender, message_id = EXCLUDED.message_id,
        content_sha256 = EXCLUDED.content_sha256, links = EXCLUDED.links, resource = EXCLUDED.resource, deleted_at = NULL, updated_at = now()
      WHERE source_resource.sender = EXCLUDED.sender AND source_resource.person_id = EXCLUDED.person_id
        AND source_resource.content_sha256 <> EXCLUDED.content_sha256 AND source_resource.message_id < EXCLUDED.message_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> jsonb_array_length(p->'resources') THEN
      RAISE EXCEPTION 'a resource of this message was written by a concurrent message about another patient' USING ERRCODE = '40001';
    END IF;
  END IF;
  IF jsonb_array_length(coalesce(p->'deletions', '[]')) > 0 THEN
    UPDATE source_resource SET resource = '{}', links = '{}', content_sha256 = '\x'::bytea, version = version + 1, message_id = v_message,
        deleted_at = now(), updated_at = now()
      WHERE rkey IN (SELECT jsonb_array_elements_text(p->'deletions')) AND sender = v_sender AND deleted_at IS NULL AND message_id < v_message;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> jsonb_array_length(p->'deletions') THEN
      RAISE EXCEPTION 'a resource this message deletes was changed by a concurrent message' USING ERRCODE = '40001';
    END IF;
  END IF;
  IF jsonb_array_length(coalesce(p->'cases', '[]')) > 0 THEN
    INSERT INTO registry_case (registry, id, person_id, anchor_key, registry_version, unit_resh, event_key, invalid_reason, merged_into)
      SELECT c.registry, c.id, c.person, c.anchor, c.version, c.unit, c.event_key, c.invalid_reason, c.merged_into
      FROM jsonb_to_recordset(p->'cases') AS c(registry text, id bigint, person bigint, anchor text, version text, unit text, event_key text, invalid_reason text, merged_into bigint)
      ON CONFLICT (registry, anchor_key) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n <> jsonb_array_length(p->'cases') THEN
      RAISE EXCEPTION 'a case of this message was created by a concurrent message' USING ERRCODE = '40001';
    END IF;
  END IF;
  IF jsonb_array_length(coalesce(p->'case_updates', '[]')) > 0 THEN
    UPDATE registry_case c SET unit_resh = u.unit, event_key = u.event_key, invalid_reason = u.invalid_reason, merged_into = u.merged_into, updated_at = v_at
      FROM jsonb_to_recordset(p->'case_updates') AS u(registry text, id bigint, unit text, event_key text, invalid_reason text, merged_into bigint)
      WHERE c.registry = u.registry AND c.id = u.id;
  END IF;
  IF jsonb_array_length(coalesce(p->'forms', '[]')) > 0 THEN
    INSERT INTO case_form (registry, case_id, form, instance, status, data, provenance, missing, findings, version, updated_at)
      SELECT r.registry, r.case_id, r.form, r.instance, r.status, r.data, r.provenance, r.missing, r.findings, r.version, v_at
      FROM jsonb_to_recordset(p->'forms') AS r(registry text, case_id bigint, form text, instance text, status text, data jsonb, provenance jsonb, missing text[], findings jsonb, version int)
      ON CONFLICT (registry, case_id, form, instance) DO UPDATE SET
        status = EXCLUDED.status, data = EXCLUDED.data, provenance = EXCLUDED.provenance, missing = EXCLUDED.missing,
        findings = EXCLUDED.findings, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at;
  END IF;
  IF jsonb_array_length(coalesce(p->'history', '[]')) > 0 THEN
    INSERT INTO value_history (registry, case_id, form, instance, version, changed_at, changes, source)
      SELECT h.registry, h.case_id, h.form, h.instance, h.version, v_at, h.changes, h.source
      FROM jsonb_to_recordset(p->'history') AS h(registry text, case_id bigint, form text, instance text, version int, changes jsonb, source jsonb);
  END IF;
  IF jsonb_array_length(coalesce(p->'decisions', '[]')) > 0 THEN
    INSERT INTO routing_decision (registry, anchor_key, person_id, decision, target)
      SELECT d.registry, d.anchor, d.person, d.decision, d.target
      FROM jsonb_to_recordset(p->'decisions') AS d(registry text, anchor text, person bigint, decision text, target text)
      ON CONFLICT (registry, anchor_key) DO UPDATE SET decision = EXCLUDED.decision, target = EXCLUDED.target, decided_at = now();
  END IF;
  -- The raw message, with its outcome: stored in the transaction that captured it, or (recovery,
  -- reprocessing) marked processed. A message with data about someone who opted out keeps neither
  -- its body nor the keyed hashes of the numbers it names.
  IF p->'message' ? 'insert' THEN
    INSERT INTO inbox_message (id, sender, channel, body_sha256, body_enc, nin_hashes, status, outcome, person_ids, processed_at, attempts, pruned_reason)
      SELECT v_message, v_sender, m.channel, decode(m.sha, 'hex'), CASE WHEN m.refused THEN NULL ELSE decode(m.enc, 'hex') END,
        CASE WHEN m.refused THEN '{}' ELSE ARRAY(SELECT decode(h, 'hex') FROM unnest(m.nin_hashes) AS h WHERE NOT EXISTS (SELECT 1 FROM reservation r WHERE r.nin_hash = decode(h, 'hex'))) END,
        m.status, m.outcome, m.person_ids, now(), 1, CASE WHEN m.refused THEN 'reservation' END
      FROM jsonb_to_record(p->'message'->'insert') AS m(channel text, sha text, enc text, nin_hashes text[], status text, outcome jsonb, person_ids bigint[], refused boolean);
  ELSIF p->'message' ? 'update' THEN
    UPDATE inbox_message x SET status = m.status, outcome = m.outcome, person_ids = m.person_ids, processed_at = now(), attempts = x.attempts + 1,
        body_enc = CASE WHEN m.refused THEN NULL ELSE x.body_enc END, pruned_reason = CASE WHEN m.refused THEN 'reservation' ELSE x.pruned_reason END,
        nin_hashes = CASE WHEN m.refused THEN '{}' ELSE x.nin_hashes END
      FROM jsonb_to_record(p->'message'->'update') AS m(status text, outcome jsonb, person_ids bigint[], refused boolean)
      WHERE x.id = v_message;
  END IF;
  IF coalesce((p->>'refused')::int, 0) > 0 THEN
    INSERT INTO refused_count (day, sender, reason, n) VALUES (current_date, v_sender, 'reservation', (p->>'refused')::int)
      ON CONFLICT (day, sender, reason) DO UPDATE SET n = refused_count.n + EXCLUDED.n;
  END IF;
END $$;

REVOKE ALL ON FUNCTION kvalreg_lock_persons(bytea[]), kvalreg_capture_read(jsonb), kvalreg_capture_write(jsonb) FROM PUBLIC;
