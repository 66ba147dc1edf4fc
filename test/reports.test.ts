// Figures, tables and the annual report on hand-built fractures: counts by AO prefix and sex worked
// out by hand, disclosure control at the registry threshold and at "five or fewer" (and of what
// would give those counts away), incidence against the
// synthetic population table, the same figure as JSON, SVG, PNG, PDF, CSV and XLSX, and the annual
// report from the API and the command line.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fracture, nin } from './helpers/fixtures.ts';
import { OTHER_ORTHO, SUS_ORTHO, testPlatform, type TestPlatform } from './helpers/platform.ts';
import { pdfInfo } from './helpers/pdf.ts';
import { sendFracture } from './helpers/capture.ts';

let t: TestPlatform;
const TRUST = '100083'; // Helse Stavanger HF: the population table's area
const at = (date: string, time = '10:00') => `${date}T${time}:00+01:00`;

// 2024 at SUS orthopaedics: wrist (AO 23) and ankle (AO 44) fractures in women and men aged 33
// (18-49), 63 (50-66) and 72 (67+), and 3 humeral shaft fractures (AO 12) in boys aged 10 (0-17):
//            aged 33   aged 63   aged 72   all
//   23 women    6         8         7       21
//   23 men      6         5         6       17
//   44 women    5         6         2       13
//   44 men      7         6         3       16
//   12 men      (aged 10: 3)                 3      — 70 in all.
// No variable is a function of another here (every age has both sexes and both bones), so each
// figure is its own table; the small cells are AO 12 (3 boys) and AO 44 at 67+ (2 + 3 = 5, which
// the age-group figure hides: "five or fewer"). One wrist fracture in 2023 (outside the year).
const grid: Array<[string, 'female' | 'male', string, number]> = [
  ['2R3A2', 'female', '1990-08-01', 6],
  ['2R3A2', 'female', '1960-08-01', 8],
  ['2R3A2', 'female', '1951-08-01', 7],
  ['2R3A2', 'male', '1990-08-01', 6],
  ['2R3A2', 'male', '1960-08-01', 5],
  ['2R3A2', 'male', '1951-08-01', 6],
  ['44B1', 'female', '1990-08-01', 5],
  ['44B1', 'female', '1960-08-01', 6],
  ['44B1', 'female', '1951-08-01', 2],
  ['44B1', 'male', '1990-08-01', 7],
  ['44B1', 'male', '1960-08-01', 6],
  ['44B1', 'male', '1951-08-01', 3],
  ['12A1', 'male', '2013-08-01', 3],
];
const spec = grid.flatMap(([ao, sex, birth, n]) => Array.from({ length: n }, () => ({ birth, sex, ao })));

beforeAll(async () => {
  t = await testPlatform();
  const send = (f: ReturnType<typeof fracture>) => sendFracture(t, f);
  for (const s of spec)
    await send(
      fracture({ nin: nin(s.birth, s.sex), aoCode: s.ao, injuryDateTime: at('2024-03-01'), firstContact: at('2024-03-01', '12:00') }),
    );
  await send(
    fracture({
      nin: nin('1960-08-01', 'female'),
      aoCode: '2R3A2',
      injuryDateTime: at('2023-03-01'),
      firstContact: at('2023-03-01', '12:00'),
    }),
  );
  // Elsewhere (Østfold, Helse Sør-Øst), for comparisons: 10 wrist fractures in women aged 63 and
  // 30 ankle fractures in men aged 33 in April 2024, first seen at the emergency clinic 2 hours after.
  for (let i = 0; i < 10; i++)
    await send(
      fracture({
        unitResh: OTHER_ORTHO,
        nin: nin('1960-08-01', 'female'),
        aoCode: '2R3A2',
        injuryDateTime: at('2024-04-01'),
        firstContact: at('2024-04-01', '12:00'),
      }),
    );
  for (let i = 0; i < 30; i++)
    await send(
      fracture({
        unitResh: OTHER_ORTHO,
        nin: nin('1990-08-01', 'male'),
        aoCode: '44B1',
        injuryDateTime: at('2024-04-01'),
        firstContact: at('2024-04-01', '12:00'),
      }),
    );
  // … and one wrist fracture first seen at an outpatient clinic, not the emergency clinic, in May.
  await send(
    fracture({
      unitResh: OTHER_ORTHO,
      setting: 'AMB',
      nin: nin('1960-08-01', 'female'),
      aoCode: '2R3A2',
      injuryDateTime: at('2024-05-02'),
      firstContact: at('2024-05-03', '12:00'),
    }),
  );
  await t.platform.analytics.refresh();
});
afterAll(async () => {
  await t?.close();
});

