// Every function that runs with the owner's rights (SECURITY DEFINER), and every trigger function,
// searches the session's temporary schema last, so no session can stand a temporary table of its own in for a table the
// function reads or writes (PostgreSQL's manual, "Writing SECURITY DEFINER Functions Safely";
// migration 131). Read from the schema, so a function added later without it fails here; and shown
// the way an attacker holding the application's login would try it.
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform();
});
afterAll(async () => {
  await t?.close();
});

it('every SECURITY DEFINER function and every trigger function puts the temporary schema last in its search path', async () => {
  const { rows } = await t.platform.db.pool.query(
    `SELECT p.oid::regprocedure::text AS f, coalesce((SELECT c FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%'), '(none)') AS path
     FROM pg_proc p WHERE (p.prosecdef OR p.prorettype = 'trigger'::regtype) AND p.pronamespace = 'public'::regnamespace ORDER BY 1`,
  );
  expect(rows.length).toBeGreaterThan(20);
  expect(rows.filter((r) => !/^search_path=.*pg_temp"?$/.test(r.path))).toEqual([]);
});

it("a temporary table of the application's login does not stand in for the table an owner function reads", async () => {
  const app = new pg.Client({ connectionString: t.env.DATABASE_APP_URL });
  await app.connect();
  try {
    // kvalreg_person_id_by_hash reads person and person_merge as the owner; a fake person_merge
    // of the session's own would otherwise name person 424242 for a number nobody holds.
    await app.query('CREATE TEMP TABLE person_merge (from_hash bytea, into_id bigint)');
    await app.query("INSERT INTO person_merge VALUES ('\\x00ff', 424242)");
    const { rows } = await app.query("SELECT kvalreg_person_id_by_hash('\\x00ff') AS id");
    expect(rows[0].id).toBeNull();
  } finally {
    await app.end();
  }
});

it("a temporary table of the application's login does not choose the ids of the audit events it writes", async () => {
  // Found in review: the trigger that gives an audit event its id named the table to find its
  // sequence, and found the session's own temporary audit_event first.
  const app = new pg.Client({ connectionString: t.env.DATABASE_APP_URL });
  await app.connect();
  try {
    await app.query('CREATE TEMP TABLE audit_event (id bigserial)');
    await app.query("SELECT setval(pg_get_serial_sequence('pg_temp.audit_event', 'id'), 900000000000)");
    await app.query(
      "INSERT INTO public.audit_event (actor, role, action, object, purpose, outcome) VALUES ('temp-table-test', 'x', 'read', 'x', 'x', 'ok')",
    );
  } finally {
    await app.end();
  }
  const { rows } = await t.platform.db.pool.query("SELECT id FROM audit_event WHERE actor = 'temp-table-test'");
  expect(rows.map((r) => Number(r.id) < 900000000000)).toEqual([true]);
});
