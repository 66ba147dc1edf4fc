// Coverage against NPR on a small hand-made extract, every linkage edge worked out by hand:
// same person at another hospital, a date just outside (and just inside) the fracture register's
// window (injury up to 14 days before the contact), a transfer,
// a follow-up contact, another registry's code, patients who opted out before and after the
// import. The national formula: coverage = (only in registry + in both) / (only in NPR + only in
// registry + in both), the opted-out patients' episodes counted as only in NPR.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.ts';
import type { FractureSpec } from '../registries/fracture/bundles.ts';
import { ninHash } from '../src/identity/crypto.ts';
import { coverageOf } from '../src/quality/coverage.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { OTHER_ORTHO, SUS_HOSPITAL, SUS_ORTHO, testPlatform, type TestPlatform } from './helpers/platform.ts';
import { sendFracture } from './helpers/capture.ts';

let t: TestPlatform;
const KALNES = '8101100';
const at = (date: string) => `${date}T10:00:00+01:00`;
const person = (birth: string) => nin(birth, 'male');
const P = {
  A: person('1960-01-01'),
  B: person('1961-01-01'),
  C: person('1962-01-01'),
  D: person('1963-01-01'),
  E: person('1964-01-01'),
  F: person('1965-01-01'),
  G: person('1966-01-01'),
  H: person('1967-01-01'),
  I: person('1968-01-01'),
  J: person('1969-01-01'),
};
const registered = (who: string, date: string, unit = SUS_ORTHO): FractureSpec =>
  fracture({ nin: who, unitResh: unit, injuryDateTime: at(date), firstContact: at(date) });
// The registry: fractures at SUS (orthopaedics) of A, B, C, D, E, G, H.
const cases = [
  registered(P.A, '2024-03-10'),
  registered(P.B, '2024-04-01'),
  registered(P.C, '2024-05-01'),
  registered(P.D, '2024-05-01'),
  registered(P.E, '2024-06-01'),
  registered(P.G, '2024-08-01'),
  registered(P.H, '2024-07-01'),
];
// The extract (SUS = 8201100, Kalnes = 8101100).
const HEADER = 'episode_id;national_id;hospital_resh;admission_date;discharge_date;contact_type;icd10;ncsp';
const EXTRACT = [
  HEADER,
  `a1;${P.A};${SUS_HOSPITAL};2024-03-10;2024-03-12;inpatient;S52.5;NCJ62`, // A: both (SUS)
  `b1;${P.B};${KALNES};2024-04-01;2024-04-01;outpatient;S52.5;`, // B: same person, other hospital: only NPR at Kalnes; B's case only in registry at SUS
  `c1;${P.C};${SUS_HOSPITAL};2024-05-16;2024-05-17;inpatient;S82.6;`, // C: injury 15 days before the contact (window 14): only NPR; C's case only in registry
  `d1;${P.D};${SUS_HOSPITAL};2024-05-15;2024-05-15;outpatient;S82.6;`, // D: injury exactly 14 days before: both
  `e1;${P.E};${KALNES};2024-06-01;2024-06-20;inpatient;S32.4;`, // E: first hospital of a transfer: only NPR at Kalnes
  `e2;${P.E};${SUS_HOSPITAL};2024-06-20;2024-06-25;inpatient;S32.4;NFJ42`, // E: transferred to SUS 19 days after the injury: the chain starts 1 June: both
  `f1;${P.F};${SUS_HOSPITAL};2024-07-20;2024-07-20;outpatient;S62.3;`, // F: opted out before the import: not stored, counted
  `g1;${P.G};${SUS_HOSPITAL};2024-08-01;2024-08-02;inpatient;S42.2;`, // G: opts out after the import: removed, counted
  `h1;${P.H};${SUS_HOSPITAL};2024-07-01;2024-07-01;outpatient;S62.3;`, // H: both
  `h2;${P.H};${SUS_HOSPITAL};2024-07-15;2024-07-15;outpatient;S62.3;`, //    and a check-up two weeks later: the same event, not counted
  `i1;${P.I};${SUS_HOSPITAL};2024-09-01;2024-09-09;inpatient;S72.0;NFB12`, // I: hip fracture: the hip register's, not selected
  `j1;${P.J};${SUS_HOSPITAL};2024-10-01;2024-10-01;outpatient;S52.5;`, // J: never registered: only NPR (worklist)
].join('\n');
// SUS 2024 — NPR events: a1, c1, d1, e2, h1, j1 (h2 a follow-up) → in both a1, d1, e2, h1 = 4; only NPR c1, j1 = 2; reserved f1, g1 = 2.
//   Cases: A, B, C, D, E, H found: A, D, E, H = 4; only registry B, C = 2 (G's case went with G).
//   coverage = (2 + 4) / (2 + 2 + 2 + 4) = 60 %; without the opted-out: 6 / 8 = 75 %;
//   registry vs NPR 4 / 8 = 50 %; NPR vs registry 4 / 6.
// Kalnes 2024 — b1, e1 only in NPR → 0 / 2 = 0 %: "Lav dekningsgrad".
// Nation: (2 + 4) / (4 + 2 + 2 + 4) = 50 %.

