// Who a case is about: the patient's name captured from Patient.name and kept only encrypted (moved
// to a new key by `keys reencrypt`, gone with the person on opt-out); the case header with initials,
// masked identity number, age, sex, the sending system by name with its own record and encounter
// numbers, and the registry's header values in words; revealing name and number on request (audited,
// refused for another unit); finding a patient by identity number within one's units (audited); the
// patient's cases; each field's history with who changed it.
import crypto from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.ts';
import { decryptNin, encryptedKeyId, loadIdentityKeys, ninHash } from '../src/identity/crypto.ts';
import { reencryptAll } from '../src/identity/reencrypt.ts';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { traumaBundle } from '../registries/trauma/bundles.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { SUS_HOSPITAL, SUS_ORTHO, testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
let caseId: number;
let personNin: string;
let theFracture: ReturnType<typeof fracture>;
const name = { use: 'official', given: ['Kari', 'Marie'], family: 'Nordmann-Hansen' };
beforeAll(async () => {
  t = await testPlatform();
  personNin = nin('1951-02-14', 'female');
  const f = fracture({
    nin: personNin,
    name,
    aoCode: '2R3A2.2',
    side: 'left',
    injuryDateTime: '2024-03-01T10:00:00+01:00',
    unitResh: SUS_ORTHO,
  });
  theFracture = f;
  const res = await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(ehrBundle(f)),
  });
  expect(res.statusCode, res.body).toBe(200);
  caseId = (await t.platform.db.pool.query("SELECT id FROM registry_case WHERE registry = 'fracture'")).rows[0].id;
}, 120_000);
afterAll(async () => {
  await t?.close();
});

const get = (url: string, token = t.tokens.registrarSus) =>
  t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
