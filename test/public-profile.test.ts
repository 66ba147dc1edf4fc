// The public hospital profile: every indicator of every registry for one hospital, levels per
// year, coverage flagged under 60 %, small numbers withheld; open without login.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { importCoverage } from '../src/publish/coverage.ts';
import { fracture } from './helpers/fixtures.ts';
import { SUS_HOSPITAL, testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform();
  for (let i = 0; i < 6; i++) {
    const f = fracture({ injuryDateTime: '2024-03-01T10:00:00+01:00', firstContact: `2024-03-0${i < 5 ? 1 : 4}T12:00:00+01:00` });
    const res = await t.app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
      payload: JSON.stringify(ehrBundle(f)),
    });
    expect(res.statusCode).toBe(200);
  }
  await t.platform.analytics.refresh();
});
afterAll(async () => {
  await t?.close();
});

it('lists hospitals and refuses a unit that is not one, with a pointer to the list', async () => {
  const list = (await t.app.inject({ method: 'GET', url: '/api/public/hospitals' })).json();
  expect(list.find((h: any) => h.resh === SUS_HOSPITAL)).toMatchObject({ trust: expect.stringMatching(/Stavanger/) });
  const bad = await t.app.inject({ method: 'GET', url: '/api/public/hospitals/1' });
  expect(bad.statusCode).toBe(404);
  expect(bad.json().error).toMatch(/GET \/api\/public\/hospitals/);
});

it('shows every active indicator for the hospital with level, withholding small numbers, and flags low coverage', async () => {
  const r = await importCoverage(
    t.platform.db.pool,
    'fracture',
    'unit_resh;year;coverage\n8201100;2024;55 %\n8201100;2023;0,91\nnope;2024;1\n',
    t.platform.units,
    'test',
  );
  expect(r).toMatchObject({ loaded: 2, problems: [expect.stringMatching(/line 4: unknown unit "nope"/)] });
  const res = await t.app.inject({ method: 'GET', url: `/api/public/hospitals/${SUS_HOSPITAL}?year=2024&years=2` });
  expect(res.statusCode, res.body).toBe(200);
  const p = res.json();
  expect(p.hospital).toMatchObject({ resh: SUS_HOSPITAL });
  const active = t.platform.registries.flatMap((reg) => t.platform.indicators.list(reg.id).filter((i) => i.def.status === 'active'));
  expect(p.indicators).toHaveLength(active.length);
  const one = p.indicators.find((i: any) => i.indicator === 'nfr01_time_to_treatment');
  // 6 emergency-clinic fractures, 5 seen within the day: 5/6 = 83 % > 80 % → high.
  expect(one.result).toMatchObject({ status: 'ok', numerator: 5, denominator: 6, level: 'high' });
  expect(one.coverage).toEqual({ value: 0.55, low: true });
  // Six unstable wrist fractures of 18–64-year-olds, none operated: 0 %, low.
  expect(p.indicators.find((i: any) => i.indicator === 'nfr03_wrist_guideline').result).toMatchObject({
    status: 'ok',
    numerator: 0,
    denominator: 6,
    level: 'low',
  });
  // No operated fracture: no denominator, shown as not computable, never 0 %.
  expect(p.indicators.find((i: any) => i.indicator === 'nfr11_reoperation_closed').result).toMatchObject({
    status: 'not-computable',
    proportion: null,
  });
  const y2024 = p.levels.find((l: any) => l.year === 2024);
  expect(y2024.high).toBeGreaterThanOrEqual(1);
  expect(y2024.low).toBeGreaterThanOrEqual(1);
  expect(y2024.notComputable).toBeGreaterThanOrEqual(1);
});
