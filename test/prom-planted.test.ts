// Planted PROM truth: the demo's PROM system answers with chosen true rates (a patient asked at a
// time point answers with probability promResponse; a patient answering the region instrument at 12
// months improved with probability promImprovement), sent as QuestionnaireResponses through the
// real FHIR API after the fracture traffic. The platform must recover exactly who was asked and who
// answered (the demo works that out from prom.yaml on its own), and the planted rates within
// sampling error (four standard errors): response rates per time point and instrument, responders
// against non-responders by age group and sex, and indicator 10 with the demo's MCII and PASS.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runDemo } from '../src/cli/demo.ts';
import type { PromTruth } from '../demo/fracture/prom.ts';
import type { PromResults } from '../src/prom/results.ts';
import { osloDate } from '../src/time/oslo.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

const RATES = { promResponse: 0.55, promImprovement: 0.7 };

let t: TestPlatform;
let truth: PromTruth;
let year: string;
let results: PromResults;
let inYear: (fracture: string) => boolean;

beforeAll(async () => {
  t = await testPlatform();
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const port = (t.app.server.address() as { port: number }).port;
  const result = await runDemo(t.platform, `http://127.0.0.1:${port}`, {
    years: 1,
    scale: 0.25,
    seed: 23,
    concurrency: 6,
    rate: Object.entries(RATES).map(([k, v]) => `${k}=${v}`),
  });
  expect(result.failed).toBe(0);
  expect(Number((await t.platform.db.pool.query("SELECT count(*) FROM inbox_message WHERE status <> 'processed'")).rows[0].count)).toBe(0);
  truth = result.prom;
  year = String(new Date().getFullYear() - 1);
  // The year by the injury's Norwegian date (an injury late on 31 December UTC may fall in the next year).
  const injuryYear = new Map(result.specs.map((f) => [f.id, osloDate(f.injuryDateTime).slice(0, 4)]));
  inYear = (id) => injuryYear.get(id) === year;
  await t.platform.analytics.refresh();
  results = await t.platform.prom.results.results(t.platform.registry('fracture')!, { year, asOf: osloDate(new Date()) });
}, 600_000);
afterAll(async () => {
  await t?.close();
});

/** |observed − planted| within four standard errors of a proportion of n. */
const near = (observed: number, planted: number, n: number) => {
  expect(Math.abs(observed - planted), `observed ${observed.toFixed(4)}, planted ${planted}, n ${n}`).toBeLessThan(
    4 * Math.sqrt((planted * (1 - planted)) / n),
  );
};

it('every answer sent was kept, scored and matched to its time point', async () => {
  const q = async (sql: string) => (await t.platform.db.pool.query(sql)).rows;
  const sent = truth.asked.filter((a) => a.answered).length;
  expect(sent).toBeGreaterThan(1000);
  expect(
    (
      await q(
        "SELECT count(*)::int AS n FROM prom_response WHERE provenance->>'sender' = 'demo-eprom' AND status = 'completed' AND scores IS NOT NULL",
      )
    )[0].n,
  ).toBe(sent);
  expect(
    (await q('SELECT count(*)::int AS n FROM prom_response r WHERE NOT EXISTS (SELECT 1 FROM prom_item i WHERE i.response_id = r.id)'))[0]
      .n,
  ).toBe(0);
});

it("response rates: who was asked and who answered are exactly the demo's, and each rate is the planted one within sampling error", () => {
  const keys = [...new Set(truth.asked.map((a) => `${a.timepoint}|${a.instrument}`))];
  expect(keys.length).toBeGreaterThanOrEqual(12);
  for (const key of keys) {
    const [timepoint, instrument] = key.split('|');
    const asked = truth.asked.filter((a) => a.timepoint === timepoint && a.instrument === instrument && inYear(a.fracture));
    const row = results.responseRates.find((r) => r.timepoint === timepoint && r.instrument === instrument)!;
    if (asked.length < 5) {
      expect(row?.nation.eligible ?? null, key).toBeNull();
      continue;
    }
    const answered = asked.filter((a) => a.answered).length;
    expect(row.nation.eligible, key).toBe(asked.length);
    // Disclosure control (src/prom/small-counts.ts): responders and non-responders are shown only
    // when both reach the registry's threshold. Which time points have few answers depends on the day the
    // demo is generated (on 8 December, 12-month KOOS had 3 of at least 5 asked).
    const small = t.platform.registry('fracture')!.meta.smallCountThreshold;
    const shown = answered >= small && asked.length - answered >= small;
    expect(row.nation.responders, key).toBe(shown ? answered : null);
    if (shown && asked.length >= 100) near(row.nation.rate!, RATES.promResponse, asked.length);
  }
});