const post = (url: string, body: unknown, token = t.tokens.registrarSus) =>
  t.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${token}` }, payload: body as object });

it("keeps the patient's name only encrypted, and a message repeating it writes nothing", async () => {
  const row = (await t.platform.db.pool.query('SELECT name_enc, name_mac, updated_at FROM person')).rows[0];
  expect(row.name_enc).not.toBeNull();
  expect(row.name_enc.toString('latin1')).not.toContain('Nordmann');
  const dump = JSON.stringify((await t.platform.db.pool.query('SELECT * FROM person')).rows);
  expect(dump).not.toContain('Nordmann');
  // The same name again: the stored value is not rewritten (same ciphertext).
  await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(ehrBundle({ ...theFracture, energy: 'high' })),
  });
  expect((await t.platform.db.pool.query('SELECT name_enc FROM person')).rows[0].name_enc.equals(row.name_enc)).toBe(true);
});

it('shows who and what the case is about in its header', async () => {
  const res = await get(`/api/registries/fracture/cases/${caseId}/header`);
  expect(res.statusCode, res.body).toBe(200);
  const h = res.json();
  expect(h.person).toMatchObject({
    initials: 'K. M. N. H.',
    ninMasked: `${personNin.slice(0, 6)}*****`,
    sex: 'female',
    birthDate: '1951-02-14',
    age: 73,
  });
  expect(JSON.stringify(h)).not.toContain(personNin);
  expect(JSON.stringify(h)).not.toContain('Nordmann');
  const value = (v: string) => h.values.find((x: any) => x.variable === v);
  expect(value('injury_date')).toMatchObject({ value: '2024-03-01', label: { nb: 'Skadedato', en: 'Date of injury' } });
  expect(value('ao_code')).toMatchObject({ value: '2R3A2.2', display: { nb: 'Radius distalt, ekstraartikulær: enkel fraktur' } });
  expect(value('side')).toMatchObject({ value: 'left', display: { nb: 'Venstre', en: 'Left' } });
  // The sending system by name, and its own numbers to find the chart by.
  expect(h.source).toMatchObject({
    manual: false,
    sender: 'sus-dips',
    senderName: 'SUS DIPS Arena',
    record: expect.any(String),
    encounter: expect.any(String),
  });
  // A reader at another unit may not see it.
  expect((await get(`/api/registries/fracture/cases/${caseId}/header`, t.tokens.readerOther)).statusCode).toBe(403);
});

it("gives a trauma event's header its trauma ID and scores", async () => {
  const res = await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(
      traumaBundle({
        id: 'hdr-1',
        nin: nin('1980-05-05', 'male'),
        name: { given: ['Ola'], family: 'Nordmann' },
        unitResh: '8201102',
        arrival: '2024-06-01T10:00:00+02:00',
        traumaTeam: true,
        accident: { at: '2024-06-01T09:20:00+02:00' },
        mechanism: 'fall_high',
        intention: 'accident',
        injuryType: 'blunt',
        arrivalVitals: { gcs: 15, sbp: 120, rr: 16 },
        ais: ['853000.3', '450203.3'],
      }),
    ),
  });
  expect(res.statusCode, res.body).toBe(200);
  const trauma = (await t.platform.db.pool.query("SELECT id FROM registry_case WHERE registry = 'trauma'")).rows[0].id;
  const h = (await get(`/api/registries/trauma/cases/${trauma}/header`, t.tokens.admin)).json();
  expect(h.event.id).toMatch(/\S/);
  const v = (x: string) => h.values.find((y: any) => y.variable === x)?.value;
  // ISS = 3² + 3² = 18 (two AIS 3 injuries in different body regions); RTS 7.8408 (GCS 15, SBP 120, RR 16).
  expect(v('iss')).toBe(18);
  expect(v('rts_arrival')).toBeCloseTo(7.8408, 4);
  expect(typeof v('triss_ps')).toBe('number');
  expect(h.person.initials).toBe('O. N.');
});

it('reveals the name and identity number on request, audited as such, and never to another unit', async () => {
  const res = await post(`/api/registries/fracture/cases/${caseId}/identity`, {});
  expect(res.statusCode).toBe(200);
  expect(res.headers['cache-control']).toBe('no-store');
  expect(res.json()).toEqual({ name: 'Kari Marie Nordmann-Hansen', nin: personNin });
  const audit = (await t.platform.db.pool.query("SELECT person_id, outcome FROM audit_event WHERE action = 'reveal'")).rows;
  expect(audit).toEqual([expect.objectContaining({ outcome: 'ok', person_id: expect.anything() })]);
  const refused = await post(`/api/registries/fracture/cases/${caseId}/identity`, {}, t.tokens.readerOther);
  expect(refused.statusCode).toBe(403);
  expect(refused.body).not.toContain(personNin);
  expect(
    (await t.platform.db.pool.query("SELECT count(*)::int AS n FROM audit_event WHERE purpose = 'case:reveal' AND outcome = 'denied'"))
      .rows[0].n,
  ).toBe(1);
});

it("finds a patient by identity number within the caller's units, audited, and lists their cases", async () => {
  const res = await post('/api/patients/search', { nin: `${personNin.slice(0, 6)} ${personNin.slice(6)}` });
  expect(res.statusCode, res.body).toBe(200);
  const view = res.json();
  expect(view.cases).toEqual([expect.objectContaining({ registry: 'fracture', caseId, unit: SUS_ORTHO })]);
  expect(view.cases[0].header.values.find((v: any) => v.variable === 'ao_code').value).toBe('2R3A2.2');
  const person = (await t.platform.db.pool.query('SELECT id FROM person WHERE nin_hash = $1', [ninHash(t.platform.keys, personNin)]))
    .rows[0].id;
  expect(view.personId).toBe(Number(person));
  expect(
    (await t.platform.db.pool.query("SELECT count(*)::int AS n FROM audit_event WHERE action = 'search' AND person_id = $1", [person]))
      .rows[0].n,
  ).toBe(1);
  // Another unit's reader finds nothing (and learns nothing about whether the person exists).
  const other = await post('/api/patients/search', { nin: personNin }, t.tokens.readerOther);
  expect(other.statusCode).toBe(404);
  expect(other.json().code).toBe('patient.notFound');
  const unknown = await post('/api/patients/search', { nin: nin('1990-01-01') });
  expect(unknown.json().code).toBe('patient.notFound');
  expect((await post('/api/patients/search', { nin: '12345678901' })).json().code).toBe('nin.invalid');
  // The patient view by id: the same cases; nothing for the other unit.
  expect((await get(`/api/patients/${person}`)).json().cases.map((c: any) => c.caseId)).toEqual([caseId]);
  expect((await get(`/api/patients/${person}`, t.tokens.readerOther)).statusCode).toBe(404);
  // A registry admin of every registry sees the patient's trauma and fracture cases alike.
  const admin = await createToken(t.platform.db.pool, {
    name: 'padmin',
    kind: 'user',
    grants: [{ registry: '*', role: 'platform-admin', unit: '1' }],
  });
  expect((await post('/api/patients/search', { nin: personNin }, admin)).json().cases.length).toBe(1);
});

it("shows each field's history: every value, when, and from which system or person", async () => {
  const registrar = await createToken(t.platform.db.pool, {
    name: 'registrar-sus',
    kind: 'user',
    grants: [{ registry: 'fracture', role: 'unit-registrar', unit: SUS_HOSPITAL }],
  });
  const res = await t.app.inject({
    method: 'PATCH',
    url: `/api/registries/fracture/cases/${caseId}/forms/behandling`,
    headers: { authorization: `Bearer ${registrar}` },
    payload: { values: { treatment_intent: 'operative' } },
  });
  expect(res.statusCode, res.body).toBe(200);
  const history = (await get(`/api/registries/fracture/cases/${caseId}/field-history`)).json();
  const ao = history.find((h: any) => h.variable === 'ao_code');
  expect(ao.changes).toEqual([
    expect.objectContaining({ from: null, to: '2R3A2.2', source: expect.objectContaining({ kind: 'system', name: 'SUS DIPS Arena' }) }),
  ]);
  const intent = history.find((h: any) => h.variable === 'treatment_intent');
  expect(intent.changes.at(-1)).toMatchObject({ to: 'operative', source: { kind: 'user' } });
});

it('moves the name to a new key with `keys reencrypt`, and removes it with the person on opt-out', async () => {
  const env = {
    KVALREG_ENCRYPTION_KEY: crypto.randomBytes(32).toString('base64'),
    KVALREG_ENCRYPTION_KEY_ID: 'k2',
    KVALREG_ENCRYPTION_KEYS_OLD: `k1:${t.env.KVALREG_ENCRYPTION_KEY}`,
    KVALREG_HASH_KEY: t.env.KVALREG_HASH_KEY,
  };
  const rotated = loadIdentityKeys({ env, keyFile: '/nonexistent', log: () => undefined });
  await reencryptAll(t.platform.db.pool, rotated);
  const rows = (await t.platform.db.pool.query('SELECT name_enc FROM person WHERE name_enc IS NOT NULL')).rows;
  expect(rows.length).toBe(2);
  expect(rows.every((r) => encryptedKeyId(r.name_enc) === 'k2')).toBe(true);
  expect(rows.map((r) => decryptNin(rotated, r.name_enc)).sort()).toEqual(['Kari Marie Nordmann-Hansen', 'Ola Nordmann']);
  // Opting out: the person goes, name and all.
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/reservations',
    headers: { authorization: `Bearer ${t.tokens.admin}` },
    payload: { value: personNin },
  });
  expect(res.statusCode, res.body).toBe(201);
  expect((await t.platform.db.pool.query('SELECT count(*)::int AS n FROM person WHERE name_enc IS NOT NULL')).rows[0].n).toBe(1);
});
