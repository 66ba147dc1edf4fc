// The fracture register's indicators on hand-built cases. Each year holds the cases of one
// indicator, built around its edges; the expected numerator and denominator are worked out by hand
// in the comments, from the definitions in the annual report 2024 §2.1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ehrBundle, plannerBundle, type FractureSpec } from '../registries/fracture/bundles.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { OTHER_ORTHO, SUS_HOSPITAL, SUS_ORTHO, testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
const AS_OF = '2026-06-01';
const NATION = '1';

const at = (date: string, time = '10:00') => `${date}T${time}:00+01:00`;
/** An operated fracture: injured on `date` at 10:00, operated `hours` later. */
const operated = (date: string, hours: number, over: Partial<FractureSpec> = {}): FractureSpec => {
  const injury = new Date(at(date));
  const surgery = new Date(injury.getTime() + hours * 3600_000).toISOString();
  return fracture({
    setting: 'AMB',
    injuryDateTime: at(date),
    firstContact: at(date, '11:00'),
    intent: 'operative',
    failedConservative: false,
    surgery: { start: surgery },
    ...over,
  });
};

const cases: Record<string, FractureSpec[]> = {
  // Indicator 1 (2018): E = emergency-clinic part (0–1 day to registration), O = operated part (< 24 h).
  '2018': [
    fracture({ injuryDateTime: at('2018-03-01'), firstContact: at('2018-03-01', '12:30') }), // E: den, num
    fracture({ injuryDateTime: at('2018-03-01', '23:00'), firstContact: at('2018-03-02', '09:00') }), // E: den, num (1 day)
    fracture({ injuryDateTime: at('2018-03-01'), firstContact: at('2018-03-03', '09:00') }), // E: den (2 days)
    operated('2018-03-01', 24), // O: den (exactly 24 h is not under 24)
    operated('2018-03-01', 23.5), // O: den, num
    operated('2018-03-01', 30, { setting: 'EMER' }), // E: den, num; O: den (30 h)
  ], // den = 4 + 3 = 7, num = 3 + 1 = 4
  // Indicator 2 (2019): operated ≤ 14 days, not failed conservative; numerator ≤ 10 days.
  '2019': [
    operated('2019-03-01', 24 * 10 - 1), // day 10: den, num
    operated('2019-03-01', 24 * 11), // day 11: den
    operated('2019-03-01', 24 * 14), // day 14: den
    operated('2019-03-01', 24 * 15), // day 15: out
    operated('2019-03-01', 24 * 3, { failedConservative: true, intent: 'conservative' }), // failed conservative: out
    operated('2019-03-01', 5), // day 0: den, num
    operated('2019-03-01', 24 * 5), // day 5: den, num
  ], // den = 5, num = 3
  // Indicator 3 (2020): unstable distal radius (2R3 A2, A3, C1–C3), age 18–64; numerator operated.
  '2020': [
    operated('2020-03-01', 20, { nin: nin('2002-06-01'), aoCode: '2R3A2' }), // 17 years: out
    operated('2020-03-01', 20, { nin: nin('2002-01-01'), aoCode: '2R3A2' }), // 18: den, num
    fracture({ injuryDateTime: at('2020-03-01'), firstContact: at('2020-03-01', '11:00'), nin: nin('1955-06-01'), aoCode: '2R3C1' }), // 64: den
    operated('2020-03-01', 20, { nin: nin('1955-01-01'), aoCode: '2R3A3' }), // 65: out
    operated('2020-03-01', 20, { nin: nin('1980-01-01'), aoCode: '2R3A1' }), // A1 (stable): out
    fracture({ injuryDateTime: at('2020-03-01'), firstContact: at('2020-03-01', '11:00'), nin: nin('1980-01-01'), aoCode: '2R3B1' }), // B1: out
    operated('2020-03-01', 20, { nin: nin('1980-01-01'), aoCode: '2R3C3' }), // den, num
    fracture({ injuryDateTime: at('2020-03-01'), firstContact: at('2020-03-01', '11:00'), nin: nin('1980-01-01'), aoCode: '2R3C2' }), // den
    operated('2020-03-01', 20, { nin: nin('1980-01-01'), aoCode: '2R3A2.1' }), // subgroup of A2: den, num
  ], // den = 5, num = 3
  // Indicator 11 (2021): "Teller: Antall ikke-planlagte reoperasjoner. Nevner: Antall primære operasjoner":
  // the numerator counts reoperations (a fracture with two counts two), per fracture type and cause.
  '2021': [
    operated('2021-03-01', 20, { reoperations: [{ id: '1', start: at('2021-05-01'), planned: false, cause: 'infection' }] }), // closed: den, num
    operated('2021-03-01', 20, { reoperations: [{ id: '1', start: at('2021-09-01'), planned: true }] }), // closed: den (planned)
    operated('2021-03-01', 20), // closed: den
    operated('2021-03-01', 20, {
      reoperations: [
        { id: '1', start: at('2021-04-01'), planned: false, cause: 'implant_failure' },
        { id: '2', start: at('2021-06-01'), planned: false, cause: 'infection' },
      ],
    }), // closed: den, num 2 (implant failure, infection)
    operated('2021-03-01', 20), // closed: den
    fracture({ injuryDateTime: at('2021-03-01'), firstContact: at('2021-03-01', '11:00') }), // not operated: out
    operated('2021-03-01', 20, {
      open: true,
      tetanus: true,
      antibiotic: true,
      reoperations: [{ id: '1', start: at('2021-04-01'), planned: false, cause: 'infection' }],
    }), // open: den, num
  ], // closed: den = 5, num = 1 + 2 = 3 (infection 2, implant failure 1); open: den = 1, num = 1 (too few to show)
  // Indicator 12 (2022): intended conservative = "pasienter fra skadepol minus pasienter fra operasjon som hadde planlagt
  // midlertidig behandling": only planned temporary treatment is removed; unknown intended treatment stays, visibly.
  '2022': [
    fracture({ injuryDateTime: at('2022-03-01'), firstContact: at('2022-03-01', '11:00') }), // den
    operated('2022-03-01', 24 * 20, { setting: 'EMER', intent: 'conservative', failedConservative: true }), // den, num (failed)
    operated('2022-03-01', 24 * 2, { setting: 'EMER', intent: 'temporary_then_surgery' }), // planned temporary: out
    operated('2022-03-01', 24 * 16, { setting: 'EMER', intent: 'operative' }), // planned operative, not temporary: den, num (> 14 days)
    operated('2022-03-01', 24 * 20, { setting: 'EMER', intent: undefined }), // intended treatment unknown: den, num (> 14 days)
    operated('2022-03-01', 24 * 15, { setting: 'EMER', intent: 'conservative' }), // den, num (> 14 days)
    operated('2022-03-01', 24 * 14, { setting: 'EMER', intent: 'conservative' }), // den (14 days)
    fracture({ setting: 'AMB', injuryDateTime: at('2022-03-01'), firstContact: at('2022-03-01', '11:00') }), // outpatient: out
    fracture({ injuryDateTime: at('2022-03-01'), firstContact: at('2022-03-01', '11:00'), intent: undefined }), // den (not operated)
  ], // den = 7, num = 4
};
// Indicator 13 (2023): patients over 50 with a low-energy fracture, counted once each.
const twice = nin('1943-01-01', 'female');
cases['2023'] = [
  fracture({
    injuryDateTime: at('2023-03-01'),
    firstContact: at('2023-03-01', '11:00'),
    nin: nin('1972-06-01'),
    osteoporosisOffered: undefined,
  }), // 50: out
  fracture({
    injuryDateTime: at('2023-03-01'),
    firstContact: at('2023-03-01', '11:00'),
    nin: nin('1972-01-01'),
    osteoporosisOffered: true,
  }), // 51: den, num
  fracture({
    injuryDateTime: at('2023-03-01'),
    firstContact: at('2023-03-01', '11:00'),
    nin: nin('1963-01-01'),
    osteoporosisOffered: false,
  }), // 60: den
  fracture({
    injuryDateTime: at('2023-03-01'),
    firstContact: at('2023-03-01', '11:00'),
    nin: nin('1953-01-01'),
    energy: 'high',
    osteoporosisOffered: undefined,
  }), // high energy: out
  fracture({ injuryDateTime: at('2023-03-01'), firstContact: at('2023-03-01', '11:00'), nin: twice, osteoporosisOffered: true }), // 80: den, num
  fracture({
    injuryDateTime: at('2023-06-01'),
    firstContact: at('2023-06-01', '11:00'),
    nin: twice,
    osteoporosisOffered: false,
    aoCode: '2R3A3',
  }), // same patient: once
  fracture({
    injuryDateTime: at('2023-03-01'),
    firstContact: at('2023-03-01', '11:00'),
    nin: nin('1968-01-01'),
    osteoporosisOffered: undefined,
  }), // 55, unknown: den
  fracture({
    injuryDateTime: at('2023-03-01'),
    firstContact: at('2023-03-01', '11:00'),
    nin: nin('1974-01-01'),
    osteoporosisOffered: undefined,
  }), // 49: out
  fracture({
    injuryDateTime: at('2023-03-01'),
    firstContact: at('2023-03-01', '11:00'),
    nin: nin('1957-01-01'),
    osteoporosisOffered: true,
  }), // 66: den, num
]; // den = 5 patients, num = 3
// Indicator 14 (2024): deaths from the population register; day 30 and 365 count, day 31 and 366 do not.
const alive = nin('1950-02-02', 'male');
cases['2024'] = [
  fracture({
    injuryDateTime: at('2024-03-01'),
    firstContact: at('2024-03-01', '11:00'),
    nin: nin('1940-01-01'),
    deceasedDate: '2024-03-31',
  }), // day 30
  fracture({
    injuryDateTime: at('2024-03-01'),
    firstContact: at('2024-03-01', '11:00'),
    nin: nin('1940-01-02'),
    deceasedDate: '2024-04-01',
  }), // day 31
  fracture({ injuryDateTime: at('2024-03-01'), firstContact: at('2024-03-01', '11:00'), nin: alive }),
  fracture({
    injuryDateTime: at('2024-03-01'),
    firstContact: at('2024-03-01', '11:00'),
    nin: nin('1940-01-03'),
    deceasedDate: '2025-03-01',
  }), // day 365
  fracture({
    injuryDateTime: at('2024-03-01'),
    firstContact: at('2024-03-01', '11:00'),
    nin: nin('1940-01-04'),
    deceasedDate: '2025-03-02',
  }), // day 366
  fracture({ injuryDateTime: at('2024-09-01'), firstContact: at('2024-09-01', '11:00'), nin: alive, aoCode: '2R3A3' }), // same patient: once
]; // 30 days: den = 5 patients, num = 1; 12 months: num = 3
// Followed only 17 days by the as-of date: no mortality denominator yet.
cases['2026'] = [fracture({ injuryDateTime: at('2026-05-15'), firstContact: at('2026-05-15', '11:00') })];

