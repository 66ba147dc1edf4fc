// The trauma register in the results the fracture register has: its declared analyses (coded
// columns shown by their code lists' displays), its indicators and W statistic in the annual
// report, read back from the PDF — the same report code, nothing trauma-specific in src/.
import { extractText } from 'unpdf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nin } from './helpers/fixtures.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';
import { traumaBundle, type TraumaSpec } from './helpers/trauma.ts';

let t: TestPlatform;
const ED = '8201102';
let n = 0;
// 2024: 8 high falls (6 men aged 44, 2 women aged 44) and 6 motorcycle accidents (men aged 24), at SUS.
const ev = (over: Partial<TraumaSpec>): TraumaSpec => ({
  id: `rep-${++n}`,
  nin: nin('1980-01-01', 'male'),
  unitResh: ED,
  arrival: '2024-04-01T10:00:00+02:00',
  traumaTeam: true,
  accident: { at: `2024-04-01T09:${String(n).padStart(2, '0')}:00+02:00` },
  injuryType: 'blunt',
  intention: 'accident',
  arrivalVitals: { gcs: 15, sbp: 120, rr: 16 },
  ais: ['853000.3'],
  ...over,
});
const events = [
  ...Array.from({ length: 6 }, () => ev({ nin: nin('1980-01-01', 'male'), mechanism: 'fall_high' })),
  ...Array.from({ length: 2 }, () => ev({ nin: nin('1980-01-01', 'female'), mechanism: 'fall_high' })),
  ...Array.from({ length: 6 }, () =>
    ev({ nin: nin('2000-01-01', 'male'), mechanism: 'traffic_motorcycle', ais: ['140602.4', '450211.4'] }),
  ),
];

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
  }
  await t.platform.analytics.refresh();
});
afterAll(async () => {
  await t?.close();
});

describe("the trauma register's results", () => {
  it("counts its declared analyses with the code lists' displays", async () => {
    const res = await t.app.inject({ method: 'GET', url: `/api/registries/trauma/figures/mechanism-by-sex?year=2024&unit=${ED}` });
    expect(res.statusCode, res.body).toBe(200);
    const { spec, data } = res.json();
    expect(spec.categories).toEqual(expect.arrayContaining(['Fall 3 meter eller mer', 'Trafikk – motorsykkel']));
    const cell = (x: string, sex: string) => data.find((r: any) => r.mechanism === x && r.sex === sex);
    // Counted: falls 6 men and 2 women, motorcyclists 6 men …
    const tables = await t.platform.reports.figures.yearTables(t.platform.registry('trauma')!, '2024', 'fresh');
    expect([
      tables.cell('mechanism-by-sex', ED, 'fall_high', 'male').n,
      tables.cell('mechanism-by-sex', ED, 'fall_high', 'female').n,
      tables.cell('mechanism-by-sex', ED, 'traffic_motorcycle', 'male').n,
    ]).toEqual([6, 2, 6]);
    // … but 2 women are under the threshold, and in a table this small every other count gives them
    // away: the falls' total (8) minus the men, or the men's total (12) minus the motorcyclists. All go.
    expect(cell('Fall 3 meter eller mer', 'Kvinner')).toMatchObject({ count: null, suppressed: true });
    expect(cell('Fall 3 meter eller mer', 'Menn')).toMatchObject({ count: null, suppressed: true });
    expect(cell('Trafikk – motorsykkel', 'Menn')).toMatchObject({ count: null, suppressed: true });
    expect(spec.description).toMatch(/I alt 14 traumehendelser\./);
    const severity = (
      await t.app.inject({ method: 'GET', url: `/api/registries/trauma/figures/severity-by-age-group?year=2024&unit=${ED}` })
    ).json();
    // The motorcyclists (aged 24, ISS 32) are severely injured; the falls (aged 44, ISS 9) are not.
    expect([
      tables.cell('severity-by-age-group', ED, '16-54', 'true').n,
      tables.cell('severity-by-age-group', ED, '16-54', 'false').n,
    ]).toEqual([6, 8]);
    // Here severity follows the mechanism (every motorcyclist severely injured, no faller), so these
    // counts are the mechanisms' totals again — withheld with them.
    const severe = severity.data.find((r: any) => r.age_group === '16-54' && r.severely_injured === 'Alvorlig skadd (ISS over 15)');
    const mild = severity.data.find((r: any) => r.age_group === '16-54' && r.severely_injured === 'ISS 15 eller lavere');
    expect([severe.suppressed, mild.suppressed]).toEqual([true, true]);
  });

  it('writes the annual report with its indicators, the W statistic, its analyses and its own texts', async () => {
    const pdf = await t.platform.reports.annual(t.platform.registry('trauma')!, '2024', { dataset: 'fresh' });
    const { text } = await extractText(new Uint8Array(pdf), { mergePages: false });
    const all = (text as string[]).join('\n').replace(/\s+/g, ' ');
    expect(all).toContain('Nasjonalt traumeregister');
    for (const ind of t.platform.indicators.list('trauma')) expect(all).toContain(ind.def.title.nb.replace(/\s+/g, ' '));
    expect(all).toContain('W-statistikk');
    expect(all).toContain('Gruppe A:'); // registries/trauma/report/description.md
    for (const a of [
      'Traumehendelser fordelt på skademekanisme og kjønn',
      'Aldersfordeling av traumepasienter',
      'Alvorlig skadde etter aldersgruppe',
    ])
      expect(all).toContain(a);
    expect([...all.matchAll(/Figur (\d+):/g)].length).toBeGreaterThanOrEqual(3);
  });
});