const post = (url: string, body: string | object, token = t.tokens.admin, type = 'text/csv') =>
  t.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${token}`, 'content-type': type }, payload: body as any });
const get = (url: string, token?: string) =>
  t.app.inject({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {} });
let registrarOrtho: string, registrarKalnes: string;

beforeAll(async () => {
  t = await testPlatform();
  for (const f of cases) {
    await sendFracture(t, f);
  }
  await t.platform.analytics.refresh();
  // F opted out before the extract came.
  expect((await post('/api/reservations', { value: P.F }, t.tokens.admin, 'application/json')).statusCode).toBe(201);
  registrarOrtho = await createToken(t.platform.db.pool, {
    name: 'registrar-ortho',
    kind: 'user',
    grants: [{ registry: 'fracture', role: 'unit-registrar', unit: SUS_ORTHO }],
  });
  registrarKalnes = await createToken(t.platform.db.pool, {
    name: 'registrar-kalnes',
    kind: 'user',
    grants: [{ registry: 'fracture', role: 'unit-registrar', unit: OTHER_ORTHO }],
  });
}, 120_000);
afterAll(async () => {
  await t?.close();
});

describe('importing an extract', () => {
  it('refuses a file with a wrong row whole, naming the line, and stores nothing', async () => {
    const bad = `${EXTRACT}\nk1;${P.A};${SUS_HOSPITAL};2024-13-01;2024-13-02;inpatient;S52.5;\nk2;12345678901;${SUS_HOSPITAL};2024-01-01;;inpatient;S52.5;`;
    const res = await post('/api/registries/fracture/npr-extracts', bad);
    expect(res.statusCode).toBe(422);
    expect(res.json().error).toMatch(/line 14: admission_date must be a real date/);
    expect(res.json().error).toMatch(/line 15: national_id/);
    expect(Number((await t.platform.db.pool.query('SELECT count(*) FROM npr_episode')).rows[0].count)).toBe(0);
    // Only the registry's admins import.
    expect((await post('/api/registries/fracture/npr-extracts', EXTRACT, registrarOrtho)).statusCode).toBe(403);
  });

  it("keeps the registry's episodes only, identity encrypted, the opted-out patient counted without identity", async () => {
    const res = await post('/api/registries/fracture/npr-extracts?source=test', EXTRACT);
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ rows: 12, selected: 11, reserved: 1, duplicates: 1, stored: 10, years: [2024] });
    const db = t.platform.db.pool;
    const stored = (await db.query('SELECT episode_id, nin_enc, nin_hash FROM npr_episode ORDER BY episode_id')).rows;
    expect(stored.map((r) => r.episode_id)).toEqual(['a1', 'b1', 'c1', 'd1', 'e1', 'e2', 'g1', 'h1', 'h2', 'j1']);
    // The number is stored only encrypted: its digits appear nowhere in the row.
    expect(stored.every((r) => !Buffer.from(r.nin_enc).toString('latin1').includes(P.A))).toBe(true);
    expect(stored.some((r) => Buffer.from(r.nin_hash).equals(ninHash(t.platform.keys, P.F)))).toBe(false);
  });
});

describe('coverage per level', () => {
  it('works out as by hand, in both directions, after a patient opts out', async () => {
    // G opts out after the import: their episode goes at once, and is counted.
    expect((await post('/api/reservations', { value: P.G }, t.tokens.admin, 'application/json')).statusCode).toBe(201);
    expect(Number((await t.platform.db.pool.query("SELECT count(*) FROM npr_episode WHERE episode_id = 'g1'")).rows[0].count)).toBe(0);
    await t.platform.analytics.refresh();
    const res = await get(`/api/registries/fracture/coverage?unit=1`, t.tokens.admin);
    expect(res.statusCode, res.body).toBe(200);
    const rows = res.json().rows;
    const nation = rows.find((r: any) => r.unit === '1' && r.year === 2024);
    expect(nation).toMatchObject({ bothNpr: 4, onlyNpr: 4, onlyRegistry: 2, reserved: 2, coverage: 0.5 });
    const all = await t.platform.quality.coverageRows(t.platform.registry('fracture')!);
    const sus = all.find((r) => r.unit === SUS_HOSPITAL && r.year === 2024)!;
    expect(sus).toMatchObject({
      bothNpr: 4,
      bothRegistry: 4,
      onlyNpr: 2,
      onlyRegistry: 2,
      reserved: 2,
      coverage: 0.6,
      coverageExcludingReserved: 0.75,
      registryVsNpr: 0.5,
    });
    expect(sus.nprVsRegistry).toBeCloseTo(4 / 6, 10);
    const kalnes = all.find((r) => r.unit === KALNES && r.year === 2024)!;
    expect(kalnes).toMatchObject({ bothNpr: 0, onlyNpr: 2, onlyRegistry: 0, coverage: 0 });
    // The trust and region add up their hospitals.
    expect(all.find((r) => r.unit === '100083' && r.year === 2024)).toMatchObject({ coverage: 0.6 });
    // Nothing to compare: not computable, never 0 %.
    expect(coverageOf({ bothNpr: 0, bothRegistry: 0, onlyNpr: 0, onlyRegistry: 0, reserved: 0 }).coverage).toBeNull();
  });

  it('publicly: small counts withheld, the coverage of too few episodes too; under 60 % marked low', async () => {
    const res = await get('/api/public/registries/fracture/coverage?unit=100092');
    expect(res.statusCode, res.body).toBe(200);
    const kalnes = res.json().rows.find((r: any) => r.unit === KALNES);
    // 2 episodes: under the threshold of 5, so neither the counts nor the coverage are shown.
    expect(kalnes).toMatchObject({ onlyNpr: null, coverage: null, withheld: true });
    const nation = (await get('/api/public/registries/fracture/coverage?unit=1')).json().rows.find((r: any) => r.unit === '1');
    expect(nation).toMatchObject({ coverage: 0.5, low: true, onlyNpr: null, bothNpr: null, onlyRegistry: null, reserved: null });
  });

  it('each indicator result carries its coverage, "Lav dekningsgrad" under 60 %', async () => {
    await t.platform.indicators.ensureFresh(t.platform.registry('fracture')!, { asOf: '2025-06-01' });
    const res = await get(`/api/registries/fracture/indicator-results?period=2024&unit=1`);
    const withCov = res.json().results.filter((r: any) => r.coverage);
    expect(withCov.length).toBeGreaterThan(0);
    expect(withCov[0].coverage).toMatchObject({ value: 0.5, low: true, label: { nb: 'Lav dekningsgrad' } });
    const csv = (await get('/api/registries/fracture/indicator-results.csv?year=2024')).body;
    expect(csv.split('\n')[0]).toMatch(/,coverage,low_coverage$/);
  });
});

describe('the "only in NPR" worklist', () => {
  it("lists the hospital's unlinked episodes with identity numbers, for its registrars, audited, paged", async () => {
    const url = (token: string, unit = SUS_ORTHO, after = 0) =>
      get(`/api/registries/fracture/npr-worklist?unit=${unit}&year=2024&limit=1&after=${after}`, token);
    const ids: string[] = [],
      numbers: string[] = [];
    let after = 0;
    for (let i = 0; i < 5; i++) {
      const res = await url(registrarOrtho, SUS_ORTHO, after);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      ids.push(...res.json().episodes.map((e: any) => e.episodeId));
      numbers.push(...res.json().episodes.map((e: any) => e.nationalId));
      if (res.json().next === null) break;
      after = res.json().next;
    }
    expect(ids).toEqual(['c1', 'j1']);
    expect(numbers).toEqual([P.C, P.J]);
    // Kalnes's registrar cannot read SUS's worklist; a reader cannot read any.
    expect((await url(registrarKalnes)).statusCode).toBe(403);
    expect((await url(t.tokens.readerOther, OTHER_ORTHO)).statusCode).toBe(403);
    // Kalnes's registrar sees Kalnes's: b1 and e1.
    const k = await get(`/api/registries/fracture/npr-worklist?unit=${OTHER_ORTHO}&year=2024`, registrarKalnes);
    expect(k.json().episodes.map((e: any) => e.episodeId)).toEqual(['b1', 'e1']);
    // Audited against the persons the platform knows (C is registered; J is not).
    const audit = await t.platform.db.pool.query(
      "SELECT count(*)::int AS n FROM audit_event WHERE object LIKE 'registry/fracture/npr-worklist/%' AND person_id IS NOT NULL",
    );
    expect(audit.rows[0].n).toBeGreaterThanOrEqual(1);
  });

  it("row-level security shows a unit user only their hospitals' episodes", async () => {
    const client = await t.platform.db.appPool!.connect();
    try {
      await client.query('BEGIN');
      await client.query("SELECT set_config('kvalreg.scope', 'units', true), set_config('kvalreg.grants', $1, true)", [
        `fracture:${OTHER_ORTHO}`,
      ]);
      const seen = (await client.query('SELECT episode_id FROM npr_episode ORDER BY 1')).rows.map((r) => r.episode_id);
      expect(seen).toEqual(['b1', 'e1']);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
  });
});
