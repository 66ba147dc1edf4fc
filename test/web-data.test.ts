// The open data the web app reads besides the indicator routes: units, the codebook as metadata,
// and key figures (aggregates; counts under the registry's threshold withheld, and what would give them away).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { fracture } from './helpers/fixtures.ts';
import { OTHER_ORTHO, SUS_ORTHO, testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform();
  for (let i = 0; i < 6; i++) {
    const res = await t.app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
      payload: JSON.stringify(ehrBundle(fracture({ unitResh: i < 5 ? SUS_ORTHO : OTHER_ORTHO }))),
    });
    expect(res.statusCode).toBeLessThan(300);
  }
  await t.platform.analytics.refresh();
}, 120_000);
afterAll(async () => {
  await t?.close();
});

it('lists every unit, nation first, with names in both languages and the path', async () => {
  const units = (await t.app.inject({ method: 'GET', url: '/api/units' })).json();
  expect(units[0].level).toBe('nation');
  const sus = units.find((u: any) => u.resh === SUS_ORTHO);
  expect(sus).toMatchObject({ level: 'department', name: { nb: 'Ortopedisk avdeling', en: 'Department of Orthopaedics' } });
  expect(sus.path).toContain(units[0].resh);
});

it('serves the codebook as open metadata: forms, variable types, required-ness and code lists', async () => {
  const res = await t.app.inject({ method: 'GET', url: '/api/registries/fracture/codebook' });
  expect(res.statusCode).toBe(200);
  const cb = res.json();
  const behandling = cb.forms.find((f: any) => f.id === 'behandling');
  expect(behandling.variables.find((v: any) => v.id === 'treatment_intent')).toMatchObject({
    type: 'code',
    codelist: 'treatment_intent',
    required: true,
  });
  expect(behandling.variables.find((v: any) => v.id === 'failed_conservative')).toMatchObject({
    type: 'boolean',
    required: 'conditional',
    requiredWhen: 'present(surgery_datetime)',
  });
  expect(cb.codelists.find((c: any) => c.id === 'side').codes).toContainEqual({ code: 'right', display: { nb: 'Høyre', en: 'Right' } });
  expect((await t.app.inject({ method: 'GET', url: '/api/registries/nope/codebook' })).statusCode).toBe(404);
});

it('gives key figures per year of the case date (the year of injury, not of registration), withholding counts under the threshold and what would give them away', async () => {
  const year = 2024; // the fixtures' injuries are in 2024; they were registered this year
  expect((await t.app.inject({ method: 'GET', url: '/api/registries/fracture/key-figures' })).json().years.map((y: any) => y.year)).toEqual(
    [2024],
  );
  // 5 at SUS, 1 at Kalnes, 6 in the nation: Kalnes's 1 is withheld, and so is SUS's 5 (6 − 5 = 1).
  const sus = (await t.app.inject({ method: 'GET', url: `/api/registries/fracture/key-figures?unit=${SUS_ORTHO}` })).json();
  expect(sus.years).toContainEqual({ year, nation: 6, unit: null });
  const other = (await t.app.inject({ method: 'GET', url: `/api/registries/fracture/key-figures?unit=${OTHER_ORTHO}` })).json();
  expect(other.years).toContainEqual({ year, nation: 6, unit: null });
  // SUS's own registrar sees SUS's count: they can count those cases anyway.
  const own = (
    await t.app.inject({
      method: 'GET',
      url: `/api/registries/fracture/key-figures?unit=${SUS_ORTHO}`,
      headers: { authorization: `Bearer ${t.tokens.registrarSus}` },
    })
  ).json();
  expect(own.years).toContainEqual({ year, nation: 6, unit: 5 });
  expect((await t.app.inject({ method: 'GET', url: '/api/registries/fracture/key-figures?unit=999' })).statusCode).toBe(400);
});

it("counts a unit's registrations per month of the case date (injury): cases, complete, finalised and forms by status, within the caller's units", async () => {
  // The fixtures' fractures were injured on 2024-03-01 (and registered today).
  const year = '2024';
  const month = '2024-03';
  const get = (url: string, token: string) => t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
  const res = await get(`/api/registries/fracture/registrations/summary?unit=${SUS_ORTHO}&year=${year}`, t.tokens.registrarSus);
  expect(res.statusCode, res.body).toBe(200);
  const [row] = res.json();
  // Five cases at SUS injured that month, none finalised yet: every form a draft.
  expect(row).toMatchObject({ month, cases: 5, finalised: 0, forms: { finalised: 0, reopened: 0 } });
  expect(row.complete).toBeLessThanOrEqual(5);
  const forms = (
    await t.platform.db.pool.query(
      `SELECT count(*)::int AS n FROM case_form f JOIN registry_case c ON c.registry = f.registry AND c.id = f.case_id WHERE c.unit_resh = $1`,
      [SUS_ORTHO],
    )
  ).rows[0].n;
  expect(row.forms.draft).toBe(forms);
  // Another unit's registrar sees only their own unit's, and may not ask for SUS.
  expect(
    (await get(`/api/registries/fracture/registrations/summary?unit=${SUS_ORTHO}&year=${year}`, t.tokens.readerOther)).statusCode,
  ).toBe(403);
  expect((await get(`/api/registries/fracture/registrations/summary?year=${year}`, t.tokens.readerOther)).json()).toEqual([
    expect.objectContaining({ cases: 1 }),
  ]);
  expect((await get(`/api/registries/fracture/registrations/summary?year=24`, t.tokens.registrarSus)).statusCode).toBe(400);
});

it('offers only years with data, and opens on the newest full year with data', async () => {
  // Fractures injured in 2022, and one in the current year: the current year has data but is not full.
  const thisYear = new Date().getFullYear();
  for (const injury of [`2022-05-01T10:00:00+02:00`, `${thisYear}-01-02T10:00:00+01:00`]) {
    const res = await t.app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
      payload: JSON.stringify(ehrBundle(fracture({ injuryDateTime: injury, firstContact: injury }))),
    });
    expect(res.statusCode).toBeLessThan(300);
  }
  await t.platform.analytics.refresh();
  const years = (await t.app.inject({ method: 'GET', url: '/api/registries/fracture/years' })).json();
  expect(years).toEqual({ years: [thisYear, 2024, 2022], default: 2024, current: thisYear });
  // The trauma register has no data: no years, no default.
  expect((await t.app.inject({ method: 'GET', url: '/api/registries/trauma/years' })).json()).toMatchObject({ years: [], default: null });
  expect((await t.app.inject({ method: 'GET', url: '/api/years' })).json()).toMatchObject({ years: [thisYear, 2024, 2022], default: 2024 });
});
