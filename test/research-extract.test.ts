// Research extracts: pseudonymised per project, no direct identifiers, dates shifted (intervals
// kept) or coarsened, a k-anonymity report, a data dictionary; each delivery logged, audited and
// reproducible.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.ts';
import { kAnonymity } from '../src/research/extract.ts';
import { shiftDaysOf } from '../src/research/pseudonyms.ts';
import crypto from 'node:crypto';
import { parse } from 'csv-parse/sync';
import { ehrBundle, plannerBundle } from '../registries/fracture/bundles.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
const nins: string[] = [];
beforeAll(async () => {
  t = await testPlatform();
  const twice = nin('1940-04-04', 'female');
  const specs = [
    fracture({ nin: twice, intent: 'operative', surgery: { start: '2024-03-03T09:00:00+01:00' } }),
    fracture({ nin: twice, aoCode: '44B1', injuryDateTime: '2024-06-01T10:00:00+02:00', firstContact: '2024-06-01T11:00:00+02:00' }),
    ...Array.from({ length: 6 }, (_, i) => fracture({ nin: nin(`19${60 + i}-02-02`, i % 2 ? 'male' : 'female') })),
  ];
  for (const f of specs) {
    nins.push(f.nin);
    for (const b of [ehrBundle(f), plannerBundle(f)].filter(Boolean)) {
      await t.app.inject({
        method: 'POST',
        url: '/fhir',
        headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
        payload: JSON.stringify(b),
      });
    }
  }
});
afterAll(async () => {
  await t?.close();
});

const definition = (over: Record<string, unknown> = {}) => ({
  project: 'P-2026-017',
  approvalRef: 'REK 123456',
  expires: '2030-12-31',
  variables: ['ao_code', 'injury_date', 'surgery_datetime', 'sex', 'birth_year', 'age_at_injury'],
  period: { variable: 'injury_date', from: '2024-01-01', to: '2024-12-31' },
  dates: 'shift',
  quasiIdentifiers: ['sex', 'birth_year'],
  k: 2,
  ...over,
});
const deliver = (body: unknown, token = t.tokens.admin) =>
  t.app.inject({
    method: 'POST',
    url: '/api/registries/fracture/extracts',
    headers: { authorization: `Bearer ${token}` },
    payload: body as any,
  });

it('delivers pseudonymised rows without identifiers, with dates shifted per person and intervals kept', async () => {
  const res = await deliver(definition());
  expect(res.statusCode).toBe(201);
  const d = res.json();
  const rows: any[] = parse(d.csv, { columns: true });
  expect(rows).toHaveLength(8);
  for (const n of nins) expect(d.csv).not.toContain(n);
  const byPerson = new Map<string, any[]>();
  for (const r of rows) byPerson.set(r.pseudonym, [...(byPerson.get(r.pseudonym) ?? []), r]);
  expect(byPerson.size).toBe(7); // one person has two fractures: one pseudonym
  const operated = rows.find((r: any) => r.surgery_datetime);
  // Injury 2024-03-01, surgery 2024-03-03 08:00Z: both moved by the same shift.
  const days = (Date.parse(operated.surgery_datetime) - Date.parse(`${operated.injury_date}T00:00:00Z`)) / 86_400_000;
  expect(days).toBeCloseTo(2 + 8 / 24, 5);
  expect(rows.some((r: any) => r.injury_date !== '2024-03-01')).toBe(true);
  // k-anonymity on sex and birth year: everyone is unique here, and flagged.
  expect(d.kReport.rare.length).toBeGreaterThan(0);
  expect(d.kReport.rowsInRareClasses).toBeGreaterThan(0);
  expect(d.dictionary.json.map((x: any) => x.variable)).toEqual(['pseudonym', 'case', ...definition().variables]);
  expect(d.dictionary.csv).toMatch(/ao_code,code,AO\/OTA-kode/);
  // Another project gets other pseudonyms for the same people.
  const other: any[] = parse((await deliver(definition({ project: 'P-2026-099' }))).json().csv, { columns: true });
  expect(other.map((r: any) => r.pseudonym)).not.toEqual(rows.map((r: any) => r.pseudonym));
});

