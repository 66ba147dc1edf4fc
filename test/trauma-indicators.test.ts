// The trauma register's indicators on hand-built trauma events. Each year holds the events of one
// indicator, built around its edges; the expected numerator and denominator are worked out by hand
// in the comments from the definitions in registries/trauma/indicators.yaml.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nin } from './helpers/fixtures.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';
import { traumaBundle, type TraumaSpec } from './helpers/trauma.ts';

let t: TestPlatform;
const AS_OF = '2026-06-01';
const ED = '8201102';
let n = 0;
const ev = (year: string, over: Partial<TraumaSpec> = {}): TraumaSpec => ({
  id: `ind-${++n}`,
  nin: nin('1970-01-01', n % 2 ? 'male' : 'female'),
  unitResh: ED,
  arrival: `${year}-04-01T10:00:00+02:00`,
  traumaTeam: true,
  accident: { at: `${year}-04-01T09:30:00+02:00` },
  injuryType: 'blunt',
  arrivalVitals: { gcs: 15, sbp: 120, rr: 16 },
  ais: ['853000.3'],
  ...over,
});
const ct = (year: string, minutes: number) => new Date(Date.parse(`${year}-04-01T10:00:00+02:00`) + minutes * 60_000).toISOString();
const SEVERE = ['140602.4', '450211.4']; // ISS 16 + 16 = 32
const MODERATE = ['140602.3', '450211.2']; // ISS 9 + 4 = 13

const DIES_DAY_30 = nin('1940-01-04'),
  DIES_DAY_31 = nin('1940-01-05');
const events: TraumaSpec[] = [
  // Indicator 1 (2021): trauma team and CT; numerator CT within 60 minutes of arrival.
  ev('2021', { ct: ct('2021', 30) }), // den, num
  ev('2021', { ct: ct('2021', 60) }), // den, num (exactly 60 minutes)
  ev('2021', { ct: ct('2021', 61) }), // den
  ev('2021', { ct: ct('2021', 200) }), // den
  ev('2021', {}), // no CT: out
  ev('2021', { traumaTeam: false, inclusionBasis: 'niss-over-12', ct: ct('2021', 20) }), // no trauma team: out
  ev('2021', { ct: ct('2021', 5) }), // den, num
  // den = 5, num = 3
  // Indicator 2 (2022): ISS > 15; numerator trauma team activated.
  ev('2022', { ais: SEVERE }), // den, num
  ev('2022', { ais: SEVERE, traumaTeam: false, inclusionBasis: 'niss-over-12' }), // den (undertriage)
  ev('2022', { ais: ['140602.4', '450211.1'] }), // ISS 16 + 1 = 17: den, num
  ev('2022', { ais: MODERATE }), // ISS 13: out
  ev('2022', { ais: ['140602.4'] }), // ISS 16: den, num
  ev('2022', { ais: ['140602.3', '650216.3'] }), // same region (head/neck): ISS 9: out
  ev('2022', { ais: SEVERE, traumaTeam: false, inclusionBasis: 'dead-before-arrival', arrivalVitals: undefined }), // dead before arrival: out
  ev('2022', { ais: SEVERE, traumaTeam: false, inclusionBasis: 'penetrating' }), // den
  // den = 5, num = 3
  // Indicator 3 (2023): death within 30 days of the accident (day 30 counts, day 31 not).
  ev('2023', { nin: nin('1940-01-01'), discharge: { at: '2023-04-05T10:00:00+02:00', disposition: 'exp' } }), // died in hospital day 4: num
  ev('2023', { nin: nin('1940-01-02'), discharge: { at: '2023-04-10T10:00:00+02:00', disposition: 'home' } }), // alive
  ev('2023', { nin: nin('1940-01-03') }), // alive (no death date)
  ev('2023', { nin: DIES_DAY_30 }), // death date day 30 (population register): num
  ev('2023', { nin: DIES_DAY_31 }), // death date day 31: not num
  // den = 5, num = 2
  ev('2026', { accident: { at: '2026-05-20T09:30:00+02:00' }, arrival: '2026-05-20T10:00:00+02:00' }), // followed 12 days: out of 3
];
const deaths: Array<[string, string]> = [
  [DIES_DAY_30, '2023-05-01'],
  [DIES_DAY_31, '2023-05-02'],
]; // accident 2023-04-01

const counts = async (indicator: string, period: string) => {
  const { rows } = await t.platform.db.pool.query(
    `SELECT numerator, denominator FROM indicator_result WHERE registry = 'trauma' AND indicator = $1 AND dataset = 'fresh' AND grain = 'year'
       AND period = $2 AND unit_resh = '1' AND stratifier = ''`,
    [indicator, period],
  );
  return rows[0] ? { num: rows[0].numerator, den: rows[0].denominator } : { num: 0, den: 0 };
};

beforeAll(async () => {
  t = await testPlatform();
  for (const e of events) {
    const res = await t.app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
      payload: JSON.stringify(traumaBundle(e)),
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.body).toMatch(/trauma: case \d+ created/);
  }
  // Deaths from the population register: a batch of Patient.deceasedDateTime (docs/examples/death-notice-batch.json).
  const entry = deaths.map(([id, died]) => ({
    resource: { resourceType: 'Patient', identifier: [{ system: 'urn:oid:2.16.578.1.12.4.1.4.1', value: id }], deceasedDateTime: died },
    request: { method: 'PUT', url: 'Patient' },
  }));
  const res = await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry }),
  });
  expect(res.statusCode, res.body).toBe(200);
  await t.platform.analytics.refresh();
  await t.platform.indicators.ensureFresh(t.platform.registry('trauma')!, { asOf: AS_OF });
}, 120_000);
afterAll(async () => {
  await t?.close();
});

describe('trauma indicators on hand-built events', () => {
  it('every event reached the analytics table', async () => {
    expect(Number((await t.platform.db.pool.query('SELECT count(*) FROM analytics.trauma')).rows[0].count)).toBe(events.length);
  });
  it('1: CT within the first hour among trauma-team patients with CT (exactly 60 minutes counts)', async () => {
    expect(await counts('ntr01_ct_within_first_hour', '2021')).toEqual({ num: 3, den: 5 });
  });
  it('2: trauma-team activation among ISS > 15, the dead before arrival left out', async () => {
    expect(await counts('ntr02_team_activation_iss_over_15', '2022')).toEqual({ num: 3, den: 5 });
  });
  it('3: death within 30 days, from discharge status or the population register; day 30 counts, day 31 not', async () => {
    expect(await counts('ntr03_mortality_30_days', '2023')).toEqual({ num: 2, den: 5 });
    expect(await counts('ntr03_mortality_30_days', '2026')).toEqual({ num: 0, den: 0 });
  });
});
