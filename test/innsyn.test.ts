// Innsyn: the patient sees what is registered about them, in words from the codebook, and who
// looked (role and unit), nothing about anyone else; and can opt out from the same place.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.ts';
import { ninHash } from '../src/identity/crypto.ts';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
let mine: ReturnType<typeof fracture>;
let patientToken: string;
beforeAll(async () => {
  t = await testPlatform();
  mine = fracture({ nin: nin('1955-09-09', 'female'), aoCode: '2R3C1', side: 'right', open: true, tetanus: true });
  for (const f of [mine, fracture({ nin: nin('1980-01-01', 'male') })]) {
    await t.app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
      payload: JSON.stringify(ehrBundle(f)),
    });
  }
  const caseId = (
    await t.platform.db.pool.query('SELECT c.id FROM registry_case c JOIN person p ON p.id = c.person_id WHERE p.nin_hash = $1', [
      ninHash(t.platform.keys, mine.nin),
    ])
  ).rows[0].id;
  await t.app.inject({
    method: 'GET',
    url: `/api/registries/fracture/cases/${caseId}`,
    headers: { authorization: `Bearer ${t.tokens.registrarSus}` },
  });
  patientToken = await createToken(t.platform.db.pool, {
    name: 'patient',
    kind: 'user',
    grants: [{ registry: '*', role: 'patient', unit: '1' }],
    personHash: ninHash(t.platform.keys, mine.nin),
  });
});
afterAll(async () => {
  await t?.close();
});

const view = async (lang = 'nb') =>
  t.app.inject({ method: 'GET', url: `/api/innsyn?lang=${lang}`, headers: { authorization: `Bearer ${patientToken}` } });

it('shows the patient their own registrations in plain words, and who looked', async () => {
  const res = await view();
  expect(res.statusCode).toBe(200);
  const v = res.json();
  expect(v.registered).toBe(true);
  expect(v.registries).toHaveLength(1);
  expect(v.registries[0].title).toBe('Norsk frakturregister');
  expect(v.registries[0].cases).toHaveLength(1);
  const values = v.registries[0].cases[0].forms.flatMap((f: any) => f.values);
  expect(values).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ label: 'Side', value: 'Høyre', source: 'Overført fra SUS DIPS Arena' }),
      expect.objectContaining({ label: 'Åpent brudd', value: 'Ja' }),
    ]),
  );
  // The department with its hospital's name; dates in words, in one format.
  expect(v.registries[0].cases[0].unit).toBe('Stavanger universitetssjukehus, Ortopedisk avdeling');
  expect(values.find((x: any) => x.variable === 'injury_date').value).toBe('1. mars 2024');
  expect(values.find((x: any) => x.variable === 'injury_datetime').value).toBe('1. mars 2024 kl. 10:00');
  expect(v.accessLog).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ who: 'Registrator ved avdelingen', unit: expect.stringMatching(/Ortopedisk/), action: 'read' }),
      expect.objectContaining({ who: 'Fagsystem på sykehuset', action: 'capture' }),
    ]),
  );
  expect(JSON.stringify(v)).not.toContain(mine.nin);
  const en = (await view('en')).json();
  expect(en.registries[0].title).toBe('Norwegian Fracture Register');
});

it('shows nothing about anyone else, and refuses other roles', async () => {
  const v = (await view()).json();
  expect(v.registries.flatMap((r: any) => r.cases)).toHaveLength(1);
  expect(
    (await t.app.inject({ method: 'GET', url: '/api/innsyn', headers: { authorization: `Bearer ${t.tokens.registrarSus}` } })).statusCode,
  ).toBe(403);
});

it('lets the patient opt out, removing what was registered', async () => {
  const res = await t.app.inject({ method: 'POST', url: '/api/innsyn/reservation', headers: { authorization: `Bearer ${patientToken}` } });
  expect(res.statusCode).toBe(201);
  expect(res.json()).toMatchObject({ reserved: true, removedPerson: true, removedCases: 1 });
  expect(res.json().message.nb).toMatch(/reservert/);
  const after = (await view()).json();
  expect(after.registered).toBe(false);
  // After a reload the page still says she opted out, when, and how to reach the registry to withdraw it.
  const status = (
    await t.app.inject({ method: 'GET', url: '/api/innsyn/status', headers: { authorization: `Bearer ${patientToken}` } })
  ).json();
  expect(status.reservation).toMatchObject({ channel: 'innsyn' });
  expect(Date.now() - Date.parse(status.reservation.reservedAt)).toBeLessThan(120_000);
  expect(status.registries.find((r: any) => r.id === 'fracture')).toMatchObject({
    dataController: 'Helse Stavanger HF',
    contact: { web: expect.stringMatching(/^https:/) },
  });
  const again = await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(ehrBundle({ ...mine, id: `${mine.id}-new` })),
  });
  expect(again.statusCode).toBe(403);
});
