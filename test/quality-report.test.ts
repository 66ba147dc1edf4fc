// The annual report's data-quality chapter (coverage per hospital against NPR, completeness,
// timeliness, validation) and stage chapter, generated from the platform's data-quality service:
// read back from the PDF. Six fractures at SUS in the year, NPR holds four of them and five the
// registry lacks: coverage (2 + 4) / 11 = 54.5 %, under 60 %: "Lav dekningsgrad" in 4.1 and beside
// the national indicator results; counts under 5 withheld (the public view).
import { extractText } from 'unpdf';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { SUS_HOSPITAL, SUS_ORTHO, testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
const YEAR = new Date().getFullYear() - 1;
const day = (md: string) => `${YEAR}-${md}`;
const people = Array.from({ length: 11 }, (_, i) => nin(`19${50 + i}-0${(i % 9) + 1}-1${i % 10}`, i % 2 ? 'male' : 'female'));

beforeAll(async () => {
  t = await testPlatform();
  for (let i = 0; i < 6; i++) {
    const f = fracture({
      nin: people[i],
      unitResh: SUS_ORTHO,
      injuryDateTime: `${day(`0${i + 2}-10`)}T10:00:00+01:00`,
      firstContact: `${day(`0${i + 2}-10`)}T11:00:00+01:00`,
    });
    const res = await t.app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
      payload: JSON.stringify(ehrBundle(i === 0 ? { ...f, energy: undefined } : f)),
    });
    expect(res.statusCode, res.body).toBeLessThan(300);
  }
  await t.platform.analytics.refresh();
  const rows = [
    'episode_id;national_id;hospital_resh;admission_date;discharge_date;contact_type;icd10;ncsp',
    ...[0, 1, 2, 3].map((i) => `e${i};${people[i]};${SUS_HOSPITAL};${day(`0${i + 2}-10`)};${day(`0${i + 2}-11`)};inpatient;S52.5;`),
    ...[6, 7, 8, 9, 10].map(
      (i) =>
        `e${i};${people[i]};${SUS_HOSPITAL};${day(`${String(i + 1).padStart(2, '0')}-01`)};${day(`${String(i + 1).padStart(2, '0')}-01`)};outpatient;S62.3;`,
    ),
  ];
  await t.platform.quality.importNpr(
    { kind: 'platform', task: 'test' },
    t.platform.registry('fracture')!,
    rows.join('\n'),
    t.platform.keys,
    { source: 'test', allowTestIdentities: true },
  );
}, 180_000);
afterAll(async () => {
  await t?.close();
});

it('writes coverage, completeness, timeliness, validation and the stage assessment into the annual report', async () => {
  const pdf = await t.platform.reports.annual(t.platform.registry('fracture')!, String(YEAR), { dataset: 'fresh' });
  const { text } = await extractText(new Uint8Array(pdf), { mergePages: true });
  const all = (text as string).replace(/\s+/g, ' ');
  const order = [
    '4 Datakvalitet',
    '4.1 Dekningsgrad mot Norsk pasientregister',
    '4.2 Kompletthet av variablene',
    '4.3 Tidsaktualitet',
    '4.4 Validering mot journal',
    '5 Referanser til vurdering av stadium',
  ];
  const at = order.map((s) => all.indexOf(s));
  expect(
    at.every((i) => i > 0),
    `sections at ${at}`,
  ).toBe(true);
  expect([...at].sort((a, b) => a - b)).toEqual(at);
  const coverage = all.slice(at[1], at[2]);
  // The hospital's row: in both 4 and only in the registry 2 are under 5 (withheld), only in NPR 5, 54.5 %.
  expect(coverage).toMatch(/Stavanger universitetssjukehus – 5 – 54,5 % Lav dekningsgrad/);
  expect(coverage).toMatch(/Hele landet – 5 – 54,5 % Lav dekningsgrad/);
  // Beside the national indicator results.
  expect(all).toMatch(/Dekningsgrad mot Norsk pasientregister nasjonalt i \d{4}: 54,5 % – Lav dekningsgrad/);
  // Completeness: injury energy missing in 1 of 6 (the count of 1 is under 5: withheld, the share too).
  const completeness = all.slice(at[2], at[3]);
  expect(completeness).toMatch(/Skadeenergi/);
  expect(all.slice(at[3], at[4])).toMatch(/registrering \d+ \d+ 30/);
  expect(all.slice(at[4], at[5])).toMatch(/Ingen valideringsstudie/);
  // The stage chapter from the platform: the draft verdict by the rule.
  expect(all.slice(at[5])).toMatch(/Foreløpig vurdering: [1-4][ABC] \(stadium [1-4], nivå [ABC]\)/);
}, 180_000);