it('coarsens dates when asked', async () => {
  const res = await deliver(definition({ dates: 'month' }));
  expect(res.statusCode).toBe(201);
  const rows: any[] = parse(res.json().csv, { columns: true });
  expect(rows).toHaveLength(8);
  expect(rows.every((r: any) => /^\d{4}-\d{2}$/.test(r.injury_date))).toBe(true);
});

it('logs each delivery, audits whose data went out, and reproduces it', async () => {
  const d = (await deliver(definition())).json();
  const logged = (
    await t.platform.db.pool.query('SELECT project, approval_ref, row_count, sha256, delivered_by FROM extract_delivery WHERE id = $1', [
      d.id,
    ])
  ).rows[0];
  expect(logged).toEqual({ project: 'P-2026-017', approval_ref: 'REK 123456', row_count: 8, sha256: d.sha256, delivered_by: 'admin' });
  const audited = (
    await t.platform.db.pool.query("SELECT count(DISTINCT person_id)::int AS n FROM audit_event WHERE action = 'export' AND object = $1", [
      `fracture/extract/${d.id}`,
    ])
  ).rows[0].n;
  expect(audited).toBe(7);
  const again = await t.app.inject({
    method: 'GET',
    url: `/api/registries/fracture/extracts/${d.id}/reproduce`,
    headers: { authorization: `Bearer ${t.tokens.admin}` },
  });
  expect(again.json()).toMatchObject({ sameAsDelivered: true, rows: 8 });
});

it('refuses unknown variables, direct identifiers, expired approvals, and non-admins, saying why', async () => {
  const bad = await deliver(definition({ variables: ['ao_code', 'nonsense'] }));
  expect(bad.statusCode).toBe(422);
  expect(bad.json().error).toMatch(/"nonsense" is not a variable/);
  expect((await deliver(definition({ expires: '2020-01-01' }))).json().error).toMatch(/expired on 2020-01-01/);
  expect((await deliver(definition({ variables: ['reoperation_cause'] }))).json().error).toMatch(/repeating form/);
  expect((await deliver(definition(), t.tokens.registrarSus)).statusCode).toBe(403);
});

it('is only for an admin of this registry: an admin of another registry is refused, and cannot act across registries', async () => {
  const traumaAdmin = await createToken(t.platform.db.pool, {
    name: 'trauma-admin',
    kind: 'user',
    grants: [{ registry: 'trauma', role: 'registry-admin', unit: '1' }],
  });
  expect((await deliver(definition(), traumaAdmin)).statusCode).toBe(403);
  const fractureAdmin = await createToken(t.platform.db.pool, {
    name: 'fracture-admin',
    kind: 'user',
    grants: [{ registry: 'fracture', role: 'registry-admin', unit: '1' }],
  });
  expect((await deliver(definition(), fractureAdmin)).statusCode).toBe(201);
  expect((await t.app.inject({ method: 'GET', url: '/api/inbox', headers: { authorization: `Bearer ${fractureAdmin}` } })).statusCode).toBe(
    403,
  );
});

it('counts persons, not rows, in the k-anonymity report', () => {
  const rows = [
    { pseudonym: 'a', sex: 'f' },
    { pseudonym: 'a', sex: 'f' },
    { pseudonym: 'a', sex: 'f' },
    { pseudonym: 'b', sex: 'm' },
    { pseudonym: 'c', sex: 'm' },
  ];
  const r = kAnonymity(rows, ['sex'], 2);
  expect(r.rare).toEqual([{ values: { sex: 'f' }, count: 1 }]); // three rows, but one person
  expect(r.rowsInRareClasses).toBe(3);
});

it('shifts every person by 1 to 30 days back or forward, never 0, and both ways alike', () => {
  // A zero shift would deliver one person in 61 with true dates. 12,000 persons under 5 keys.
  const seen = new Map<number, number>();
  for (let k = 0; k < 5; k++) {
    const key = { generation: 1, key: crypto.randomBytes(32) };
    for (let person = 1; person <= 2400; person++) {
      const d = shiftDaysOf(key, person);
      seen.set(d, (seen.get(d) ?? 0) + 1);
      expect(shiftDaysOf(key, person)).toBe(d);
    }
  }
  expect(seen.has(0)).toBe(false);
  expect([...seen.keys()].sort((a, b) => a - b)).toEqual([
    ...Array.from({ length: 30 }, (_, i) => i - 30),
    ...Array.from({ length: 30 }, (_, i) => i + 1),
  ]);
});