it("responders against non-responders by age group and sex add up to the demo's, at the planted rate", () => {
  for (const tp of ['baseline', 'w6', 'm12']) {
    const cases = new Map(truth.asked.filter((a) => a.timepoint === tp && inYear(a.fracture)).map((a) => [a.fracture, a]));
    const bySex = results.responders.find((r) => r.timepoint === tp && r.variable === 'sex')!;
    for (const sex of ['female', 'male']) {
      const mine = [...cases.values()].filter((a) => a.sex === sex);
      const row = bySex.rows.find((r) => r.value === sex)!;
      expect(row.eligible, `${tp} ${sex}`).toBe(mine.length);
      expect(row.responders, `${tp} ${sex}`).toBe(mine.filter((a) => a.answered).length);
      near(row.rate!, RATES.promResponse, mine.length);
    }
    const byAge = results.responders.find((r) => r.timepoint === tp && r.variable === 'age_group')!;
    const band = (age: number) => (age < 18 ? '0-17' : age < 50 ? '18-49' : age < 67 ? '50-66' : '67+');
    for (const row of byAge.rows) {
      const mine = [...cases.values()].filter((a) => band(a.age) === row.value);
      if (row.eligible !== null) expect(row.eligible, `${tp} ${row.value}`).toBe(mine.length);
      if (row.responders !== null) expect(row.responders, `${tp} ${row.value}`).toBe(mine.filter((a) => a.answered).length);
    }
  }
});

it("indicator 10 counts exactly the demo's patients and recovers the planted improvement rate, with its thresholds marked pending", async () => {
  const r = t.platform.registry('fracture')!;
  const [res] = await t.platform.indicators.results(r, {
    indicator: 'nfr10_prom_improvement',
    period: year,
    units: [t.platform.indicators.nation()],
  });
  const mine = truth.improved.filter((x) => inYear(x.fracture));
  expect(mine.length).toBeGreaterThan(100);
  expect(res.denominator).toBe(mine.length);
  expect(res.numerator).toBe(mine.filter((x) => x.improved).length);
  near(res.proportion!, RATES.promImprovement, mine.length);
  const def = await t.app.inject({ method: 'GET', url: '/api/registries/fracture/indicators/nfr10_prom_improvement' });
  expect(def.json().pendingParameters.map((p: any) => p.id)).toEqual(['prom_mcii', 'prom_pass']);
});

it('scores at each time point and their change reach the analytics table and the unit results', async () => {
  const row = (
    await t.platform.db.pool
      .query(`SELECT count(prom_m12_region_score)::int AS m12, count(prom_region_change_w6_m12)::int AS change, count(prom_baseline_eq5d_index)::int AS base,
    count(*) FILTER (WHERE prom_m12_improved)::int AS improved FROM analytics.fracture WHERE extract(year FROM injury_date) = ${Number(year)}`)
  ).rows[0];
  expect(row.m12).toBeGreaterThan(100);
  expect(row.base).toBeGreaterThan(100);
  expect(row.change).toBeGreaterThan(50);
  const prwhe = results.scores.filter((s) => s.instrument === 'prwhe' && s.score === 'total');
  expect(prwhe.map((s) => s.timepoint)).toEqual(['baseline', 'w6', 'm12']);
  // As planted: good before the injury, bad at 6 weeks, in between at 12 months (most improved).
  expect(prwhe[0].nation.mean!).toBeLessThan(prwhe[2].nation.mean!);
  expect(prwhe[2].nation.mean!).toBeLessThan(prwhe[1].nation.mean!);
  expect(prwhe[2].change!.nation.mean!).toBeGreaterThan(0);
});