const send = async (f: FractureSpec) => {
  for (const [token, bundle] of [
    [t.tokens.ehr, ehrBundle(f)],
    [t.tokens.planner, plannerBundle(f)],
  ] as const) {
    if (!bundle) continue;
    const res = await t.app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
      payload: JSON.stringify(bundle),
    });
    expect(res.statusCode, res.body).toBeLessThan(300);
  }
};

/** The stored counts (not withheld for small numbers) for the nation, one period. */
const counts = async (indicator: string, period: string, unit = NATION, dataset = 'fresh') => {
  const { rows } = await t.platform.db.pool.query(
    `SELECT numerator, denominator FROM indicator_result WHERE registry = 'fracture' AND indicator = $1 AND dataset = $4 AND grain = 'year'
       AND period = $2 AND unit_resh = $3 AND stratifier = ''`,
    [indicator, period, unit, dataset],
  );
  return rows[0] ? { num: rows[0].numerator, den: rows[0].denominator } : { num: 0, den: 0 };
};

beforeAll(async () => {
  t = await testPlatform();
  for (const list of Object.values(cases)) for (const f of list) await send(f);
  await t.platform.analytics.refresh();
  await t.platform.indicators.ensureFresh(t.platform.registry('fracture')!, { asOf: AS_OF });
}, 120_000);
afterAll(async () => {
  await t?.close();
});

