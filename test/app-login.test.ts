// The application's own database login: user-scoped work runs on connections of
// kvalreg_app_login, which cannot become the owner, cannot switch row-level security off, cannot
// claim "see everything" by setting the session context, and cannot change the audit trail.
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { connectApplicationRole } from '../src/db/database.ts';
import { fracture } from './helpers/fixtures.ts';
import { SUS_ORTHO, testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
let app: pg.Client;
beforeAll(async () => {
  t = await testPlatform();
  for (let i = 0; i < 2; i++) {
    const res = await t.app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
      payload: JSON.stringify(ehrBundle(fracture())),
    });
    expect(res.statusCode).toBe(200);
  }
  app = new pg.Client({ connectionString: t.env.DATABASE_APP_URL });
  await app.connect();
});
afterAll(async () => {
  await app?.end();
  await t?.close();
});

/** One statement on the application login in a transaction of its own, rolled back. */
async function asLogin(sql: string, settings: Record<string, string> = {}): Promise<any[]> {
  await app.query('BEGIN');
  try {
    for (const [k, v] of Object.entries(settings)) await app.query('SELECT set_config($1, $2, true)', [k, v]);
    return (await app.query(sql)).rows;
  } finally {
    await app.query('ROLLBACK');
  }
}

it("is the login that unit users' transactions run on, as kvalreg_app; the platform's own work stays on the owner", async () => {
  const user = {
    kind: 'user' as const,
    user: 'r',
    name: 'r',
    grants: [{ registry: 'fracture', role: 'unit-reader' as const, unit: SUS_ORTHO }],
  };
  const who = await t.platform.data.transaction(
    user,
    'test',
    async (tx) => (await tx.client.query('SELECT session_user AS s, current_user AS c')).rows[0],
  );
  expect(who).toEqual({ s: 'kvalreg_app_login', c: 'kvalreg_app' });
  const own = await t.platform.data.transaction(
    { kind: 'platform', task: 'test' },
    'test',
    async (tx) => (await tx.client.query('SELECT session_user AS s')).rows[0].s,
  );
  expect(own).not.toBe('kvalreg_app_login');
  // And the registrar's reads still work through it.
  const caseId = (await t.platform.db.pool.query('SELECT id FROM registry_case LIMIT 1')).rows[0].id;
  expect(
    (
      await t.app.inject({
        method: 'GET',
        url: `/api/registries/fracture/cases/${caseId}`,
        headers: { authorization: `Bearer ${t.tokens.registrarSus}` },
      })
    ).statusCode,
  ).toBe(200);
});

it('cannot become the owner or any other role but kvalreg_app', async () => {
  const owner = (await t.platform.db.pool.query("SELECT tableowner FROM pg_tables WHERE tablename = 'registry_case'")).rows[0].tableowner;
  await expect(asLogin(`SET ROLE ${pg.escapeIdentifier(owner)}`)).rejects.toThrow(/permission denied to set role/);
  await expect(asLogin("SET SESSION AUTHORIZATION 'postgres'")).rejects.toThrow(/permission denied/);
  await expect(asLogin('CREATE ROLE sneaky LOGIN')).rejects.toThrow(/permission denied/);
  // PostgreSQL 15 says "must be superuser to change bypassrls attribute", 16 and later "permission denied".
  await expect(asLogin('ALTER ROLE kvalreg_app_login BYPASSRLS')).rejects.toThrow(/permission denied|must be superuser/);
  await app.query('BEGIN; SET LOCAL ROLE kvalreg_app');
  try {
    expect((await app.query('SELECT current_user AS c')).rows).toEqual([{ c: 'kvalreg_app' }]);
  } finally {
    await app.query('ROLLBACK');
  }
});

it('cannot read past row-level security: not by turning it off, not by claiming everything', async () => {
  expect((await t.platform.db.pool.query('SELECT count(*)::int AS n FROM registry_case')).rows[0].n).toBe(2);
  expect((await asLogin('SELECT count(*)::int AS n FROM registry_case'))[0].n).toBe(0);
  await expect(asLogin('SET LOCAL row_security = off; SELECT count(*) FROM registry_case')).rejects.toThrow(/row-level security/);
  for (const table of ['registry_case', 'person', 'case_form', 'inbox_message', 'source_resource', 'audit_event']) {
    expect((await asLogin(`SELECT count(*)::int AS n FROM ${table}`, { 'kvalreg.scope': 'all' }))[0].n, table).toBe(0);
  }
  await expect(asLogin('ALTER TABLE registry_case DISABLE ROW LEVEL SECURITY')).rejects.toThrow(/must be owner/);
  // Its own grants still show its own unit.
  expect(
    (
      await asLogin('SELECT count(*)::int AS n FROM registry_case', { 'kvalreg.scope': 'units', 'kvalreg.grants': `fracture:${SUS_ORTHO}` })
    )[0].n,
  ).toBe(2);
});

it('can add to the audit trail but not change, delete, truncate or prune it', async () => {
  await app.query('BEGIN');
  try {
    expect(
      (await app.query("INSERT INTO audit_event (actor, action, object, purpose, outcome) VALUES ('user:x', 'read', 'x', 'x', 'ok')"))
        .rowCount,
    ).toBe(1);
  } finally {
    await app.query('ROLLBACK');
  }
  await expect(asLogin("UPDATE audit_event SET actor = 'x'")).rejects.toThrow(/permission denied/);
  await expect(asLogin('DELETE FROM audit_event', { 'kvalreg.audit_prune': '999999999' })).rejects.toThrow(/permission denied/);
  await expect(asLogin('TRUNCATE audit_event')).rejects.toThrow(/permission denied/);
  await expect(
    asLogin(
      "INSERT INTO audit_checkpoint (seq, hash, event_at, pruned_before, pruned_count, key_id, signature) VALUES (1, '\\x00', 'x', now(), 1, 'a1', '\\x00')",
    ),
  ).rejects.toThrow(/permission denied/);
  await expect(asLogin('ALTER TABLE audit_event DISABLE TRIGGER USER')).rejects.toThrow(/must be owner/);
});

it('refuses an application URL that is not confined', async () => {
  const db = { ...t.platform.db, appPool: undefined };
  await expect(connectApplicationRole(db, { ...t.config, databaseAppUrl: t.databaseUrl })).rejects.toThrow(
    /is a superuser.*member of kvalreg_app only/,
  );
});
