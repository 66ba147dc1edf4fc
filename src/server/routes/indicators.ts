// Indicator routes: the declarations and their text (open metadata), results as aggregates with
// small counts withheld (open, as national publishing is), FHIR Measure/MeasureReport, the national
// publishing CSV, analytics freshness, and per-case explanations (unit users, through the door).
import type { FastifyInstance } from 'fastify';
import type { Platform } from '../../platform.ts';
import type { RouteOptions } from './plugin.ts';
import { explainIndicator, periodRange } from '../../indicators/explain.ts';
import { measure, measureId, measureReport, nationalCsv } from '../../indicators/outputs.ts';
import { GRAINS, type Grain } from '../../indicators/schema.ts';
import { fhirId } from '../../fhir/ids.ts';
import { definitionLines, definitionText } from '../../indicators/text.ts';
import type { Indicator } from '../../indicators/load.ts';
import type { ResultQuery } from '../../indicators/service.ts';
import type { Registry } from '../../registry/load.ts';
import { keyFiguresOf } from '../../publish/key-figures.ts';
import { osloDate } from '../../time/oslo.ts';
import { PUBLIC, READERS } from '../access-policy.ts';
import { coverageFor, coverageIndex, withCoverage } from '../../quality/coverage-link.ts';
import { KvalregError } from '../../errors.ts';

const FHIR_JSON = 'application/fhir+json';
const LEVELS = ['nation', 'region', 'trust', 'hospital', 'department'] as const;

type Q = Record<string, string | undefined>;