describe('hand-built cases', () => {
  it('every case reached the analytics table', async () => {
    const n = Object.values(cases).flat().length;
    expect(Number((await t.platform.db.pool.query('SELECT count(*) FROM analytics.fracture')).rows[0].count)).toBe(n);
  });
  it('1: time to treatment, emergency clinic 0–1 day plus operated under 24 h (exactly 24 h is not)', async () => {
    expect(await counts('nfr01_time_to_treatment', '2018')).toEqual({ num: 4, den: 7 });
  });
  it('2: surgery within 10 days among those within 14 days, without failed conservative treatment', async () => {
    expect(await counts('nfr02_time_to_surgery', '2019')).toEqual({ num: 3, den: 5 });
  });
  it('3: unstable distal radius fractures, ages 18–64, operated', async () => {
    expect(await counts('nfr03_wrist_guideline', '2020')).toEqual({ num: 3, den: 5 });
  });
  it('11: unplanned reoperations counted (not fractures with at least one), closed and open fractures apart', async () => {
    expect(await counts('nfr11_reoperation_closed', '2021')).toEqual({ num: 3, den: 5 });
    expect(await counts('nfr11_reoperation_open', '2021')).toEqual({ num: 1, den: 1 });
  });
  it("11: per cause, each stratum counts that cause's reoperations over every primary operation", async () => {
    const { rows } = await t.platform.db.pool.query(
      `SELECT stratum, numerator, denominator FROM indicator_result WHERE indicator = 'nfr11_reoperation_closed'
      AND period = '2021' AND unit_resh = $1 AND stratifier = 'reoperation_cause' AND dataset = 'fresh' AND grain = 'year' ORDER BY stratum`,
      [NATION],
    );
    const by = Object.fromEntries(rows.map((r) => [r.stratum, [r.numerator, r.denominator]]));
    expect(by).toEqual({
      infection: [2, 5],
      implant_failure: [1, 5],
      peri_implant_fracture: [0, 5],
      nonunion: [0, 5],
      malunion: [0, 5],
      implant_removal: [0, 5],
      other: [0, 5],
      unknown: [0, 5],
    });
    // … and per fracture type (AO prefix) the cases are split as for any stratifier.
    const ao = (
      await t.platform.db.pool.query(
        `SELECT stratum, numerator, denominator FROM indicator_result WHERE indicator = 'nfr11_reoperation_closed'
      AND period = '2021' AND unit_resh = $1 AND stratifier = 'ao_prefix' AND dataset = 'fresh' AND grain = 'year'`,
        [NATION],
      )
    ).rows;
    expect(ao).toEqual([{ stratum: '23', numerator: 3, denominator: 5 }]);
    // A rate of events, not a share of cases: its interval is the Poisson one (Byar), the Measure a ratio.
    // (3 is under the threshold: the public sees the denominator only, SUS's own registrar the whole result.)
    const [pub] = await t.platform.indicators.results(
      t.platform.registry('fracture')!,
      { indicator: 'nfr11_reoperation_closed', period: '2021', units: [NATION] },
      { asOf: AS_OF },
    );
    expect(pub).toMatchObject({ status: 'too-few', numerator: null, denominator: 5 });
    const own = await t.app.inject({
      method: 'GET',
      url: `/api/registries/fracture/indicator-results?indicator=nfr11_reoperation_closed&period=2021&unit=${SUS_HOSPITAL}`,
      headers: { authorization: `Bearer ${t.tokens.registrarSus}` },
    });
    const r = own.json().results[0];
    expect(r).toMatchObject({ status: 'ok', numerator: 3, denominator: 5, ownUnit: true });
    expect(r.proportion).toBeCloseTo(0.6, 10);
    // Exact Poisson 95 % limits for 3 events: qchisq(0.025, 6)/2 = 0.6186, qchisq(0.975, 8)/2 = 8.7673 (Garwood 1936); Byar within 1 %.
    expect(r.interval!.lower * 5).toBeCloseTo(0.6186, 1);
    expect(r.interval!.upper * 5).toBeCloseTo(8.7673, 1);
  });
  it('12: failed conservative treatment; only planned temporary treatment left out, unknown intended treatment counted', async () => {
    expect(await counts('nfr12_failed_conservative', '2022')).toEqual({ num: 4, den: 7 });
  });
  it('13: patients over 50 with a low-energy fracture, each counted once', async () => {
    expect(await counts('nfr13_osteoporosis_assessment', '2023')).toEqual({ num: 3, den: 5 });
  });
  it('14: mortality within 30 days and 12 months; day 30 and 365 count, 31 and 366 do not', async () => {
    expect(await counts('nfr14_mortality_30_days', '2024')).toEqual({ num: 1, den: 5 });
    expect(await counts('nfr14_mortality_12_months', '2024')).toEqual({ num: 3, den: 5 });
  });
  it('a fracture not yet followed long enough has no mortality denominator: not computable, never 0 %', async () => {
    expect(await counts('nfr14_mortality_30_days', '2026')).toEqual({ num: 0, den: 0 });
    const [r] = await t.platform.indicators.results(
      t.platform.registry('fracture')!,
      { indicator: 'nfr14_mortality_30_days', period: '2026', units: [NATION] },
      { asOf: AS_OF },
    );
    expect(r).toMatchObject({ status: 'not-computable', proportion: null, numerator: null });
  });
  it('every level of the unit tree gets the same counts from one pass: department, hospital, trust, region, nation', async () => {
    const tree = t.platform.units;
    for (const resh of tree.get(SUS_ORTHO)!.path)
      expect(await counts('nfr12_failed_conservative', '2022', resh)).toEqual({ num: 4, den: 7 });
    expect(await counts('nfr12_failed_conservative', '2022', OTHER_ORTHO)).toEqual({ num: 0, den: 0 });
    expect(tree.get(SUS_HOSPITAL)!.level).toBe('hospital');
  });
});

