// The disclosure test, as a hostile reader would do it: load a demo year (two years, at a tenth of
// the demo's size, so that many departments have a handful of cases), crawl every public route and
// download without logging in — indicator results at every grain and stratifier, the statistics,
// the indicator tables (JSON, CSV, XLSX), the national publishing CSV, FHIR MeasureReports, every
// figure for every unit with data (JSON, its comparisons, CSV, XLSX, SVG), the key figures, the
// analytics status and the hospital profiles — collect every count they publish, and then try to
// work out each withheld count from what is published: a parent unit minus its shown children, a
// total minus its shown row or column, a year minus its shown quarters, a figure's total minus its
// shown bars, the rest of the country beside the nation, one figure's totals against another's.
//
// Asserted: no published count in 1..threshold−1 (numerators only where an indicator declares
// them shown), no withheld count derivable, and no small count derivable from what is published.
// Every public GET route must be crawled or listed here with the reason it carries no counts.
import { parse } from 'csv-parse/sync';
import ExcelJS from 'exceljs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runDemo } from '../src/cli/demo.ts';
import { caseDateSql } from '../src/analytics/case-date.ts';
import { analyticsTable } from '../src/analytics/columns.ts';
import { statisticSql } from '../src/indicators/statistics.ts';
import { compileToSqlTyped } from '../src/registry/expr-sql.ts';
import { columnTypes } from '../src/indicators/load.ts';
import { binLabelOf, whereSql, xExpression, type AnalysisDef } from '../src/reports/analyses.ts';
import type { Registry } from '../src/registry/load.ts';
import { attack, Knowledge, sumRelation, type Relation } from './helpers/disclosure-attack.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
const YEARS = 2;
let lastYear: number;

beforeAll(async () => {
  // Anonymous callers are rate limited (120 a minute); the crawler makes thousands of requests.
  t = await testPlatform({ KVALREG_ANONYMOUS_RATE_LIMIT: '0', KVALREG_PUBLIC_RATE_LIMIT: '0' });
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const port = (t.app.server.address() as { port: number }).port;
  const demo = await runDemo(t.platform, `http://127.0.0.1:${port}`, { years: YEARS, scale: 0.1, seed: 5, concurrency: 4 });
  expect(demo.failed).toBe(0);
  lastYear = new Date().getFullYear() - 1;
  await t.platform.analytics.refresh();
  for (const r of t.platform.registries) await t.platform.indicators.ensureFresh(r, { force: true });
}, 600_000);
afterAll(async () => {
  await t?.close();
});

interface UnitView {
  resh: string;
  parent: string | null;
  level: string;
  path: string[];
}

/** Public GET routes that carry no counts of cases or patients, and why. */
const NO_COUNTS: Record<string, string> = {
  '/health': 'liveness only',
  '/health/live': 'liveness only',
  '/health/ready': 'readiness: whether the database answers',
  '/fhir/metadata': 'the CapabilityStatement',
  '/api/registries': 'registry names and forms',
  '/api/public/hospitals': 'the list of hospitals',
  '/api/registries/:id/indicators': 'declarations',
  '/api/registries/:id/indicators/:indicator': 'a declaration',
  '/fhir/Measure': 'declarations as FHIR Measures',
  '/fhir/Measure/:measureId': 'a declaration as a FHIR Measure',
  '/fhir/StructureDefinition': "the platform's FHIR extensions, declared",
  '/fhir/StructureDefinition/:id': 'one FHIR extension, declared',
  '/api/units': 'the organisation hierarchy',
  '/api/public/registries/:id/metadata': 'open metadata: the variables and code lists, no counts',
  '/api/public/registries/:id/metadata/metadata.json': 'open metadata (JSON)',
  '/api/public/registries/:id/metadata/codebook.csv': 'the codebook (CSV)',
  '/api/public/registries/:id/metadata/codebook.xlsx': 'the codebook (XLSX)',
  '/api/public/registries/:id/metadata/redcap.csv': 'the codebook as a REDCap dictionary',
  '/api/public/registries/:id/metadata/dcat.ttl': 'the DCAT-AP-NO description',
  '/api/public/registries/:id/metadata/Questionnaire/:name': 'a form as a FHIR Questionnaire',
  '/api/public/registries/:id/metadata/CodeSystem/:name': 'a code list as a FHIR CodeSystem',
  '/api/public/registries/:id/metadata/ValueSet/:name': 'a code list as a FHIR ValueSet',
  '/api/registries/:id/codebook': 'the codebook',
  '/api/registries/:id/figures': 'the list of figures',
  '/api/platform/features': 'whether e-mail is set up',
  '/api/openapi.json': "the API's description: routes and schemas, no data",
  '/api/docs': 'the browsable API description (a page)',
  '/api/docs/:file': "the API page's script and style files",
  '/api/registries/:id/years': 'the years with any case in the nation: the years the key figures list already',
  '/api/years': 'the years with any case in the nation, over the registries: as the key figures list them',
  '/api/registries/:id/codelists/:list/tree': 'a code list as a tree (the codebook)',
  '/api/registries/:id/codelists/:list/pictures/:file': "the code list's pictures",
  '/api/registries/:id/codelists/:list/lookup': "a code's words and its current version (the codebook)",
  '/api/unsubscribe': 'a confirmation page',
  '/auth/login': 'login redirect',
  '/auth/callback': 'login callback',
  '/assets/*': "the web app's static files",
  '/': "the web app's page (data come from the API)",
  '/*': "the web app's page (data come from the API)",
};

