// Every table that names a person, and what a merge of two persons does with it. Deleting the
// merged-away person cascades along every foreign key to `person`: a table the merge forgets loses
// that person's rows silently (it happened: the PROM tables, fixed in src/prom/merge.ts). This test
// reads the schema as the migrations left it and fails on a table that names a person and is not
// accounted for here, so that whoever adds one decides what a merge does with it, and writes it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

/** What the merge (src/records/persons.ts, mergePersons) does with each table that names a person. */
const ACCOUNTED: Record<string, string> = {
  person: 'the merged-away row is deleted after everything below has moved',
  person_merge: 'records the merge; earlier merges into the merged-away person are pointed at the survivor',
  registry_case: 'moved to the survivor',
  source_resource: 'moved to the survivor',
  routing_decision: 'moved to the survivor',
  inbox_message: 'person_ids rewritten to the survivor',
  prom_invitation: 'moved (src/prom/merge.ts); an open one folds into the survivor’s',
  prom_response: 'moved (src/prom/merge.ts)',
  prom_item: 'moved (src/prom/merge.ts)',
  prom_objection: 'moved (src/prom/merge.ts), merged with the survivor’s',
  prom_contact: 'moved (src/prom/merge.ts), filling the survivor’s gaps',
  prom_triage: 'moved (src/prom/merge.ts)',
  npr_episode: 'kept current by the triggers of migration 126 (the person its number names)',
  audit_event: 'never rewritten: the trail names the person id of the time; innsyn and the audit API follow person_merge',
};

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform();
});
afterAll(async () => {
  await t?.close();
});

describe('a merge accounts for every table that names a person', () => {
  it('finds no table with a key to person, or a person id column, that the merge does not handle', async () => {
    const { rows } = await t.platform.db.pool.query(
      `SELECT DISTINCT c.conrelid::regclass::text AS t FROM pg_constraint c
         WHERE c.contype = 'f' AND c.confrelid = 'person'::regclass
       UNION
       SELECT table_name FROM information_schema.columns
         WHERE table_schema = 'public' AND column_name IN ('person_id', 'person_ids', 'into_id', 'from_id')
           AND table_name IN (SELECT tablename FROM pg_tables WHERE schemaname = 'public')
       ORDER BY 1`,
    );
    const naming = rows.map((r) => r.t as string);
    expect(naming.filter((x) => !(x in ACCOUNTED))).toEqual([]);
    // And the list names no table that is gone (so it stays a true account).
    expect(Object.keys(ACCOUNTED).filter((x) => x !== 'person' && !naming.includes(x))).toEqual([]);
  });
});