describe('results as users read them', () => {
  // The hand-built counts are small: read as a national reader (a unit reader at the nation), who
  // sees every unit in full; what the public sees of them is checked beside.
  const nationalReader = {
    kind: 'user' as const,
    user: 'reader',
    name: 'reader',
    grants: [{ registry: 'fracture', role: 'unit-reader' as const, unit: NATION }],
  };
  const results = (
    q: Parameters<TestPlatform['platform']['indicators']['results']>[1],
    viewer: typeof nationalReader | null = nationalReader,
  ) => t.platform.indicators.results(t.platform.registry('fracture')!, q, { asOf: AS_OF, viewer: viewer ?? undefined });

  it('gives the proportion with its Wilson interval, target and level', async () => {
    const [r] = await results({ indicator: 'nfr01_time_to_treatment', period: '2018', units: [NATION] });
    expect(r).toMatchObject({ status: 'ok', numerator: 4, denominator: 7, targetMet: false, level: 'low', ownUnit: true });
    // The public: a numerator of 4 is under the threshold; it goes, and the share, interval and level with it.
    const [open] = await results({ indicator: 'nfr01_time_to_treatment', period: '2018', units: [NATION] }, null);
    expect(open).toMatchObject({
      status: 'too-few',
      numerator: null,
      denominator: 7,
      proportion: null,
      interval: null,
      level: null,
      targetMet: null,
    });
    expect(open).not.toHaveProperty('ownUnit');
    expect(r.proportion).toBeCloseTo(4 / 7, 10);
    expect(r.interval!.lower).toBeCloseTo(0.2505, 3);
    expect(r.interval!.upper).toBeCloseTo(0.8419, 3);
  });
  it('withholds results under the minimum denominator and says so', async () => {
    for (const viewer of [nationalReader, null]) {
      const [r] = await results({ indicator: 'nfr11_reoperation_open', period: '2021', units: [NATION] }, viewer);
      expect(r).toMatchObject({ status: 'too-few', numerator: null, denominator: null, proportion: null, level: null });
    }
  });
  it('lists units without cases as not computable instead of dropping them', async () => {
    const rs = await results({ indicator: 'nfr12_failed_conservative', period: '2022', level: 'department' });
    expect(rs.length).toBe(t.platform.units.all().filter((u) => u.level === 'department').length);
    expect(rs.find((r) => r.unit.resh === SUS_ORTHO)).toMatchObject({ status: 'ok', numerator: 4, denominator: 7 });
    expect(rs.find((r) => r.unit.resh === OTHER_ORTHO)).toMatchObject({ status: 'not-computable' });
  });
  it('lists the pending indicators as declared, with their targets, not as zero', async () => {
    const rs = await results({ period: '2022', units: [NATION] });
    const pending = rs.filter((r) => r.status === 'definition-pending').map((r) => r.indicator);
    expect(pending).toHaveLength(6);
    expect(pending).toContain('nfr09_open_fracture_tetanus_antibiotics');
    // Indicator 10 is computed, with thresholds the registry has not set yet (parameters.yaml).
    expect(t.platform.indicators.get('fracture', 'nfr10_prom_improvement')!.pendingParameters.map((p) => p.id)).toEqual([
      'prom_mcii',
      'prom_pass',
    ]);
  });
  it('stratifies by the declared stratifiers', async () => {
    const rs = await results({ indicator: 'nfr13_osteoporosis_assessment', period: '2023', units: [NATION], stratifier: 'sex' });
    const raw = (
      await t.platform.db.pool.query(
        `SELECT stratum, numerator, denominator FROM indicator_result WHERE indicator = 'nfr13_osteoporosis_assessment'
      AND period = '2023' AND unit_resh = $1 AND stratifier = 'sex' AND dataset = 'fresh' AND grain = 'year' ORDER BY stratum`,
        [NATION],
      )
    ).rows;
    expect(raw).toEqual([{ stratum: 'female', numerator: 3, denominator: 5 }]);
    expect(rs.map((r) => r.stratum)).toEqual(['female']);
  });
  it('the quality-assured dataset counts finalised cases only', async () => {
    expect(await counts('nfr12_failed_conservative', '2022', NATION, 'qa')).toEqual({ num: 0, den: 0 });
  });
});