const get = (url: string, token?: string) =>
  t.app.inject({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {} });
/** The year's counts before disclosure control: what the figures are computed from. */
const counted = async (analysis: string, unit: string, x: string, g: string) =>
  (await t.platform.reports.figures.yearTables(t.platform.registry('fracture')!, '2024', 'fresh')).cell(analysis, unit, x, g);
/**
 * A figure publishes each count as counted or not at all, and never leaves a row or column with a
 * single withheld cell beside a shown total (`total(axis, value)`: whether that line's total is shown).
 */
function checkPublished(
  data: any[],
  x: string,
  g: string | null,
  raw: Map<string, number>,
  total: (axis: string, value: string) => Promise<boolean>,
) {
  for (const r of data) {
    const n = raw.get(`${r[x]}|${g ? r[g] : ''}`) ?? 0;
    if (r.suppressed) expect(r.count).toBeNull();
    else expect(r.count, `${r[x]} ${g ? r[g] : ''}`).toBe(n);
  }
  return Promise.all(
    (g ? [x, g] : [x]).map(async (axis) => {
      const lines = new Map<string, number>();
      for (const r of data) if (r.suppressed) lines.set(g ? r[axis] : '', (lines.get(g ? r[axis] : '') ?? 0) + 1);
      for (const [line, n] of lines)
        if (n === 1) expect(await total(axis, line), `${axis} ${line}: one withheld cell beside a shown total`).toBe(false);
    }),
  );
}

