// Planted truth: demo traffic generated with chosen true rates goes through the real FHIR API, the
// capture pipeline and the analytics refresh; the indicator engine recovers the planted rates
// within sampling error (four standard errors, so the test fails for a wrong engine, not by chance).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runDemo } from '../src/cli/demo.ts';
import type { FractureSpec } from '../registries/fracture/bundles.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

const RATES = {
  emergencyWithin24h: 0.97,
  surgeryWithin24h: 0.97,
  surgeryWithin10Days: 0.9,
  unplannedReopClosed: 0.04,
  failedConservative: 0.02,
  osteoporosisOffered: 0.6,
  missingIntent: 0,
};

let t: TestPlatform;
let specs: FractureSpec[];
let year: string;
beforeAll(async () => {
  t = await testPlatform();
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const port = (t.app.server.address() as { port: number }).port;
  // The analytics refresher runs throughout, as in the server: capture and refresh must not block
  // or deadlock each other (no message may end in quarantine for it).
  t.platform.analytics.start(50);
  // (PROM answers, and their planted rates, are test/prom-planted.test.ts's.)
  const result = await runDemo(t.platform, `http://127.0.0.1:${port}`, {
    years: 1,
    scale: 0.4,
    seed: 11,
    concurrency: 6,
    rate: Object.entries(RATES).map(([k, v]) => `${k}=${v}`),
    prom: false,
  });
  await t.platform.analytics.stop();
  expect(result.failed).toBe(0);
  expect(Number((await t.platform.db.pool.query("SELECT count(*) FROM inbox_message WHERE status <> 'processed'")).rows[0].count)).toBe(0);
  // Hip fractures (AO 31) belong to another registry and are not counted here.
  const list = t.platform.registry('fracture')!.codelists.get('ao_ota_2018')!;
  const included = result.specs.filter((f) => list.properties.get(f.aoCode.split('.')[0])?.segment !== '31');
  year = included[0].injuryDateTime.slice(0, 4);
  // The year's fractures by Norwegian time (an injury late on 31 December UTC may fall in the next year).
  specs = included.filter((f) => f.injuryDateTime.startsWith(year));
  await t.platform.analytics.refresh();
}, 300_000);
afterAll(async () => {
  await t?.close();
});

const national = async (indicator: string) => {
  const r = t.platform.registry('fracture')!;
  const [res] = await t.platform.indicators.results(r, { indicator, period: year, units: [t.platform.indicators.nation()] });
  return res;
};
/** |observed − expected| within four standard errors of a proportion of n. */
const near = (observed: number, expected: number, n: number, variance = (expected * (1 - expected)) / n) => {
  expect(Math.abs(observed - expected), `observed ${observed.toFixed(4)}, planted ${expected.toFixed(4)}, n ${n}`).toBeLessThan(
    4 * Math.sqrt(variance) + 1e-9,
  );
};

it('every generated fracture was captured and counted', async () => {
  expect(
    Number(
      (await t.platform.db.pool.query(`SELECT count(*) FROM analytics.fracture WHERE extract(year FROM injury_date) = ${Number(year)}`))
        .rows[0].count,
    ),
  ).toBe(specs.length);
});

it('1: time to treatment recovers the planted 97 % in both of its terms', async () => {
  const primary = (f: FractureSpec) => !!f.surgery && !f.failedConservative;
  const emergency = specs.filter((f) => f.setting === 'EMER');
  const operated = specs.filter((f) => !!f.surgery);
  const seenLate = emergency.filter((f) => !primary(f)).length; // by chance: emergencyWithin24h
  const seenBeforeSurgery = emergency.filter(primary).length; // always within the day
  const firstChoice = operated.filter(primary).length; // by chance: surgeryWithin24h
  const n = emergency.length + operated.length;
  const expected = (RATES.emergencyWithin24h * seenLate + seenBeforeSurgery + RATES.surgeryWithin24h * firstChoice) / n;
  const variance =
    (RATES.emergencyWithin24h * (1 - RATES.emergencyWithin24h) * seenLate +
      RATES.surgeryWithin24h * (1 - RATES.surgeryWithin24h) * firstChoice) /
    n /
    n;
  const r = await national('nfr01_time_to_treatment');
  expect(r.denominator).toBe(n);
  near(r.proportion!, expected, n, variance);
  expect(expected).toBeGreaterThan(0.96);
});

it('2: surgery within 10 days', async () => {
  const r = await national('nfr02_time_to_surgery');
  near(r.proportion!, RATES.surgeryWithin24h + (1 - RATES.surgeryWithin24h) * RATES.surgeryWithin10Days, r.denominator!);
});

it('11: unplanned reoperations of closed fractures at the planted 4 %', async () => {
  const r = await national('nfr11_reoperation_closed');
  expect(r.denominator).toBe(specs.filter((f) => f.surgery && !f.open).length);
  near(r.proportion!, RATES.unplannedReopClosed, r.denominator!);
});

it('12: failed conservative treatment at the planted 2 %', async () => {
  const r = await national('nfr12_failed_conservative');
  near(r.proportion!, RATES.failedConservative, r.denominator!);
});

it('13: osteoporosis assessment offered at the planted 60 %', async () => {
  const r = await national('nfr13_osteoporosis_assessment');
  near(r.proportion!, RATES.osteoporosisOffered, r.denominator!);
});