describe('over HTTP', () => {
  const get = (url: string, token?: string) =>
    t.app.inject({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {} });

  it('publishes the declarations with their definition as text, without login', async () => {
    const res = await get('/api/registries/fracture/indicators');
    expect(res.statusCode).toBe(200);
    const list = res.json();
    expect(list).toHaveLength(17);
    const i12 = list.find((i: any) => i.number === '12');
    expect(i12.definition.numerator).toMatch(/^Antall brudd der første kontakt er skadepoliklinikk/);
    expect(i12.target).toEqual({ operator: '<', value: 0.1 });
    expect(list.find((i: any) => i.number === '4')).toMatchObject({ status: 'pending', definition: null });
  });

  it('serves results as aggregates, and refuses a malformed question with a clear message', async () => {
    const res = await get('/api/registries/fracture/indicator-results?indicator=nfr12_failed_conservative&period=2022&unit=1');
    expect(res.statusCode).toBe(200);
    // 4 of 7: the numerator is under the threshold, so the public gets the denominator only …
    expect(res.json().results[0]).toMatchObject({ numerator: null, denominator: 7, proportion: null, status: 'too-few' });
    // … and SUS's own registrar gets SUS in full, but not the nation.
    const own = await get(
      `/api/registries/fracture/indicator-results?indicator=nfr12_failed_conservative&period=2022&unit=1,${SUS_HOSPITAL}`,
      t.tokens.registrarSus,
    );
    expect(own.json().results.find((r: any) => r.unit.resh === SUS_HOSPITAL)).toMatchObject({
      numerator: 4,
      denominator: 7,
      status: 'ok',
      ownUnit: true,
    });
    expect(own.json().results.find((r: any) => r.unit.resh === NATION)).toMatchObject({ numerator: null, status: 'too-few' });
    const bad = await get('/api/registries/fracture/indicator-results?grain=week');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatch(/grain must be one of year, quarter, month, rolling-12-months/);
  });

  it("explains a unit's result case by case, for users of that unit only, and logs the look", async () => {
    const res = await get(
      `/api/registries/fracture/indicators/nfr12_failed_conservative/explanation?unit=${SUS_HOSPITAL}&period=2022`,
      t.tokens.registrarSus,
    );
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body.total).toBe(7);
    expect(body.cases.filter((c: any) => c.inNumerator)).toHaveLength(4);
    // The case whose intended treatment is unknown is listed, and says so: the denominator's term it
    // was judged on, with the unknown value.
    const unknownIntent = body.cases
      .filter((c: any) => c.parts[0].clauses.some((x: any) => x.of === 'denominator'))
      .map((c: any) => ({ inNumerator: c.inNumerator, clause: c.parts[0].clauses.find((x: any) => x.of === 'denominator') }));
    expect(unknownIntent).toHaveLength(2); // the operated one, and the one not operated (where it did not matter)
    expect(unknownIntent.find((c: any) => c.clause.values.operated === true)).toMatchObject({
      inNumerator: true,
      clause: { holds: true, values: { operated: true, treatment_intent: null } },
    });
    expect(unknownIntent.find((c: any) => c.clause.values.operated === false)).toMatchObject({
      inNumerator: false,
      clause: { holds: true, values: { treatment_intent: null } },
    });
    const late = body.cases.find((c: any) => c.parts[0].clauses.some((x: any) => x.values.days_injury_to_surgery === 15));
    expect(late.inNumerator).toBe(true);
    expect(late.parts[0].clauses).toEqual(expect.arrayContaining([expect.objectContaining({ text: 'operert', holds: true })]));
    const audit = await t.platform.db.pool.query("SELECT count(*) FROM audit_event WHERE action = 'indicator:explain'");
    expect(Number(audit.rows[0].count)).toBe(7);
    const other = await get(
      `/api/registries/fracture/indicators/nfr12_failed_conservative/explanation?unit=${SUS_HOSPITAL}&period=2022`,
      t.tokens.readerOther,
    );
    expect(other.statusCode).toBe(403);
  });

  it("12's data-quality figure shows fractures from the emergency clinic with intended treatment not recorded", async () => {
    const res = await get(`/api/registries/fracture/figures/emergency-treatment-intent?year=2022&unit=${NATION}`);
    expect(res.statusCode, res.body).toBe(200);
    const fig = res.json();
    // Eight emergency-clinic fractures in 2022, two without intended treatment (one operated); every
    // group is under the small-count threshold here, so counts are withheld, but the groups are named.
    const raw = (
      await t.platform.db.pool.query(`SELECT treatment_intent_recorded AS x, operated, count(*)::int AS n FROM analytics.fracture
      WHERE care_setting = 'emergency' AND extract(year FROM injury_date) = 2022 GROUP BY 1, 2 ORDER BY 1, 2`)
    ).rows;
    expect(raw).toEqual(
      expect.arrayContaining([
        { x: 'unknown', operated: true, n: 1 },
        { x: 'unknown', operated: false, n: 1 },
      ]),
    );
    expect(fig.spec.categories).toEqual(['Konservativ', 'Operativ', 'Midlertidig i påvente av operasjon', 'Ikke registrert']);
    expect(fig.data).toEqual(
      expect.arrayContaining([{ treatment_intent_recorded: 'Ikke registrert', operated: 'Operert', count: null, suppressed: true }]),
    );
    expect(fig.spec.description).toMatch(/I alt 8 brudd/);
  });

  it('gives FHIR Measure and summary MeasureReport resources', async () => {
    const m = await get('/fhir/Measure/fracture-nfr11-reoperation-closed');
    expect(m.statusCode).toBe(200);
    // Reoperations per primary operation: a ratio (the numerator counts events and may exceed the denominator).
    expect(m.json()).toMatchObject({
      resourceType: 'Measure',
      scoring: { coding: [{ code: 'ratio' }] },
      improvementNotation: { coding: [{ code: 'decrease' }] },
    });
    expect(m.json().extension).toEqual(
      expect.arrayContaining([expect.objectContaining({ url: expect.stringMatching(/indicator-target$/) })]),
    );
    const r = await get(`/fhir/MeasureReport?measure=fracture-nfr11-reoperation-closed&period=2021&reporter=${SUS_HOSPITAL}`);
    expect(r.statusCode, r.body).toBe(200);
    const report = r.json().entry[0].resource;
    expect(report).toMatchObject({ resourceType: 'MeasureReport', type: 'summary', period: { start: '2021-01-01', end: '2021-12-31' } });
    // 3 reoperations of 5: the numerator and the score are withheld, the denominator stays, and the status says so.
    expect(report.group[0].population.map((p: any) => [p.code.coding[0].code, p.count])).toEqual([['denominator', 5]]);
    expect(report.group[0].measureScore).toBeUndefined();
    expect(report.group[0].extension).toEqual([{ url: expect.stringMatching(/indicator-result-status$/), valueCode: 'too-few' }]);
  });

  it('writes the national publishing CSV: one row per unit and year, withheld results left out', async () => {
    const res = await get('/api/registries/fracture/indicator-results.csv?year=2021&dataset=fresh');
    expect(res.statusCode).toBe(200);
    const lines = res.body.trim().split('\n');
    expect(lines[0]).toBe(
      'context,year,orgnr,resh,unit_name,unit_level,ind_id,var,denominator,level_green,level_yellow,level_direction,min_denominator,coverage,low_coverage',
    );
    // 2021: 3 reoperations of 5 closed fractures, all at SUS: the numerator is under the threshold,
    // so the row is left out at every level.
    expect(lines.filter((l) => l.includes('nfr11_reoperation_closed'))).toEqual([]);
    // 2022 at SUS: 4 of 7 failed conservative treatment — left out too; 0 of 7 would be shown.
    const y2022 = (await get('/api/registries/fracture/indicator-results.csv?year=2022&dataset=fresh')).body.trim().split('\n');
    expect(y2022.filter((l) => l.includes('nfr12'))).toEqual([]);
    for (const l of [...lines.slice(1), ...y2022.slice(1)]) {
      const [v, d] = l.split(',').slice(7, 9).map(Number);
      expect(v === 0 || v >= 5, l).toBe(true);
      expect(d).toBeGreaterThanOrEqual(5);
    }
  });
});