describe('figures', () => {
  it('lists every declared analysis and two figures per indicator', async () => {
    const res = await get('/api/registries/fracture/figures');
    expect(res.statusCode).toBe(200);
    const ids = res.json().map((f: any) => f.id);
    expect(ids).toEqual(
      expect.arrayContaining([
        'ao-prefix-by-sex',
        'age-by-sex',
        'incidence-by-age-group',
        'count-by-age-group',
        'ao-prefix-by-age-group',
        'units-nfr01_time_to_treatment',
        'trend-nfr01_time_to_treatment',
      ]),
    );
  });

  it('counts by AO prefix and sex, withholding counts under the threshold and what would give them away', async () => {
    const res = await get(`/api/registries/fracture/figures/ao-prefix-by-sex?year=2024&unit=${SUS_ORTHO}`);
    expect(res.statusCode, res.body).toBe(200);
    const { spec: s, data } = res.json();
    expect(s.kind).toBe('grouped-bars');
    expect(s.categories).toEqual(['12', '23', '44']);
    // Counted as in the grid above …
    const raw = new Map<string, number>();
    for (const [x, g, label] of [
      ['23', 'female', 'Kvinner'],
      ['23', 'male', 'Menn'],
      ['44', 'female', 'Kvinner'],
      ['44', 'male', 'Menn'],
      ['12', 'male', 'Menn'],
      ['12', 'female', 'Kvinner'],
    ])
      raw.set(`${x}|${label}`, (await counted('ao-prefix-by-sex', SUS_ORTHO, x, g)).n);
    expect([...raw.values()]).toEqual([21, 17, 13, 16, 3, 0]);
    expect((await counted('ao-prefix-by-sex', SUS_ORTHO, '12', 'male')).withheld).toBe('small');
    // … shown where disclosure control allows: 3 boys are under the threshold, and every row and
    // column (and the region and the nation above SUS, and the other figures over the same
    // fractures) must keep a second unknown beside them. 70 fractures in all is shown.
    const cell = (x: string, sex: string) => data.find((r: any) => r.ao_prefix === x && r.sex === sex);
    expect(cell('12', 'Menn')).toMatchObject({ count: null, suppressed: true });
    expect(cell('44', 'Kvinner')).toMatchObject({ count: 13, suppressed: false });
    const sexCode = { Kvinner: 'female', Menn: 'male' } as Record<string, string>;
    await checkPublished(data, 'ao_prefix', 'sex', raw, async (axis, v) =>
      axis === 'sex'
        ? (await counted('ao-prefix-by-sex', SUS_ORTHO, '*', sexCode[v])).withheld === null
        : (await counted('ao-prefix-by-sex', SUS_ORTHO, v, '*')).withheld === null,
    );
    expect(s.description).toMatch(/I alt 70 brudd\.$/);
    expect(s.note).toBe('Grupper med færre enn 5, og grupper som ville avsløre dem, er ikke vist.');
    // At the nation (SUS and Østfold), more is shown.
    const nation = (await get('/api/registries/fracture/figures/ao-prefix-by-sex?year=2024&unit=1')).json();
    expect(nation.data.find((r: any) => r.ao_prefix === '44' && r.sex === 'Menn')).toMatchObject({ count: 46 }); // 16 + 30
  });

  it('hides groups of five or fewer where the analysis says so', async () => {
    const { data } = (await get(`/api/registries/fracture/figures/ao-prefix-by-age-group?year=2024&unit=${SUS_ORTHO}`)).json();
    const cell = (x: string, g: string) => data.find((r: any) => r.ao_prefix === x && r.age_group === g);
    expect(await counted('ao-prefix-by-age-group', SUS_ORTHO, '44', '67+')).toMatchObject({ n: 5, withheld: 'small' }); // exactly 5: 2 women, 3 men
    expect((await counted('ao-prefix-by-age-group', SUS_ORTHO, '23', '50-66')).n).toBe(13);
    expect(cell('44', '67+')).toMatchObject({ count: null, suppressed: true });
    expect(cell('12', '0-17')).toMatchObject({ count: null, suppressed: true });
  });

  it('bins ages in five-year steps and counts the report age groups', async () => {
    const ages = (await get(`/api/registries/fracture/figures/age-by-sex?year=2024&unit=${SUS_ORTHO}`)).json();
    expect(ages.spec.kind).toBe('histogram');
    // Bins are counted by their lower edge: 60-64 holds the women aged 63 (8 with wrist, 6 with ankle fractures).
    expect((await counted('age-by-sex', SUS_ORTHO, '60', 'female')).n).toBe(14);
    expect((await counted('age-by-sex', SUS_ORTHO, '30', 'male')).n).toBe(13);
    expect(ages.data.find((r: any) => r.age_at_injury === '10-14' && r.sex === 'Menn')).toMatchObject({ count: null, suppressed: true });
    expect(ages.data.find((r: any) => r.age_at_injury === '30-34' && r.sex === 'Kvinner')).toMatchObject({ count: 11 });
    const groups = (await get(`/api/registries/fracture/figures/count-by-age-group?year=2024&unit=${SUS_ORTHO}`)).json();
    expect(groups.data.map((r: any) => r.age_group)).toEqual(['0-17', '18-49', '50-66', '67+']);
    expect(
      await Promise.all(['0-17', '18-49', '50-66', '67+'].map(async (g) => (await counted('count-by-age-group', SUS_ORTHO, g, '')).n)),
    ).toEqual([3, 24, 25, 18]);
    expect(groups.data[0]).toMatchObject({ count: null, suppressed: true });
  });

  it('computes incidence per 10,000 against the population table', async () => {
    const res = await get(`/api/registries/fracture/figures/incidence-by-age-group?year=2024&unit=${TRUST}`);
    expect(res.statusCode, res.body).toBe(200);
    const pop = (
      await t.platform.db.pool.query(
        `SELECT sum(population)::int AS p FROM population WHERE year = 2024 AND area_resh = $1 AND age_group = '30-34' AND sex = 'female'`,
        [TRUST],
      )
    ).rows[0].p;
    expect(pop).toBeGreaterThan(1000);
    // The women aged 33: 6 wrist and 5 ankle fractures.
    const row = res.json().data.find((r: any) => r.age_group_ssb === '30-34' && r.sex === 'Kvinner');
    expect(row).toMatchObject({ population: pop, count: 11 });
    expect(row.rate).toBeCloseTo((11 / pop) * 10000, 1);
    // The same women in five-year bins are the same count: withheld in one figure, withheld in the other.
    const ages = (await get(`/api/registries/fracture/figures/age-by-sex?year=2024&unit=${TRUST}`)).json();
    for (const r of res.json().data) {
      const twin = ages.data.find((a: any) => a.age_at_injury === r.age_group_ssb && a.sex === r.sex);
      if (twin) expect(r.suppressed, `${r.age_group_ssb} ${r.sex}`).toBe(twin.suppressed);
    }
    // A unit whose area has no population figures: a clear refusal.
    const none = await get('/api/registries/fracture/figures/incidence-by-age-group?year=2024&unit=8101101');
    expect(none.statusCode).toBe(422);
    expect(none.json().error).toMatch(/befolkningstall/);
  });

  it("compares a unit with the rest of the country, its region and the nation, as shares of each side's cases", async () => {
    // SUS: 70 fractures (AO 12: 3, 23: 38, 44: 29). Østfold: 41 (23: 11, 44: 30). Nation: 111.
    const fig = async (compare: string) => {
      const res = await get(`/api/registries/fracture/figures/ao-prefix-by-sex?year=2024&unit=${SUS_ORTHO}&compare=${compare}`);
      expect(res.statusCode, res.body).toBe(200);
      return res.json();
    };
    const rest = await fig('rest');
    expect(rest.spec.groups.map((g: any) => g.label)).toEqual(['Ortopedisk avdeling, Stavanger universitetssjukehus', 'Resten av landet']);
    expect(rest.spec.description).toMatch(/\(Ortopedisk avdeling, Stavanger universitetssjukehus: 70, Resten av landet: 41\)/);
    const share = (f: any, x: string, side: number) =>
      f.data.find((r: any) => r.ao_prefix === x && r.comparison === f.spec.groups[side].label);
    // Each side's count is the figure's row total: 3 boys at SUS are withheld, and so is every count
    // that would give them away — SUS's other rows (70 − 38 − 29 = 3) and the rest of the country's
    // (the nation minus SUS). Nothing is shown that a reader could subtract.
    expect(share(rest, '12', 0)).toMatchObject({ count: null, share: null, suppressed: true });
    expect(share(rest, '12', 1)).toMatchObject({ count: null, suppressed: true }); // 3 − 3 = 0: withheld all the same
    for (const side of [0, 1])
      for (const r of rest.data.filter((x: any) => x.comparison === rest.spec.groups[side].label && !x.suppressed)) {
        const own = await counted('ao-prefix-by-sex', side === 0 ? SUS_ORTHO : '1', r.ao_prefix, '*');
        expect(own.withheld).toBeNull();
      }
    const nation = await fig('nation');
    expect(share(nation, '44', 1)).toMatchObject({ count: 59, share: 53.2 }); // 29 + 30 of 111
    const region = await fig('region');
    expect(region.spec.groups[1].label).toMatch(/Helse Vest/);
    expect(region.spec.description).toMatch(/Helse Vest RHF: 70\)/); // only SUS in the region
    // The same comparison as a download, and the nation cannot be compared with itself.
    const csv = await get(`/api/registries/fracture/figures/ao-prefix-by-sex.csv?year=2024&unit=${SUS_ORTHO}&compare=rest`);
    expect(csv.headers['content-disposition']).toMatch(/-vs-rest\.csv/);
    expect(csv.body.split('\n')[0]).toMatch(/AO-prefiks,Gruppe,Antall,Andel \(%\)/);
    expect((await get('/api/registries/fracture/figures/ao-prefix-by-sex?year=2024&compare=rest')).json().error).toMatch(
      /landet kan ikke sammenlignes med seg selv/,
    );
    expect((await get(`/api/registries/fracture/figures/ao-prefix-by-sex?year=2024&unit=${SUS_ORTHO}&compare=world`)).json().error).toMatch(
      /compare must be one of rest, region, nation/,
    );
  });

  it('compares incidence with the catchment population on each side', async () => {
    const res = await get(`/api/registries/fracture/figures/incidence-by-age-group?year=2024&unit=${SUS_ORTHO}&compare=nation`);
    expect(res.statusCode, res.body).toBe(200);
    const pop = (
      await t.platform.db.pool.query(
        `SELECT sum(population)::int AS p FROM population WHERE year = 2024 AND area_resh = $1 AND age_group = '60-64'`,
        [TRUST],
      )
    ).rows[0].p;
    const own = res
      .json()
      .data.find((r: any) => r.age_group_ssb === '60-64' && r.comparison === 'Ortopedisk avdeling, Stavanger universitetssjukehus');
    expect(own.population).toBe(pop);
    // The nation's population table covers the demo area only: cases outside it are not counted, so
    // the nation's side is SUS's 70, and each age group the same count on both sides.
    expect(res.json().spec.description).toMatch(/Stavanger universitetssjukehus: 70, Norge: 70 brudd/);
    for (const r of res.json().data.filter((x: any) => x.comparison !== 'Ortopedisk avdeling, Stavanger universitetssjukehus')) {
      const twin = res
        .json()
        .data.find(
          (x: any) => x.age_group_ssb === r.age_group_ssb && x.comparison === 'Ortopedisk avdeling, Stavanger universitetssjukehus',
        );
      expect([r.count, r.suppressed]).toEqual([twin.count, twin.suppressed]);
    }
    expect((await counted('incidence-by-age-group', '1', '60-64', '*')).n).toBe(25);
  });

  it("counts the emergency clinic's patients per month with the median time to treatment, leaving out other first contacts", async () => {
    const res = await get(`/api/registries/fracture/figures/emergency-clinic-waiting?year=2024&unit=${OTHER_ORTHO}`);
    expect(res.statusCode, res.body).toBe(200);
    const { spec: s, data } = res.json();
    expect(s.encoding.value).toBe('median');
    // April: 40 at the emergency clinic, each 2 hours from injury to treatment. May's one case was
    // first seen at an outpatient clinic: not in the figure.
    expect(s.categories).toEqual(['4']);
    expect(data).toEqual([expect.objectContaining({ injury_month: '4', count: 40, median: 2, suppressed: false })]);
    expect(s.columns.map((c: any) => c.label)).toEqual(['Skademåned', 'Antall', 'Median timer fra skade til behandlingsstart']);
    const sus = (await get(`/api/registries/fracture/figures/emergency-clinic-waiting?year=2024&unit=${SUS_ORTHO}`)).json();
    expect(sus.data).toEqual([expect.objectContaining({ injury_month: '3', count: 70, median: 2 })]);
    // Medians are not turned into shares: a comparison is refused with what to do instead.
    const cmp = await get(`/api/registries/fracture/figures/emergency-clinic-waiting?year=2024&unit=${SUS_ORTHO}&compare=rest`);
    expect(cmp.statusCode).toBe(422);
    expect(cmp.json().error).toMatch(/medianer/);
  });

  it('renders the same figure as SVG, PNG and PDF', async () => {
    const svg = await get(`/api/registries/fracture/figures/ao-prefix-by-sex.svg?year=2024&unit=${SUS_ORTHO}`);
    expect(svg.headers['content-type']).toMatch(/image\/svg\+xml/);
    expect(svg.body).toMatch(/role="img"/);
    expect(svg.body).toMatch(/<title id="fig-title">Brudd fordelt på AO-prefiks og kjønn/);
    expect(svg.body).toMatch(/<desc id="fig-desc">/);
    expect(svg.body).toMatch(/pattern id="g1"/); // groups differ by pattern, not colour alone
    const png = await get(`/api/registries/fracture/figures/ao-prefix-by-sex.png?year=2024&unit=${SUS_ORTHO}`);
    expect(png.headers['content-type']).toBe('image/png');
    expect(png.rawPayload.subarray(1, 4).toString()).toBe('PNG');
    expect(png.rawPayload.readUInt32BE(16)).toBe(1640); // 820 px at twice the size
    const pdf = await get(`/api/registries/fracture/figures/ao-prefix-by-sex.pdf?year=2024&unit=${SUS_ORTHO}`);
    expect(pdf.rawPayload.subarray(0, 4).toString()).toBe('%PDF');
    expect(pdfInfo(pdf.rawPayload).Title).toBe(
      'Brudd fordelt på AO-prefiks og kjønn – Ortopedisk avdeling, Stavanger universitetssjukehus 2024',
    );
  });

  it("gives the figure's table as CSV and XLSX", async () => {
    const csv = await get(`/api/registries/fracture/figures/ao-prefix-by-sex.csv?year=2024&unit=${SUS_ORTHO}`);
    expect(csv.headers['content-disposition']).toMatch(/attachment; filename="fracture-ao-prefix-by-sex-2024-8201101.csv"/);
    const lines = csv.body.trim().split('\n');
    expect(lines[0]).toBe('AO-prefiks,Kjønn,Antall');
    expect(lines).toContain('44,Kvinner,13');
    expect(lines).toContain('12,Menn,'); // withheld: empty, never the count
    const xlsx = await get(`/api/registries/fracture/figures/ao-prefix-by-sex.xlsx?year=2024&unit=${SUS_ORTHO}`);
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(xlsx.rawPayload as any);
    const ws = wb.worksheets[0];
    const rows = ws
      .getSheetValues()
      .filter(Boolean)
      .map((r: any) => r.slice(1));
    expect(rows).toContainEqual(['44', 'Kvinner', 13]);
  });

  it('compares units on an indicator and follows a unit over time', async () => {
    const units = (
      await get(`/api/registries/fracture/figures/units-nfr01_time_to_treatment?year=2024&unit=${SUS_ORTHO}&level=department`)
    ).json();
    expect(units.spec.kind).toBe('unit-bars');
    expect(units.spec.target.value).toBe(0.8);
    expect(units.data[0].resh).toBe('1'); // the nation first
    const own = units.data.find((r: any) => r.resh === SUS_ORTHO);
    expect(own.denominator).toBe(70);
    expect(own.proportion).toBeCloseTo(1);
    expect(own.level).toBe('high');
    const svg = await get(
      `/api/registries/fracture/figures/units-nfr01_time_to_treatment.svg?year=2024&unit=${SUS_ORTHO}&level=department`,
    );
    expect(svg.body).toMatch(/<circle[^>]+fill="#009E73"/); // level symbol: circle for high
    const trend = (await get(`/api/registries/fracture/figures/trend-nfr01_time_to_treatment?year=2024&unit=${SUS_ORTHO}`)).json();
    expect(trend.spec.x).toEqual(['2020', '2021', '2022', '2023', '2024']);
    expect(trend.spec.series).toHaveLength(3);
    const y2023 = trend.data.find((r: any) => r.period === '2023' && r.resh === SUS_ORTHO);
    expect(y2023.status).toBe('too-few'); // one case in 2023
    expect(y2023.proportion).toBeNull();
  });

  it('refuses unknown figures and bad parameters with clear messages', async () => {
    expect((await get('/api/registries/fracture/figures/nope')).statusCode).toBe(404);
    const bad = await get('/api/registries/fracture/figures/ao-prefix-by-sex?year=24');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatch(/year/);
    expect((await get('/api/registries/fracture/figures/ao-prefix-by-sex?unit=999')).json().error).toMatch(/Unknown unit/);
  });
});