export async function indicatorRoutes(app: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  const registryOf = (id: string): Registry => {
    const r = platform.registry(id);
    if (!r)
      throw new KvalregError('not-found', `Unknown registry "${id}"; known: ${platform.registries.map((x) => x.id).join(', ')}.`, {
        code: 'registry.unknown',
      });
    return r;
  };
  const indicatorOf = (r: Registry, id: string): Indicator => {
    const ind = platform.indicators.get(r.id, id);
    if (!ind)
      throw new KvalregError(
        'not-found',
        `Registry ${r.id} has no indicator "${id}"; known: ${platform.indicators
          .list(r.id)
          .map((i) => i.def.id)
          .join(', ')}.`,
        { code: 'indicator.unknown' },
      );
    return ind;
  };
  const lang = (q: Q) => (q.lang === 'en' ? 'en' : 'nb') as 'nb' | 'en';
  const describe = (r: Registry, ind: Indicator, l: 'nb' | 'en') => ({
    id: ind.def.id,
    number: ind.def.number,
    status: ind.def.status,
    title: ind.def.title[l],
    description: ind.def.description[l],
    type: ind.def.type,
    source: ind.def.source[l],
    countBy: ind.def.countBy,
    periodDate: ind.def.periodDate,
    target: ind.def.target ?? null,
    levels: ind.def.levels ?? null,
    direction: ind.def.direction,
    minimumDenominator: ind.minimumDenominator,
    disclosure: { threshold: ind.disclosure.threshold, numerator: ind.disclosure.numerator, reason: ind.def.disclosure?.reason ?? null },
    stratifiers: ind.def.stratifiers,
    grains: ind.def.grains,
    references: ind.def.references,
    definition: definitionText(ind, r, l),
    expressions: { population: ind.def.population ?? null, exclusions: ind.def.exclusions ?? null, parts: ind.parts },
    // Thresholds the registry has not set yet (parameters.yaml): the results are provisional.
    pendingParameters: ind.pendingParameters.map((p) => ({ id: p.id, title: p.title[l] })),
  });

  app.get<{ Params: { id: string }; Querystring: Q }>('/api/registries/:id/indicators', { config: { access: PUBLIC } }, async (req) => {
    const r = registryOf(req.params.id);
    return platform.indicators.list(r.id).map((ind) => describe(r, ind, lang(req.query)));
  });

  app.get<{ Params: { id: string; indicator: string }; Querystring: Q }>(
    '/api/registries/:id/indicators/:indicator',
    { config: { access: PUBLIC } },
    async (req) => {
      const r = registryOf(req.params.id);
      return describe(r, indicatorOf(r, req.params.indicator), lang(req.query));
    },
  );

  app.get<{ Params: { id: string }; Querystring: Q }>(
    '/api/registries/:id/indicator-results',
    { config: { access: PUBLIC } },
    async (req) => {
      const r = registryOf(req.params.id);
      const q = resultQuery(req.query, platform, r);
      // A unit's own registrars and readers see its results in full; everyone else what disclosure control shows.
      // Each result with its coverage indicator (src/quality/coverage-link.ts): "Lav dekningsgrad" under the low threshold.
      const low = platform.quality.has(r.id) ? platform.quality.thresholds(r).coverage.low : 0.6;
      return {
        registry: r.id,
        query: q,
        results: await withCoverage(platform.db.pool, r.id, await platform.indicators.results(r, q, { viewer: req.caller }), low),
        computed: await platform.indicators.runs(r),
      };
    },
  );

  // Statistics that are not proportions (indicators.yaml `statistics:`): definitions and results
  // per unit and period, aggregates only, with results over too few cases withheld.
  app.get<{ Params: { id: string }; Querystring: Q }>('/api/registries/:id/statistics', { config: { access: PUBLIC } }, async (req) => {
    const r = registryOf(req.params.id);
    const q = req.query,
      l = lang(q);
    const grain = q.grain ?? 'year';
    if (!(GRAINS as readonly string[]).includes(grain)) throw new KvalregError('invalid', `grain must be one of ${GRAINS.join(', ')}.`);
    if (q.level && !(LEVELS as readonly string[]).includes(q.level))
      throw new KvalregError('invalid', `level must be one of ${LEVELS.join(', ')}.`);
    const statistics = platform.indicators.statistics(r.id).map((s) => ({
      id: s.def.id,
      title: s.def.title[l],
      description: s.def.description[l],
      periodDate: s.def.periodDate,
      population: s.def.population ?? null,
      sums: s.def.sums,
      value: s.def.value,
      decimals: s.def.decimals,
      direction: s.def.direction,
      minimumCount: s.minimumCount,
      grains: s.def.grains,
      references: s.def.references,
    }));
    const results = await platform.indicators.statisticResults(r, {
      statistic: q.statistic,
      dataset: datasetOf(q.dataset ?? 'fresh'),
      grain: grain as Grain,
      period: q.period,
      units: q.unit ? q.unit.split(',') : undefined,
      level: q.level as (typeof LEVELS)[number] | undefined,
    });
    return { registry: r.id, statistics, results };
  });

  app.get<{ Params: { id: string }; Querystring: Q }>(
    '/api/registries/:id/indicator-results.csv',
    { config: { access: PUBLIC } },
    async (req, reply) => {
      const r = registryOf(req.params.id);
      const year = req.query.year ?? String(Number(osloDate(new Date().toISOString()).slice(0, 4)) - 1);
      if (!/^\d{4}$/.test(year)) throw new KvalregError('invalid', 'year must be a year like 2024.');
      const dataset = datasetOf(req.query.dataset ?? 'qa');
      const results = (
        await Promise.all(
          LEVELS.filter((l) => l !== 'nation').map((level) =>
            platform.indicators.results(r, { grain: 'year', period: year, level, dataset }),
          ),
        )
      ).flat();
      reply.header('content-disposition', `attachment; filename="${r.id}-indicators-${year}.csv"`);
      const covIndex = await coverageIndex(platform.db.pool, r.id);
      const covLow = platform.quality.has(r.id) ? platform.quality.thresholds(r).coverage.low : 0.6;
      return reply
        .type('text/csv; charset=utf-8')
        .send(
          nationalCsv(r, platform.indicators.list(r.id), results, platform.units, (resh, period) =>
            coverageFor(covIndex, resh, period, covLow),
          ),
        );
    },
  );

  app.get<{ Params: { id: string; indicator: string }; Querystring: Q }>(
    '/api/registries/:id/indicators/:indicator/explanation',
    { config: { access: READERS } },
    async (req) => {
      const r = registryOf(req.params.id);
      const ind = indicatorOf(r, req.params.indicator);
      const q = req.query;
      if (!q.unit) throw new KvalregError('invalid', 'Give unit=<RESH id> of a unit your access covers.');
      const grain = grainOf(q.grain ?? 'year', ind);
      if (!q.period) throw new KvalregError('invalid', 'Give period= (e.g. 2024, 2024-Q1 or 2024-06).');
      periodRange(grain, q.period);
      return platform.data.transaction(
        req.caller!,
        'indicator:explain',
        (tx) =>
          explainIndicator(tx, r, ind, {
            unit: q.unit!,
            grain,
            period: q.period!,
            dataset: datasetOf(q.dataset ?? 'fresh'),
            lang: lang(q),
            asOf: osloDate(new Date().toISOString()),
            limit: bounded(q.limit, 'limit', 200, 1000),
            offset: bounded(q.offset, 'offset', 0, Number.MAX_SAFE_INTEGER),
          }),
        { readOnly: true, client: req.ip },
      );
    },
  );

  // Freshness of the analytics data; the number of cases is a count like any other (key-figures.ts).
  app.get<{ Params: { id: string } }>('/api/registries/:id/analytics', { config: { access: PUBLIC } }, async (req) => {
    const r = registryOf(req.params.id);
    const [status, all] = [await platform.analytics.status(r), (await keyFiguresOf(platform).get(r)).all()];
    return { ...status, rows: all.withheld === null ? status.rows : null };
  });

  // FHIR: one Measure per indicator of every registry; summary MeasureReports on request.
  // Canonical URLs from the configured public URL (KVALREG_PUBLIC_URL), never the request's host:
  // behind a TLS proxy the request names an internal address.
  const base = (_req?: unknown) => `${platform.config.publicUrl}/fhir`;
  const allMeasures = () => platform.registries.flatMap((r) => platform.indicators.list(r.id).map((ind) => ({ r, ind })));
  app.get<{ Querystring: Q }>('/fhir/Measure', { config: { access: PUBLIC } }, async (req, reply) => {
    const entries = allMeasures().map(({ r, ind }) => measure(base(req), r, ind, definitionLines(ind, r, 'nb')));
    return reply.type(FHIR_JSON).send({
      resourceType: 'Bundle',
      type: 'searchset',
      total: entries.length,
      entry: entries.map((resource) => ({ fullUrl: `${base(req)}/Measure/${resource.id}`, resource })),
    });
  });
  app.get<{ Params: { measureId: string } }>('/fhir/Measure/:measureId', { config: { access: PUBLIC } }, async (req, reply) => {
    // An id as it was before FHIR ids ("_" became "-") still finds its Measure.
    const found = allMeasures().find(({ r, ind }) => measureId(r.id, ind) === fhirId(req.params.measureId));
    if (!found) throw new KvalregError('not-found', `No Measure "${req.params.measureId}". GET /fhir/Measure lists them.`);
    return reply.type(FHIR_JSON).send(measure(base(req), found.r, found.ind, definitionLines(found.ind, found.r, 'nb')));
  });
  // ?measure=<id or url>&period=2024&reporter=<RESH>[&grain=year][&dataset=qa]
  app.get<{ Querystring: Q }>(
    '/fhir/MeasureReport',
    {
      config: {
        access: PUBLIC,
        fhir: {
          searchParams: [
            {
              name: 'measure',
              type: 'reference',
              documentation: "Required: the Measure's id or canonical URL (GET /fhir/Measure lists them).",
            },
            { name: 'period', type: 'date', documentation: 'Required: a year (2024), or with grain=quarter or month 2024-Q1 or 2024-06.' },
            {
              name: 'reporter',
              type: 'reference',
              documentation: "The unit's RESH id (urn:oid:2.16.578.1.12.4.1.4.102|8201101 or 8201101); default the nation.",
            },
            { name: 'grain', type: 'token', documentation: 'year (default), quarter or month, as the indicator is computed.' },
            { name: 'dataset', type: 'token', documentation: 'fresh (default: everything captured) or qa (finalised registrations only).' },
          ],
        },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const id = (q.measure ?? '').split('/').pop() ?? '';
      const found = allMeasures().find(({ r, ind }) => measureId(r.id, ind) === fhirId(id));
      if (!found) throw new KvalregError('invalid', 'Give measure=<Measure id or canonical URL> (GET /fhir/Measure lists them).');
      if (!q.period) throw new KvalregError('invalid', 'Give period=<year, e.g. 2024> (or 2024-Q1 with grain=quarter).');
      const unit = (q.reporter ?? platform.indicators.nation()).split('|').pop()!;
      if (!platform.units.has(unit)) throw new KvalregError('invalid', `Unknown reporter unit "${unit}": give the RESH id of a unit.`);
      const grain = grainOf(q.grain ?? 'year', found.ind);
      periodRange(grain, q.period);
      const dataset = datasetOf(q.dataset ?? 'fresh');
      const main = (
        await platform.indicators.results(found.r, { indicator: found.ind.def.id, grain, period: q.period, units: [unit], dataset })
      )[0];
      const strata = (
        await Promise.all(
          found.ind.def.stratifiers.map((s) =>
            platform.indicators.results(found.r, {
              indicator: found.ind.def.id,
              grain,
              period: q.period,
              units: [unit],
              dataset,
              stratifier: s,
            }),
          ),
        )
      ).flat();
      const runs = await platform.indicators.runs(found.r);
      const computedAt = runs.find((x) => x.indicator === found.ind.def.id)?.computedAt ?? new Date().toISOString();
      const report = measureReport(base(req), found.r, found.ind, platform.units, main, strata, computedAt);
      return reply.type(FHIR_JSON).send({ resourceType: 'Bundle', type: 'searchset', total: 1, entry: [{ resource: report }] });
    },
  );
}

function resultQuery(q: Q, platform: Platform, r: Registry): ResultQuery {
  const out: ResultQuery = { dataset: datasetOf(q.dataset ?? 'fresh') };
  if (q.indicator) {
    if (!platform.indicators.get(r.id, q.indicator))
      throw new KvalregError('not-found', `Registry ${r.id} has no indicator "${q.indicator}".`, { code: 'indicator.unknown' });
    out.indicator = q.indicator;
  }
  if (q.grain) {
    if (!(GRAINS as readonly string[]).includes(q.grain)) throw new KvalregError('invalid', `grain must be one of ${GRAINS.join(', ')}.`);
    out.grain = q.grain as Grain;
  }
  if (q.period) {
    periodRange(out.grain ?? 'year', q.period);
    out.period = q.period;
  }
  if (q.unit) {
    const units = q.unit.split(',');
    const unknown = units.filter((u) => !platform.units.has(u));
    if (unknown.length) throw new KvalregError('invalid', `Unknown unit(s) ${unknown.join(', ')}: give RESH ids.`);
    out.units = units;
  }
  if (q.level) {
    if (!(LEVELS as readonly string[]).includes(q.level)) throw new KvalregError('invalid', `level must be one of ${LEVELS.join(', ')}.`);
    out.level = q.level as ResultQuery['level'];
  }
  if (q.stratifier) out.stratifier = q.stratifier;
  return out;
}

function grainOf(raw: string, ind: Indicator): Grain {
  if (!(ind.def.grains as string[]).includes(raw))
    throw new KvalregError('invalid', `Indicator ${ind.def.id} is computed per ${ind.def.grains.join(', ')}; "${raw}" is not one of them.`);
  return raw as Grain;
}

function datasetOf(raw: string): 'fresh' | 'qa' {
  if (raw !== 'fresh' && raw !== 'qa')
    throw new KvalregError('invalid', 'dataset must be fresh (all data) or qa (finalised registrations only).');
  return raw;
}

function bounded(raw: string | undefined, name: string, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0 || n > max) throw new KvalregError('invalid', `${name} must be a whole number from 0 to ${max}.`);
  return n;
}
