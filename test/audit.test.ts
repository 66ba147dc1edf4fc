// Every look at and change of person-level data leaves an audit event; the trail is append-only
// and hash-chained, and `verify` finds a changed, deleted or inserted row, naming the first broken link.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealAudit, verifyAudit } from '../src/audit/trail.ts';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { fracture } from './helpers/fixtures.ts';
import { SUS_ORTHO, testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
let caseId: number;
beforeAll(async () => {
  t = await testPlatform();
  const f = fracture({ intent: undefined });
  await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(ehrBundle(f)),
  });
  caseId = (await q('SELECT id FROM registry_case'))[0].id;
  const api = (method: string, url: string, token: string, payload?: unknown) =>
    t.app.inject({ method: method as any, url, headers: { authorization: `Bearer ${token}` }, payload: payload as any });
  await api('GET', `/api/registries/fracture/cases/${caseId}`, t.tokens.registrarSus);
  await api('PATCH', `/api/registries/fracture/cases/${caseId}/forms/behandling`, t.tokens.registrarSus, {
    values: { treatment_intent: 'conservative' },
  });
  await api('GET', `/api/registries/fracture/cases/${caseId}`, t.tokens.readerOther); // refused
});
afterAll(async () => {
  await t?.close();
});

const q = async (sql: string, p: unknown[] = []) => (await t.platform.db.pool.query(sql, p)).rows;
const verify = () => verifyAudit(t.platform.db.pool, t.platform.auditKeys);

describe('audit events', () => {
  it('record capture, reads, changes and refused attempts, with who, unit, person, purpose and client', async () => {
    const person = (await q('SELECT person_id FROM registry_case WHERE id = $1', [caseId]))[0].person_id;
    const rows = await q('SELECT actor, role, unit, person_id, action, object, purpose, outcome, client FROM audit_event ORDER BY id');
    expect(rows).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ actor: 'system:sus-dips', action: 'capture', person_id: person, outcome: 'ok' }),
        expect.objectContaining({
          actor: 'user:registrar-sus',
          role: 'unit-registrar',
          action: 'read',
          object: `fracture/case/${caseId}`,
          unit: SUS_ORTHO,
          person_id: person,
          purpose: 'case:read',
          outcome: 'ok',
        }),
        expect.objectContaining({
          actor: 'user:registrar-sus',
          action: 'update',
          object: `fracture/case/${caseId}/behandling`,
          person_id: person,
          purpose: 'case:complete',
        }),
        expect.objectContaining({
          actor: 'user:reader-other',
          action: 'case:read',
          object: `fracture/case/${caseId}`,
          unit: SUS_ORTHO,
          person_id: person,
          outcome: 'denied',
        }),
      ]),
    );
    expect(rows.find((r) => r.action === 'read').client).toBe('127.0.0.1');
  });

  it('lets no insert choose its place in the chain, its seal, id or time', async () => {
    const rows = await q(
      "INSERT INTO audit_event (id, at, actor, action, object, purpose, outcome, seq, prev_hash, hash) VALUES (999999, '2000-01-01', 'user:x', 'read', 'x', 'x', 'ok', 1, '\\x00', '\\x00') RETURNING id, at, seq, hash",
    );
    expect(rows[0].id).not.toBe(999999);
    expect(rows[0].seq).toBeNull();
    expect(rows[0].hash).toBeNull();
    expect(new Date(rows[0].at).getFullYear()).toBeGreaterThan(2000);
  });

  it('cannot be changed, deleted or truncated by the application', async () => {
    await expect(q("UPDATE audit_event SET actor = 'someone else'")).rejects.toThrow(/append-only/);
    await expect(q('DELETE FROM audit_event')).rejects.toThrow(/append-only/);
    await expect(q('TRUNCATE audit_event')).rejects.toThrow(/append-only/);
  });
});

describe('audit verify', () => {
  it('proves an intact chain', async () => {
    expect(await sealAudit(t.platform.db.pool, t.platform.auditKeys)).toBeGreaterThan(3);
    const r = await verify();
    expect(r).toMatchObject({ ok: true, unsealed: 0 });
    expect(r.checked).toBeGreaterThan(3);
  });

  // Tampering needs the owner to switch the guard off, as an intruder with database rights could.
  async function tamper(sql: string, params: unknown[] = []) {
    await q('ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only');
    try {
      await q(sql, params);
    } finally {
      await q('ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only');
    }
  }

  it('finds a changed row', async () => {
    await tamper("UPDATE audit_event SET actor = 'user:nobody' WHERE seq = 2");
    expect((await verify()).broken).toMatchObject({ seq: 2, problem: expect.stringMatching(/does not match its seal/) });
  });

  it('fails `kvalreg audit verify` with a non-zero exit code, naming the broken link', async () => {
    const run = promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'audit', 'verify'], {
      env: { ...process.env, ...t.env, LOG_LEVEL: 'warn' },
      timeout: 120_000,
    });
    const err = await run.then(
      () => null,
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect(err, 'the command exited 0 on a broken chain').not.toBeNull();
    expect(err!.code).toBe(1);
    expect(`${err!.stdout}${err!.stderr}`).toMatch(/\b2\b/);
  }, 150_000);
});

describe('audit verify on a fresh trail', () => {
  let u: TestPlatform;
  beforeAll(async () => {
    u = await testPlatform();
    for (let i = 0; i < 3; i++) {
      await u.app.inject({
        method: 'POST',
        url: '/fhir',
        headers: { authorization: `Bearer ${u.tokens.ehr}`, 'content-type': 'application/fhir+json' },
        payload: JSON.stringify(ehrBundle(fracture())),
      });
    }
    await sealAudit(u.platform.db.pool, u.platform.auditKeys);
  });
  afterAll(async () => {
    await u?.close();
  });
  const uq = async (sql: string) => {
    await u.platform.db.pool.query('ALTER TABLE audit_event DISABLE TRIGGER USER');
    try {
      await u.platform.db.pool.query(sql);
    } finally {
      await u.platform.db.pool.query('ALTER TABLE audit_event ENABLE TRIGGER USER');
    }
  };

  it('finds a deleted row and a forged one', async () => {
    expect((await verifyAudit(u.platform.db.pool, u.platform.auditKeys)).ok).toBe(true);
    await uq(
      "INSERT INTO audit_event (actor, action, object, purpose, outcome, key_id, seq, prev_hash, hash) SELECT 'user:forger', 'read', 'x', 'x', 'ok', 'a1', max(seq) + 1, (SELECT hash FROM audit_event ORDER BY seq DESC LIMIT 1), sha256('x') FROM audit_event",
    );
    const forged = await verifyAudit(u.platform.db.pool, u.platform.auditKeys);
    expect(forged.broken?.problem).toMatch(/does not match its seal/);
    expect(forged.broken?.seq).toBe(4);
    await uq('DELETE FROM audit_event WHERE seq = 2');
    expect((await verifyAudit(u.platform.db.pool, u.platform.auditKeys)).broken).toMatchObject({
      seq: 2,
      problem: expect.stringMatching(/missing.*deleted/),
    });
  });
});