describe('freshness', () => {
  it('counts a new case within seconds of its arrival, with results recomputed', async () => {
    const r = t.platform.registry('fracture')!;
    const before = (
      await t.platform.indicators.results(r, { indicator: 'nfr12_failed_conservative', period: '2022', units: [NATION] }, { asOf: AS_OF })
    )[0];
    t.platform.analytics.start(200);
    try {
      const started = Date.now();
      await send(fracture({ injuryDateTime: at('2022-04-01'), firstContact: at('2022-04-01', '11:00') }));
      let now = before;
      while (now.denominator === before.denominator && Date.now() - started < 10_000) {
        await new Promise((res) => setTimeout(res, 100));
        now = (
          await t.platform.indicators.results(
            r,
            { indicator: 'nfr12_failed_conservative', period: '2022', units: [NATION] },
            { asOf: AS_OF },
          )
        )[0];
      }
      expect(now.denominator).toBe(before.denominator! + 1);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await t.platform.analytics.stop();
    }
  });

  it('a death notice from the population register updates mortality (died 19 days after the second fracture)', async () => {
    const r = t.platform.registry('fracture')!;
    const patient = alive;
    const death = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        {
          resource: {
            resourceType: 'Patient',
            identifier: [{ system: 'urn:oid:2.16.578.1.12.4.1.4.1', value: patient }],
            deceasedDateTime: '2024-09-20',
          },
          request: { method: 'PUT', url: 'Patient' },
        },
      ],
    };
    const res = await t.app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
      payload: JSON.stringify(death),
    });
    expect(res.statusCode, res.body).toBeLessThan(300);
    await t.platform.analytics.refresh();
    await t.platform.indicators.ensureFresh(r, { asOf: AS_OF });
    expect(await counts('nfr14_mortality_30_days', '2024')).toEqual({ num: 2, den: 5 });
  });
});