describe('indicator results as tables', () => {
  it('downloads CSV and XLSX', async () => {
    const csv = await get(`/api/registries/fracture/tables/indicator-results.csv?year=2024&level=department`);
    expect(csv.statusCode, csv.body).toBe(200);
    expect(csv.body.split('\n')[0]).toBe('Indikator,Tittel,År,Enhet,RESH,Teller,Nevner,Andel,Nedre 95 %,Øvre 95 %,Måloppnåelse,Status');
    expect(csv.body).toMatch(
      new RegExp(`nfr01_time_to_treatment,[^\\n]*,2024,"Ortopedisk avdeling, Stavanger universitetssjukehus",${SUS_ORTHO},70,70,1,`),
    );
    const xlsx = await get(`/api/registries/fracture/tables/indicator-results.xlsx?year=2024`);
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(xlsx.rawPayload as any);
    expect(wb.worksheets[0].name).toBe('Indikatorresultater');
  });
});

describe('annual report', () => {
  it('is a PDF for registry admins only', async () => {
    const res = await get('/api/registries/fracture/reports/annual/2024.pdf', t.tokens.admin);
    expect(res.statusCode, res.body.slice(0, 200)).toBe(200);
    expect(res.rawPayload.subarray(0, 4).toString()).toBe('%PDF');
    expect(pdfInfo(res.rawPayload).Title).toBe('Norsk frakturregister – årsrapport 2024');
    expect(res.rawPayload.length).toBeGreaterThan(50_000); // figures and tables, not an empty shell
    expect((await get('/api/registries/fracture/reports/annual/2024.pdf', t.tokens.registrarSus)).statusCode).toBe(403);
    expect((await get('/api/registries/fracture/reports/annual/2024.pdf')).statusCode).toBe(401);
    expect((await get('/api/registries/fracture/reports/annual/2024.xlsx', t.tokens.admin)).statusCode).toBe(400);
  });

  it('is written by `kvalreg report annual`', async () => {
    const out = `${t.config.dataDir}/report.pdf`;
    await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'report', 'annual', '--registry', 'fracture', '--year', '2024', '--out', out],
      { env: { ...process.env, ...t.env, LOG_LEVEL: 'warn' }, timeout: 120_000 },
    );
    const fs = await import('node:fs');
    const pdf = fs.readFileSync(out);
    expect(pdf.subarray(0, 4).toString()).toBe('%PDF');
    expect(pdfInfo(pdf).Title).toBe('Norsk frakturregister – årsrapport 2024');
  }, 150_000);
});
