// Row-level security proven directly in SQL, as the application role: a unit-A context sees no
// unit-B rows, no context sees no person-level rows, and the role cannot change the audit trail
// or switch the policies off.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { fracture } from './helpers/fixtures.ts';
import { OTHER_ORTHO, SUS_ORTHO, testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform();
  for (const unit of [SUS_ORTHO, SUS_ORTHO, OTHER_ORTHO]) {
    const res = await t.app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
      payload: JSON.stringify(ehrBundle(fracture({ unitResh: unit }))),
    });
    expect(res.statusCode).toBe(200);
  }
});
afterAll(async () => {
  await t?.close();
});

/** Runs statements as the application role with the given context, in a transaction that is rolled back. */
async function asApp(settings: Record<string, string>, sql: string): Promise<any[]> {
  const client = await t.platform.db.pool.connect();
  try {
    await client.query('BEGIN; SET LOCAL ROLE kvalreg_app');
    for (const [k, v] of Object.entries(settings)) await client.query('SELECT set_config($1, $2, true)', [k, v]);
    return (await client.query(sql)).rows;
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
}

const PERSON_TABLES = [
  'person',
  'registry_case',
  'case_form',
  'value_history',
  'source_resource',
  'inbox_message',
  'routing_decision',
  'audit_event',
];

it('shows a unit-A context only unit-A cases, forms, history and persons', async () => {
  const a = { 'kvalreg.scope': 'units', 'kvalreg.grants': `fracture:${SUS_ORTHO}` };
  const units = (await asApp(a, 'SELECT DISTINCT unit_resh FROM registry_case')).map((r) => r.unit_resh);
  expect(units).toEqual([SUS_ORTHO]);
  expect((await asApp(a, 'SELECT count(*)::int AS n FROM registry_case'))[0].n).toBe(2);
  expect(
    (
      await asApp(
        a,
        `SELECT count(*)::int AS n FROM case_form f JOIN registry_case c ON c.id = f.case_id WHERE c.unit_resh <> '${SUS_ORTHO}'`,
      )
    )[0].n,
  ).toBe(0);
  expect((await asApp(a, 'SELECT count(*)::int AS n FROM person'))[0].n).toBe(2);
  // Unit B's cases are there, but not to unit A.
  expect(
    (await t.platform.db.pool.query(`SELECT count(*)::int AS n FROM registry_case WHERE unit_resh = '${OTHER_ORTHO}'`)).rows[0].n,
  ).toBe(1);
  // A grant in another registry shows nothing here.
  expect(
    (await asApp({ 'kvalreg.scope': 'units', 'kvalreg.grants': `trauma:${SUS_ORTHO}` }, 'SELECT count(*)::int AS n FROM registry_case'))[0]
      .n,
  ).toBe(0);
});

it('shows no person-level rows without a context', async () => {
  for (const table of PERSON_TABLES) {
    expect((await asApp({}, `SELECT count(*)::int AS n FROM ${table}`))[0].n, table).toBe(0);
    expect((await t.platform.db.pool.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n, `${table} has rows`).toBeGreaterThan(0);
  }
});

it('gives the application role no way around the policies or the audit trail', async () => {
  const all = { 'kvalreg.scope': 'all' };
  await expect(asApp(all, 'ALTER TABLE registry_case DISABLE ROW LEVEL SECURITY')).rejects.toThrow(/must be owner/);
  await expect(asApp(all, "UPDATE audit_event SET actor = 'x'")).rejects.toThrow(/permission denied/);
  await expect(asApp(all, 'DELETE FROM audit_event')).rejects.toThrow(/permission denied/);
  // Turning row security off does not bypass it for this role: PostgreSQL refuses the query.
  await expect(asApp({}, 'SET LOCAL row_security = off; SELECT count(*) FROM registry_case')).rejects.toThrow(/row-level security/);
});

it("lets a patient's session read its own rows but change none", async () => {
  const person = (await t.platform.db.pool.query('SELECT person_id FROM registry_case LIMIT 1')).rows[0].person_id;
  const own = { 'kvalreg.scope': 'units', 'kvalreg.grants': '', 'kvalreg.person': String(person) };
  expect((await asApp(own, 'SELECT count(*)::int AS n FROM registry_case'))[0].n).toBe(1);
  expect(await asApp(own, 'DELETE FROM registry_case RETURNING id')).toEqual([]);
  expect(await asApp(own, "UPDATE case_form SET status = 'finalised' RETURNING case_id")).toEqual([]);
});