it('publishes no count under the threshold and no withheld count can be derived from everything public', async () => {
  const crawled = new Set<string>();
  const know = new Knowledge();
  const truth = new Map<string, number>();
  const relations: Relation[] = [];
  const tally = new Map<string, number>();
  const count = (what: string) => tally.set(what, (tally.get(what) ?? 0) + 1);
  const get = async (route: string, url: string) => {
    crawled.add(route);
    count(route);
    const res = await t.app.inject({ method: 'GET', url });
    return res;
  };
  const json = async (route: string, url: string) => {
    const res = await get(route, url);
    expect(res.statusCode, `${url}: ${res.body.slice(0, 300)}`).toBe(200);
    return res.json();
  };

  // Every route is read; where one route is read per unit, the expensive ones (each a full
  // computation, or an image) for an even sample of the units with data, the rest for all of them.
  const sample = <T>(list: T[], n: number) =>
    list.length <= n ? list : Array.from({ length: n }, (_, i) => list[Math.floor((i * list.length) / n)]);
  const timings: string[] = [];
  let lap = Date.now();
  const timed = (what: string) => {
    timings.push(`${what} ${((Date.now() - lap) / 1000).toFixed(1)} s`);
    console.log(timings[timings.length - 1]);
    lap = Date.now();
  };
  const units: UnitView[] = await json('/api/units', '/api/units');
  const byResh = new Map(units.map((u) => [u.resh, u]));
  const children = new Map<string, string[]>();
  for (const u of units) if (u.parent) children.set(u.parent, [...(children.get(u.parent) ?? []), u.resh]);
  const nation = units.find((u) => u.level === 'nation')!.resh;
  const years = Array.from({ length: YEARS }, (_, i) => String(lastYear - YEARS + 1 + i));
  const hierarchy = (key: (unit: string) => string, why: string) => {
    for (const [parent, kids] of children) {
      const parts = kids.map(key).filter((k) => truth.has(k));
      if (parts.length || truth.has(key(parent))) relations.push(sumRelation(key(parent), parts, `${why}: ${parent} = its sub-units`));
    }
  };
  const registries: Array<{ id: string }> = await json('/api/registries', '/api/registries');
  const numeratorShown = new Set<string>();
  const countKinds = new Map<string, boolean>();

  for (const { id: reg } of registries) {
    const registry = t.platform.registry(reg)!;
    const inds: any[] = (await json('/api/registries/:id/indicators', `/api/registries/${reg}/indicators`)).filter(
      (i: any) => i.status === 'active',
    );
    for (const i of inds) if (i.disclosure?.numerator === 'show') numeratorShown.add(`${reg}|${i.id}`);
    const withData: string[] = (
      await t.platform.db.pool.query(`SELECT DISTINCT u FROM ${analyticsTable(registry)}, unnest(unit_path) u ORDER BY 1`)
    ).rows.map((r) => r.u);

    // ---- Indicator results: the truth, every published count, and the relations between them.
    const ikey = (ind: string, ds: string, grain: string, period: string, unit: string, strat: string, stratum: string) =>
      `I|${reg}|${ind}|${ds}|${grain}|${period}|${unit}|${strat}|${stratum}`;
    for (const r of (await t.platform.db.pool.query('SELECT * FROM indicator_result WHERE registry = $1', [reg])).rows) {
      const base = ikey(r.indicator, r.dataset, r.grain, r.period, r.unit_resh, r.stratifier, r.stratum);
      truth.set(`${base}|k`, r.numerator);
      truth.set(`${base}|n`, r.denominator);
    }
    const proportions: Array<{ base: string; p: number }> = [];
    const result = (r: any, ds: string, grain: string, where: string) => {
      const base = ikey(r.indicator, ds, grain, r.period, r.unit.resh, r.stratifier ?? '', r.stratum ?? '');
      know.publish(`${base}|n`, r.denominator, where);
      know.publish(`${base}|k`, r.numerator, where);
      if (r.proportion !== null && r.numerator === null) proportions.push({ base, p: r.proportion });
      // What is withheld takes its share, interval and level with it.
      if (r.numerator === null)
        expect([r.proportion, r.interval, r.level, r.targetMet, r.trend], `${base} (${where})`).toEqual([null, null, null, null, null]);
      if (r.previous?.proportion !== null && r.previous?.proportion !== undefined) {
        proportions.push({
          base: ikey(r.indicator, ds, grain, r.previous.period, r.unit.resh, r.stratifier ?? '', r.stratum ?? ''),
          p: r.previous.proportion,
        });
      }
    };
    for (const ds of ['fresh', 'qa'])
      for (const ind of inds)
        for (const grain of ind.grains) {
          for (const strat of ['', ...(grain === 'year' ? ind.stratifiers : [])]) {
            const res = await json(
              '/api/registries/:id/indicator-results',
              `/api/registries/${reg}/indicator-results?indicator=${ind.id}&grain=${grain}&dataset=${ds}${strat ? `&stratifier=${strat}` : ''}`,
            );
            for (const r of res.results) if (r.status !== 'definition-pending') result(r, ds, grain, 'indicator-results');
          }
        }
    for (const ind of inds) {
      const ds = ['fresh', 'qa'];
      const grains: string[] = ind.grains;
      for (const d of ds) {
        // Parent = Σ children, per grain, period and stratum.
        const cells = new Map<string, Set<string>>();
        for (const key of truth.keys()) {
          const [, r, i, dd, grain, period, , strat, stratum] = key.split('|');
          if (r === reg && i === ind.id && dd === d) cells.set(`${grain}|${period}|${strat}|${stratum}`, new Set());
        }
        for (const cell of cells.keys()) {
          const [grain, period, strat, stratum] = cell.split('|');
          for (const m of ['k', 'n'])
            hierarchy((u) => `${ikey(ind.id, d, grain, period, u, strat, stratum)}|${m}`, `${ind.id} ${m} ${cell}`);
        }
        // Total = Σ strata, per year, unit and stratifier.
        for (const strat of ind.stratifiers) {
          const strata = new Map<string, Set<string>>();
          for (const key of truth.keys()) {
            const [, r, i, dd, grain, period, unit, s, stratum] = key.split('|');
            if (r === reg && i === ind.id && dd === d && grain === 'year' && s === strat)
              strata.set(`${period}|${unit}`, (strata.get(`${period}|${unit}`) ?? new Set()).add(stratum));
          }
          for (const [pu, set] of strata) {
            const [period, unit] = pu.split('|');
            for (const m of ['k', 'n'])
              relations.push(
                sumRelation(
                  `${ikey(ind.id, d, 'year', period, unit, '', '')}|${m}`,
                  [...set].map((s) => `${ikey(ind.id, d, 'year', period, unit, strat, s)}|${m}`),
                  `${ind.id} ${m} strata ${strat}`,
                ),
              );
          }
        }
        // A year = Σ its quarters = Σ its months; a quarter = Σ its months; a 12-month window = Σ its
        // months, the one ending in December = the year, and two windows a month apart differ by two months.
        const months = (y: number) => Array.from({ length: 12 }, (_, k) => `${y}-${String(k + 1).padStart(2, '0')}`);
        const hasMonths = [...truth.keys()].some((k) => k.startsWith(`I|${reg}|${ind.id}|${d}|month|`));
        for (const u of withData.concat(nation))
          for (const m of ['k', 'n']) {
            const at = (grain: string, period: string) => `${ikey(ind.id, d, grain, period, u, '', '')}|${m}`;
            for (let y = Number(years[0]) - 1; y <= lastYear + 1; y++) {
              if (grains.includes('year') && grains.includes('quarter'))
                relations.push(
                  sumRelation(
                    at('year', String(y)),
                    [1, 2, 3, 4].map((q) => at('quarter', `${y}-Q${q}`)),
                    `${ind.id} ${m} year = quarters`,
                  ),
                );
              if (hasMonths) {
                relations.push(
                  sumRelation(
                    at('year', String(y)),
                    months(y).map((p) => at('month', p)),
                    `${ind.id} ${m} year = months`,
                  ),
                );
                for (let q = 1; q <= 4; q++)
                  relations.push(
                    sumRelation(
                      at('quarter', `${y}-Q${q}`),
                      months(y)
                        .slice(3 * q - 3, 3 * q)
                        .map((p) => at('month', p)),
                      `${ind.id} ${m} quarter = months`,
                    ),
                  );
              }
              if (grains.includes('rolling-12-months')) {
                relations.push(
                  sumRelation(at('rolling-12-months', `${y}-12`), [at('year', String(y))], `${ind.id} ${m} window ending December = year`),
                );
                if (hasMonths) {
                  const all = [...months(y - 1), ...months(y)];
                  for (let k = 12; k < 24; k++) {
                    relations.push(
                      sumRelation(
                        at('rolling-12-months', all[k]),
                        all.slice(k - 11, k + 1).map((p) => at('month', p)),
                        `${ind.id} ${m} window = months`,
                      ),
                    );
                    relations.push({
                      terms: [
                        { key: at('rolling-12-months', all[k]), coef: 1 },
                        { key: at('rolling-12-months', all[k - 1]), coef: -1 },
                        { key: at('month', all[k]), coef: -1 },
                        { key: at('month', all[k - 12]), coef: 1 },
                      ],
                      why: `${ind.id} ${m} window − window before = month in − month out`,
                    });
                  }
                }
              }
            }
          }
      }
    }

    // ---- Statistics that are not proportions.
    const stats = t.platform.indicators.statistics(reg);
    for (const st of stats) {
      const types = columnTypes(registry);
      const countSums = st.sums.filter(
        (s) => compileToSqlTyped(st.def.sums[s], { columns: types, alias: 'a', param: () => '$9', asOf: '$1' }).type === 'boolean',
      );
      const skey = (ds: string, grain: string, period: string, unit: string, what: string) =>
        `S|${reg}|${st.def.id}|${ds}|${grain}|${period}|${unit}|${what}`;
      const q = statisticSql(registry, st, { asOf: new Date().toISOString().slice(0, 10), nation });
      const rows = await t.platform.data.transaction(
        { kind: 'platform', task: 'test' },
        'test',
        async (tx) => (await tx.client.query(q.text, q.values)).rows,
        { readOnly: true },
      );
      const periods = new Set<string>();
      for (const r of rows) {
        periods.add(`${r.dataset}|${r.grain}|${r.period}`);
        truth.set(skey(r.dataset, r.grain, r.period, r.unit, 'n'), r.n);
        st.sums.forEach((s, i) => {
          if (countSums.includes(s)) truth.set(skey(r.dataset, r.grain, r.period, r.unit, `sum:${s}`), Number(r[`s${i}`]));
        });
      }
      for (const p of periods) {
        const [ds, grain, period] = p.split('|');
        for (const what of ['n', ...countSums.map((s) => `sum:${s}`)])
          hierarchy((u) => skey(ds, grain, period, u, what), `${st.def.id} ${what}`);
      }
      for (const ds of ['fresh', 'qa'])
        for (const grain of st.def.grains) {
          const res = await json(
            '/api/registries/:id/statistics',
            `/api/registries/${reg}/statistics?statistic=${st.def.id}&dataset=${ds}&grain=${grain}`,
          );
          for (const r of res.results) {
            know.publish(skey(ds, grain, r.period, r.unit, 'n'), r.n, 'statistics');
            for (const s of countSums) know.publish(skey(ds, grain, r.period, r.unit, `sum:${s}`), r.sums ? r.sums[s] : null, 'statistics');
          }
        }
    }

    // ---- The indicator tables (JSON, CSV, XLSX), the national CSV, MeasureReports, the figures of indicators.
    for (const year of years)
      for (const ds of ['fresh', 'qa']) {
        for (const level of ['region', 'trust', 'hospital', 'department']) {
          const q = `year=${year}&level=${level}&dataset=${ds}`;
          const tj = await json('/api/registries/:id/tables/:table', `/api/registries/${reg}/tables/indicator-results.json?${q}`);
          const asResult = (row: any) => ({
            indicator: row.indicator,
            period: year,
            unit: { resh: row.resh },
            numerator: row.numerator,
            denominator: row.denominator,
            proportion: row.proportion,
            interval: row.lower === null ? null : { lower: row.lower, upper: row.upper },
            level: row.level,
            targetMet: null,
            trend: null,
          });
          for (const row of tj.rows) result(asResult(row), ds, 'year', 'indicator-results.json');
          const csv = parse(
            (await get('/api/registries/:id/tables/:table', `/api/registries/${reg}/tables/indicator-results.csv?${q}&lang=en`)).body,
            { columns: true },
          ) as Array<Record<string, string>>;
          const num = (s: string | undefined) => (s === undefined || s === '' ? null : Number(s));
          for (const row of csv)
            result(
              asResult({
                indicator: row.Indicator,
                resh: row.RESH,
                numerator: num(row.Numerator),
                denominator: num(row.Denominator),
                proportion: num(row.Proportion),
                lower: num(row['Lower 95 %']),
                upper: num(row['Upper 95 %']),
                level: row.Achievement || null,
              }),
              ds,
              'year',
              'indicator-results.csv',
            );
          const wb = new ExcelJS.Workbook();
          await wb.xlsx.load(
            (await get('/api/registries/:id/tables/:table', `/api/registries/${reg}/tables/indicator-results.xlsx?${q}&lang=en`))
              .rawPayload as any,
          );
          const ws = wb.worksheets[0];
          let header: string[] | null = null;
          ws.eachRow((row) => {
            const v = (row.values as unknown[]).slice(1).map((x) => (x === null || x === undefined ? '' : String(x)));
            if (!header) {
              if (v.includes('RESH')) header = v;
              return;
            }
            const r = Object.fromEntries(header.map((h, i) => [h, v[i] ?? '']));
            result(
              asResult({
                indicator: r.Indicator,
                resh: r.RESH,
                numerator: num(r.Numerator),
                denominator: num(r.Denominator),
                proportion: num(r.Proportion),
                lower: num(r['Lower 95 %']),
                upper: num(r['Upper 95 %']),
                level: r.Achievement || null,
              }),
              ds,
              'year',
              'indicator-results.xlsx',
            );
          });
        }
        const national = parse(
          (
            await get(
              '/api/registries/:id/indicator-results.csv',
              `/api/registries/${reg}/indicator-results.csv?year=${year}&dataset=${ds}`,
            )
          ).body,
          { columns: true },
        ) as Array<Record<string, string>>;
        for (const row of national) {
          const ind = row.ind_id.slice(registry.meta.short.length + 1);
          result(
            {
              indicator: ind,
              period: row.year,
              unit: { resh: row.resh },
              numerator: row.var === '' ? null : Number(row.var),
              denominator: row.denominator === '' ? null : Number(row.denominator),
              proportion: null,
              interval: null,
              level: null,
              targetMet: null,
              trend: null,
            },
            ds,
            'year',
            'national csv',
          );
        }
      }
    timed(`${reg}: indicator results, statistics, tables`);
    const fewUnits = [
      nation,
      ...sample(
        withData.filter((u) => u !== nation),
        12,
      ),
    ];
    for (const ind of inds)
      for (const year of [String(lastYear)])
        for (const unit of ind === inds[0] ? withData.concat(nation) : fewUnits) {
          const res = await t.app.inject({
            method: 'GET',
            url: `/fhir/MeasureReport?measure=${reg}-${ind.id}&period=${year}&reporter=${unit}`,
          });
          crawled.add('/fhir/MeasureReport');
          count('/fhir/MeasureReport');
          expect(res.statusCode, res.body).toBe(200);
          const report = res.json().entry[0].resource;
          const pops = (g: any) => Object.fromEntries((g.population ?? []).map((p: any) => [p.code.coding[0].code, p.count]));
          const main = pops(report.group[0]);
          know.publish(`${ikey(ind.id, 'fresh', 'year', year, unit, '', '')}|k`, main.numerator ?? null, 'MeasureReport');
          know.publish(`${ikey(ind.id, 'fresh', 'year', year, unit, '', '')}|n`, main.denominator ?? null, 'MeasureReport');
          if (report.group[0].measureScore && main.numerator === undefined)
            proportions.push({ base: ikey(ind.id, 'fresh', 'year', year, unit, '', ''), p: report.group[0].measureScore.value });
          for (const s of report.group[0].stratifier ?? [])
            for (const st of s.stratum) {
              const p = pops(st);
              const base = ikey(ind.id, 'fresh', 'year', year, unit, s.code[0].text, st.value.text);
              know.publish(`${base}|k`, p.numerator ?? null, 'MeasureReport stratum');
              know.publish(`${base}|n`, p.denominator ?? null, 'MeasureReport stratum');
            }
        }
    const figures: any[] = await json('/api/registries/:id/figures', `/api/registries/${reg}/figures`);
    for (const f of figures.filter((x) => x.kind === 'indicator-units' && inds.some((i) => i.id === x.indicator))) {
      for (const year of years)
        for (const level of ['region', 'trust', 'hospital', 'department']) {
          const fig = await json(
            '/api/registries/:id/figures/:figure',
            `/api/registries/${reg}/figures/${f.id}?year=${year}&level=${level}`,
          );
          for (const row of fig.data)
            result(
              {
                indicator: f.indicator,
                period: year,
                unit: { resh: row.resh },
                numerator: row.numerator,
                denominator: row.denominator,
                proportion: row.proportion,
                interval: row.lower === null ? null : { lower: row.lower, upper: row.upper },
                level: row.level,
                targetMet: null,
                trend: null,
              },
              'fresh',
              'year',
              f.id,
            );
        }
    }
    for (const f of figures.filter((x) => x.kind === 'indicator-trend' && inds.some((i) => i.id === x.indicator))) {
      for (const unit of fewUnits) {
        const fig = await json(
          '/api/registries/:id/figures/:figure',
          `/api/registries/${reg}/figures/${f.id}?year=${lastYear}&unit=${unit}`,
        );
        for (const row of fig.data)
          result(
            {
              indicator: f.indicator,
              period: row.period,
              unit: { resh: row.resh },
              numerator: row.numerator,
              denominator: row.denominator,
              proportion: row.proportion,
              interval: row.lower === null ? null : { lower: row.lower, upper: row.upper },
              level: row.level,
              targetMet: null,
              trend: null,
            },
            'fresh',
            'year',
            f.id,
          );
      }
    }
    // The public hospital profile.
    for (const h of units.filter((u) => u.level === 'hospital' && withData.includes(u.resh))) {
      const p = await json('/api/public/hospitals/:resh', `/api/public/hospitals/${h.resh}?year=${lastYear}&years=${YEARS}`);
      for (const i of p.indicators) if (i.registry === reg && i.result) result(i.result, 'fresh', 'year', 'hospital profile');
    }

    timed(`${reg}: MeasureReports, indicator figures, hospital profiles`);
    // ---- Declared analyses: the truth per unit, the figures, their comparisons and downloads.
    const analyses = t.platform.reports.figures.analysesOf(registry);
    const types = analyses.types;
    const label = (col: string | undefined, v: string) => (col ? analyses.labels[col]?.[v]?.nb : undefined) ?? v;
    const akey = (a: AnalysisDef, ds: string, year: string, unit: string, x: string, g: string) =>
      `A|${reg}|${a.id}|${ds}|${year}|${unit}|${x}|${g}`;
    /** A unit's count of one x value over every group (its row total), or of everything with x = '*'. */
    const rowKey = (a: AnalysisDef, ds: string, year: string, unit: string, x: string) =>
      x === '*' ? akey(a, ds, year, unit, '*', '*') : akey(a, ds, year, unit, x, a.by ? '*' : '');
    const population = (await t.platform.db.pool.query('SELECT DISTINCT year, area_resh FROM population')).rows;
    /** The x and group values each analysis has at each unit (for the relations between analyses). */
    const axisValues = new Map<string, { xs: Set<string>; gs: Set<string> }>();
    for (const a of analyses.list)
      for (const year of years)
        for (const ds of ['fresh', 'qa']) {
          const incidence = typeof a.measure === 'object' && 'incidence' in a.measure;
          const params: unknown[] = [
            `${year}-01-01`,
            `${Number(year) + 1}-01-01`,
            ds,
            incidence ? population.filter((p) => String(p.year) === year).map((p) => p.area_resh) : null,
          ];
          const where = whereSql(a, types, (v) => {
            params.push(v);
            return `$${params.length}`;
          });
          const rows = (
            await t.platform.db.pool.query(
              `SELECT u AS unit, ${xExpression(a)} AS x, ${a.by ? `t."${a.by}"::text` : "''"} AS g, count(*)::int AS n FROM ${analyticsTable(registry)} t, unnest(t.unit_path) u
         WHERE t."${analyses.periodDate}" >= $1::date AND t."${analyses.periodDate}" < $2::date AND ($3 = 'fresh' OR t.finalised)
           AND ($4::text[] IS NULL OR t.unit_path && $4::text[]) AND (${where}) GROUP BY 1, 2, 3`,
              params,
            )
          ).rows;
          const cellsOf = new Map<string, Set<string>>();
          const valuesAt = (unit: string) => {
            const k = `${a.id}|${ds}|${year}|${unit}`;
            let v = axisValues.get(k);
            if (!v) axisValues.set(k, (v = { xs: new Set(), gs: new Set() }));
            return v;
          };
          for (const r of rows) {
            const missing = r.x === null || (a.by && r.g === null);
            const add = (k: string, n: number) => truth.set(k, (truth.get(k) ?? 0) + n);
            if (missing) {
              add(akey(a, ds, year, r.unit, 'MISSING', ''), r.n);
              continue;
            }
            const x = label(a.x, binLabelOf(a, r.x)),
              g = a.by ? label(a.by, r.g) : '';
            add(akey(a, ds, year, r.unit, x, g), r.n);
            if (a.by) {
              add(akey(a, ds, year, r.unit, x, '*'), r.n);
              add(akey(a, ds, year, r.unit, '*', g), r.n);
            }
            add(akey(a, ds, year, r.unit, '*', '*'), r.n);
            cellsOf.set(r.unit, (cellsOf.get(r.unit) ?? new Set()).add(`${x}|${g}`));
            valuesAt(r.unit).xs.add(x);
            if (a.by) valuesAt(r.unit).gs.add(g);
          }
          const xs = new Set<string>(),
            gs = new Set<string>();
          for (const set of cellsOf.values())
            for (const c of set) {
              const [x, g] = c.split('|');
              xs.add(x);
              gs.add(g);
            }
          const allUnits = units.map((u) => u.resh);
          for (const u of allUnits) {
            const K = (x: string, g: string) => akey(a, ds, year, u, x, g);
            if (a.by) {
              for (const x of xs)
                relations.push(
                  sumRelation(
                    K(x, '*'),
                    [...gs].map((g) => K(x, g)),
                    `${a.id} row`,
                  ),
                );
              for (const g of gs)
                relations.push(
                  sumRelation(
                    K('*', g),
                    [...xs].map((x) => K(x, g)),
                    `${a.id} column`,
                  ),
                );
              relations.push(
                sumRelation(
                  K('*', '*'),
                  [...xs].map((x) => K(x, '*')),
                  `${a.id} total = rows`,
                ),
              );
            } else
              relations.push(
                sumRelation(
                  K('*', '*'),
                  [...xs].map((x) => K(x, '')),
                  `${a.id} total`,
                ),
              );
            // The rest of the country beside the unit: the nation minus the unit (for incidence, minus its area).
            relations.push(
              ...[...xs, '*'].map((x) => ({
                terms: [
                  { key: `R|${akey(a, ds, year, u, x, '')}`, coef: 1 },
                  { key: rowKey(a, ds, year, nation, x), coef: -1 },
                  { key: rowKey(a, ds, year, u, x), coef: 1 },
                ],
                why: `${a.id} rest of the country`,
              })),
            );
          }
          for (const x of [...xs, '*'])
            for (const g of a.by ? [...gs, '*'] : [''])
              hierarchy((u) => akey(a, ds, year, u, x, x === '*' && !a.by ? '*' : g), `${a.id} ${x}/${g}`);
          hierarchy((u) => akey(a, ds, year, u, 'MISSING', ''), `${a.id} missing`);
          for (const u of allUnits)
            for (const x of [...xs, '*']) {
              const k = `R|${akey(a, ds, year, u, x, '')}`;
              truth.set(k, (truth.get(rowKey(a, ds, year, nation, x)) ?? 0) - (truth.get(rowKey(a, ds, year, u, x)) ?? 0));
            }
        }
    // Two analyses over the same cases (same `where`, no population restriction) share margins:
    // the same column along an axis gives the same counts per value, and the totals are equal.
    const plain = analyses.list.filter((a) => !(typeof a.measure === 'object' && 'incidence' in a.measure));
    for (const a of plain)
      for (const b of plain) {
        if (a.id >= b.id || (a.where ?? '') !== (b.where ?? '')) continue;
        for (const year of years)
          for (const ds of ['fresh', 'qa'])
            for (const u of units.map((x) => x.resh)) {
              const total = (z: AnalysisDef) => akey(z, ds, year, u, '*', z.by ? '*' : '*');
              relations.push(sumRelation(total(a), [total(b)], `${a.id} and ${b.id}: same total`));
              const at = axisValues.get(`${a.id}|${ds}|${year}|${u}`);
              if (!at) continue;
              const axes = (z: AnalysisDef) => [
                { col: xExpression(z), x: true, key: (v: string) => akey(z, ds, year, u, v, z.by ? '*' : '') },
                ...(z.by ? [{ col: `t."${z.by}"::text`, x: false, key: (v: string) => akey(z, ds, year, u, '*', v) }] : []),
              ];
              for (const p of axes(a))
                for (const q of axes(b))
                  if (p.col === q.col) {
                    for (const v of p.x ? at.xs : at.gs)
                      relations.push(sumRelation(p.key(v), [q.key(v)], `${a.id} and ${b.id}: same margin ${v}`));
                  }
            }
      }
    timed(`${reg}: analyses' truth and relations`);
    for (const a of analyses.list)
      for (const year of years)
        for (const unit of withData) {
          for (const ds of year === String(lastYear) ? ['fresh', 'qa'] : ['fresh']) {
            const res = await get(
              '/api/registries/:id/figures/:figure',
              `/api/registries/${reg}/figures/${a.id}?year=${year}&unit=${unit}&dataset=${ds}`,
            );
            if (res.statusCode === 422) continue; // no population figures for this unit's area
            expect(res.statusCode, res.body).toBe(200);
            const fig = res.json();
            for (const row of fig.data) {
              const x = String(row[a.x]),
                g = a.by ? String(row[a.by]) : '';
              know.publish(akey(a, ds, year, unit, x, g), row.count, `figure ${a.id}`);
            }
            const total = /I alt (\d+)/.exec(fig.spec.description);
            if (total) know.publish(akey(a, ds, year, unit, '*', '*'), Number(total[1]), `figure ${a.id} description`);
            const missing = /(\d+) registreringer mangler/.exec(fig.spec.note ?? '');
            if (missing) know.publish(akey(a, ds, year, unit, 'MISSING', ''), Number(missing[1]), `figure ${a.id} note`);
          }
          // Comparisons: the unit's row totals beside the rest of the country, its region or the nation.
          if (unit === nation || year !== String(lastYear)) continue;
          for (const compare of fewUnits.includes(unit) ? ['rest', 'region', 'nation'] : ['rest']) {
            const res = await get(
              '/api/registries/:id/figures/:figure',
              `/api/registries/${reg}/figures/${a.id}?year=${year}&unit=${unit}&compare=${compare}`,
            );
            if (res.statusCode === 422 || res.statusCode === 400) continue;
            expect(res.statusCode, res.body).toBe(200);
            const fig = res.json();
            const [own, other] = fig.spec.groups.map((g: any) => g.key);
            const region = byResh.get(unit)!.path.find((r) => byResh.get(r)?.level === 'region')!;
            const otherKey = (x: string) =>
              compare === 'rest'
                ? `R|${akey(a, 'fresh', year, unit, x, '')}`
                : rowKey(a, 'fresh', year, compare === 'nation' ? nation : region, x);
            const incidence = typeof a.measure === 'object' && 'incidence' in a.measure;
            for (const row of fig.data) {
              const x = String(row[a.x]);
              if (row.comparison === own) know.publish(rowKey(a, 'fresh', year, unit, x), row.count, `comparison ${a.id}`);
              else if (!(incidence && compare === 'rest')) know.publish(otherKey(x), row.count, `comparison ${a.id} (${compare})`);
            }
            for (const side of [own, other]) {
              const m = new RegExp(`${side.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: (\\d+)`).exec(fig.spec.description);
              if (!m) continue;
              if (side === own) know.publish(akey(a, 'fresh', year, unit, '*', '*'), Number(m[1]), `comparison ${a.id} description`);
              else if (!(incidence && compare === 'rest')) know.publish(otherKey('*'), Number(m[1]), `comparison ${a.id} description`);
            }
          }
        }
    timed(`${reg}: analyses' figures and comparisons`);
    // Downloads of the same figures: the table as CSV and XLSX, and the SVG's bar labels and description.
    for (const a of analyses.list)
      for (const unit of fewUnits) {
        const url = `/api/registries/${reg}/figures/${a.id}`;
        const csvRes = await get('/api/registries/:id/figures/:figure', `${url}.csv?year=${lastYear}&unit=${unit}`);
        if (csvRes.statusCode === 422) continue;
        const fig = await json('/api/registries/:id/figures/:figure', `${url}?year=${lastYear}&unit=${unit}`);
        const cols: string[] = fig.spec.columns.map((c: any) => c.label);
        const csv = parse(csvRes.body, { columns: true }) as Array<Record<string, string>>;
        const countCol = fig.spec.columns.find((c: any) => c.key === 'count').label;
        csv.forEach((row, i) => {
          const x = row[cols[0]],
            g = a.by ? row[cols[1]] : '';
          know.publish(
            akey(a, 'fresh', String(lastYear), unit, x, g),
            row[countCol] === '' ? null : Number(row[countCol]),
            `figure ${a.id}.csv`,
          );
          expect(x).toBe(String(fig.data[i][a.x]));
        });
        const svg = (await get('/api/registries/:id/figures/:figure', `${url}.svg?year=${lastYear}&unit=${unit}`)).body;
        const desc = /<desc id="fig-desc">([^<]*)<\/desc>/.exec(svg)![1];
        const total = /I alt (\d+)/.exec(desc);
        if (total) know.publish(akey(a, 'fresh', String(lastYear), unit, '*', '*'), Number(total[1]), `figure ${a.id}.svg`);
        if (typeof a.measure !== 'string') continue; // bar values are rates or medians, not counts
        for (const m of svg.matchAll(/<rect [^>]*><title>([^<]*): (\d+)<\/title>/g)) {
          const [x, g] = a.by ? m[1].split(', ') : [m[1], ''];
          know.publish(akey(a, 'fresh', String(lastYear), unit, x, g), Number(m[2]), `figure ${a.id}.svg`);
        }
        for (const format of unit === nation ? ['xlsx', 'png', 'pdf'] : ['xlsx'])
          expect((await get('/api/registries/:id/figures/:figure', `${url}.${format}?year=${lastYear}&unit=${unit}`)).statusCode).toBe(200);
      }

    timed(`${reg}: figure downloads`);
    // ---- Key figures (cases per year of the registry's case date) and the analytics status.
    const kkey = (year: string, unit: string) => `K|${reg}|${year}|${unit}`;
    const kfRows = (
      await t.platform.db.pool.query(
        `SELECT coalesce(extract(year FROM ${caseDateSql(registry, 't')})::int::text, 'unknown') AS year, u, count(*)::int AS n
       FROM ${analyticsTable(registry)} t, unnest(CASE WHEN cardinality(t.unit_path) = 0 THEN ARRAY[$1::text] ELSE t.unit_path END) u GROUP BY 1, 2`,
        [nation],
      )
    ).rows;
    const kfYears = new Set<string>();
    for (const r of kfRows) {
      truth.set(kkey(r.year, r.u), r.n);
      kfYears.add(r.year);
    }
    truth.set(
      kkey('all', nation),
      Number((await t.platform.db.pool.query(`SELECT count(*) FROM ${analyticsTable(registry)}`)).rows[0].count),
    );
    for (const y of kfYears) hierarchy((u) => kkey(y, u), 'key figures');
    relations.push(
      sumRelation(
        kkey('all', nation),
        [...kfYears].map((y) => kkey(y, nation)),
        'all years = Σ years',
      ),
    );
    for (const unit of withData) {
      const kf = await json('/api/registries/:id/key-figures', `/api/registries/${reg}/key-figures?unit=${unit}`);
      for (const y of kf.years) {
        know.publish(kkey(String(y.year), nation), y.nation, 'key figures');
        know.publish(kkey(String(y.year), unit), y.unit, 'key figures');
      }
    }
    const status = await json('/api/registries/:id/analytics', `/api/registries/${reg}/analytics`);
    know.publish(kkey('all', nation), status.rows, 'analytics status');

    // A share and a published denominator give the numerator.
    for (const { base, p } of proportions) {
      const n = know.published.get(`${base}|n`);
      if (n !== undefined) know.publish(`${base}|k`, Math.round(p * n), 'share × denominator');
    }
    countKinds.set(reg, true);
    timed(`${reg}: key figures`);
  }

  // PROM results and coverage against NPR count patients too. Their small counts are withheld by
  // their own modules (prom/small-counts.ts, quality/service.ts): every count they publish, at every
  // unit with data and every year, is checked here against the threshold (primary suppression; the
  // relations between them are those modules' own tests).
  const COUNT_FIELDS = new Set([
    'eligible',
    'responders',
    'nonResponders',
    'n',
    'bothNpr',
    'bothRegistry',
    'onlyNpr',
    'onlyRegistry',
    'reserved',
  ]);
  const publishCounts = (node: unknown, path: string, where: string) => {
    if (Array.isArray(node)) {
      node.forEach((v, i) => publishCounts(v, `${path}[${i}]`, where));
      return;
    }
    if (!node || typeof node !== 'object') return;
    for (const [k, v] of Object.entries(node)) {
      if (COUNT_FIELDS.has(k) && (v === null || Number.isInteger(v))) {
        // No independent truth is computed for these: what is shown is taken as true, and checked against the threshold.
        if (v !== null) truth.set(`X|${path}.${k}`, v as number);
        know.publish(`X|${path}.${k}`, v as number | null, where);
      } else publishCounts(v, `${path}.${k}`, where);
    }
  };
  for (const { id: reg } of registries) {
    const registry = t.platform.registry(reg)!;
    const withData: string[] = (
      await t.platform.db.pool.query(`SELECT DISTINCT u FROM ${analyticsTable(registry)}, unnest(unit_path) u ORDER BY 1`)
    ).rows.map((r) => r.u);
    for (const unit of withData) {
      for (const year of years) {
        const pr = await json('/api/registries/:id/prom/results', `/api/registries/${reg}/prom/results?year=${year}&unit=${unit}`);
        publishCounts(pr, `prom|${reg}|${year}|${unit}`, 'PROM results');
      }
      const cov = await json('/api/public/registries/:id/coverage', `/api/public/registries/${reg}/coverage?unit=${unit}`);
      publishCounts(cov.rows, `coverage|${reg}|${unit}`, 'coverage against NPR');
    }
  }
  timed('PROM results and coverage');

  // Every public GET route was crawled, or carries no counts.
  const publicGets = t.app.routeTable.filter((r) => r.method === 'GET' && 'public' in r.access).map((r) => r.url);
  const missed = publicGets.filter((u) => !crawled.has(u) && !(u in NO_COUNTS));
  expect(missed, 'public routes the crawler does not read').toEqual([]);

  const threshold = Math.min(...t.platform.registries.map((r) => r.meta.smallCountThreshold));
  const isCount = (key: string) => {
    const s = key.split('|');
    return !(s[0] === 'I' && s[9] === 'k' && numeratorShown.has(`${s[1]}|${s[2]}`));
  };
  const positive = (key: string) => !(key.startsWith('I|') && key.endsWith('|k')) && !key.includes('|sum:');
  const res = attack(know, truth, relations, { threshold, isCount, positive });
  // A withheld 12-month window may follow from shown quarters or years (a 12-month sum, saying
  // nothing beyond them; architecture.md): not counted here, but any small count derived is.
  const derivedWithheld = res.derived.filter((d) => d.withheld && d.value !== 0 && !d.key.includes('|rolling-12-months|'));
  const derivedSmall = res.derived.filter((d) => Math.abs(d.value) >= 1 && Math.abs(d.value) < threshold && isCount(d.key));
  const withheldCells = [...know.withheld].filter((k) => (truth.get(k) ?? 0) > 0 && !know.published.has(k)).length;
  timed('attack');
  console.log(
    [
      `time: ${timings.join(', ')}`,
      `crawled ${[...tally.values()].reduce((s, n) => s + n, 0)} responses (${[...tally].map(([k, n]) => `${k} ×${n}`).join(', ')})`,
      `${know.published.size} published counts, ${withheldCells} withheld counts, ${res.relations} relations, ${res.unknownAtStart} counts not published at the start`,
      `published counts in 1..${threshold - 1}: ${res.small.length}`,
      `withheld counts derived: ${derivedWithheld.length}; small counts derived: ${derivedSmall.length}; conflicts: ${know.conflicts.length}; published ≠ true count: ${res.mismatched.length}`,
      ...res.mismatched.slice(0, 5).map((m) => `  mismatch: ${m.key} published ${m.published}, true ${m.truth} (${m.where})`),
      ...histogram([...res.small.map((x) => ({ key: x.key, how: x.where })), ...derivedWithheld, ...derivedSmall]).map(
        (line) => `  ${line}`,
      ),
      ...res.small.slice(0, 8).map((s) => `  small: ${s.key} = ${s.value} (${s.where})`),
      ...[...derivedWithheld, ...derivedSmall]
        .slice(0, 12)
        .map((d) => `  derived: ${d.key} = ${d.value} from ${d.how}\n      ${d.terms.join('\n      ')}`),
      ...know.conflicts.slice(0, 5).map((c) => `  conflict: ${c}`),
    ].join('\n'),
  );
  expect(know.conflicts).toEqual([]);
  expect(res.mismatched).toEqual([]);
  expect(res.small.map((s) => `${s.key} = ${s.value} (${s.where})`)).toEqual([]);
  expect(derivedWithheld.map((d) => `${d.key} = ${d.value} (${d.how})`)).toEqual([]);
  expect(derivedSmall.map((d) => `${d.key} = ${d.value} (${d.how})`)).toEqual([]);
}, 1_200_000);

/** Findings grouped by what they are (table, grain or figure) and how they were found, most frequent first. */
function histogram(found: Array<{ key: string; how: string }>): string[] {
  const kind = (key: string) => {
    const p = key.split('|');
    return p[0] === 'R' ? `R ${p[3]}` : p[0] === 'I' ? `I ${p[2]} ${p[4]} ${p[7] ? 'stratum' : ''} ${p[9]}` : `${p[0]} ${p[2]}`;
  };
  const how = (h: string) =>
    h
      .replace(/\d{4}(-\S+)?/g, '…')
      .replace(/: \S+ = its sub-units/, ': parent = sub-units')
      .replace(/margin \S+$/, 'margin');
  const n = new Map<string, number>();
  for (const f of found) {
    const k = `${kind(f.key)} ← ${how(f.how)}`;
    n.set(k, (n.get(k) ?? 0) + 1);
  }
  return [...n]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 20)
    .map(([k, v]) => `${v} × ${k}`);
}
