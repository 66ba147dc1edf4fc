// Report routes: figures as spec + data (JSON, for the web app to draw) and rendered (SVG, PNG,
// PDF), their tables (CSV, XLSX), indicator results as tables, the annual report and unit reports
// as PDF, report subscriptions (a user's own) and dispatches (registry admins), and unsubscribing
// by the signed link in each e-mail (no login).
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { looseQuery, noBody, looseBody } from '../schemas.ts';
import { callerLabel, type Caller } from '../../access/caller.ts';
import { AccessDenied } from '../../access/door.ts';
import type { RouteOptions } from './plugin.ts';
import { renderSvg, svgToPdf, svgToPng, type Lang } from '../../reports/charts.ts';
import {
  cell,
  RESULT_COLUMNS,
  resultRow,
  tableCsv,
  withoutPendingDuplicates,
  tableXlsx,
  UNIT_LEVELS,
  workbook,
  type FigureQuery,
  type UnitLevel,
} from '../../reports/figures.ts';
import { COMPARISONS, type Comparison } from '../../reports/comparison.ts';
import type { Registry } from '../../registry/load.ts';
import { osloDate } from '../../time/oslo.ts';
import { ADMINS, PUBLIC, READERS } from '../access-policy.ts';
import { stringify } from 'csv-stringify/sync';
import { KvalregError } from '../../errors.ts';

type Q = Record<string, string | undefined>;
const FORMATS = ['json', 'svg', 'png', 'pdf', 'csv', 'xlsx'] as const;
type Format = (typeof FORMATS)[number];
const TYPES: Record<Format, string> = {
  json: 'application/json; charset=utf-8',
  svg: 'image/svg+xml; charset=utf-8',
  png: 'image/png',
  pdf: 'application/pdf',
  csv: 'text/csv; charset=utf-8',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
};

/** "units-x.png" → ["units-x", "png"]; no known extension → JSON. */
function splitFormat(name: string, allowed: readonly Format[] = FORMATS): [string, Format] {
  const m = /^(.*)\.([a-z]+)$/.exec(name);
  if (m && (allowed as readonly string[]).includes(m[2])) return [m[1], m[2] as Format];
  if (m && (FORMATS as readonly string[]).includes(m[2]))
    throw new KvalregError('invalid', `.${m[2]} is not offered here; use one of ${allowed.map((f) => `.${f}`).join(', ')}.`);
  return [name, 'json'];
}

function isRegistryAdmin(c: Caller, registry: string): boolean {
  return (
    c.kind === 'user' &&
    c.grants.some((g) => (g.registry === registry || g.registry === '*') && (g.role === 'registry-admin' || g.role === 'platform-admin'))
  );
}

export async function reportRoutes(app: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  const registryOf = (id: string): Registry => {
    const r = platform.registry(id);
    if (!r) throw new KvalregError('not-found', `Unknown registry "${id}"; known: ${platform.registries.map((x) => x.id).join(', ')}.`);
    return r;
  };
  const lastYear = () => String(Number(osloDate(new Date().toISOString()).slice(0, 4)) - 1);
  const figureQuery = (q: Q): FigureQuery => {
    const year = q.year ?? lastYear();
    if (!/^\d{4}$/.test(year)) throw new KvalregError('invalid', 'year must be a year like 2024.');
    if (q.unit !== undefined && !platform.units.has(q.unit))
      throw new KvalregError('invalid', `Unknown unit "${q.unit}": give the RESH id of a unit.`);
    if (q.level !== undefined && !(UNIT_LEVELS as string[]).includes(q.level))
      throw new KvalregError('invalid', `level must be one of ${UNIT_LEVELS.join(', ')}.`);
    if (q.grain !== undefined && q.grain !== 'year' && q.grain !== 'quarter')
      throw new KvalregError('invalid', 'grain must be year or quarter.');
    if (q.dataset !== undefined && q.dataset !== 'fresh' && q.dataset !== 'qa')
      throw new KvalregError('invalid', 'dataset must be fresh or qa.');
    if (q.compare !== undefined && !(COMPARISONS as readonly string[]).includes(q.compare))
      throw new KvalregError(
        'invalid',
        `compare must be one of ${COMPARISONS.join(', ')} (the unit beside the rest of the country, its region, or the nation).`,
      );
    return {
      year,
      unit: q.unit,
      level: q.level as UnitLevel | undefined,
      grain: q.grain as 'year' | 'quarter' | undefined,
      dataset: (q.dataset ?? 'fresh') as 'fresh' | 'qa',
      lang: (q.lang === 'en' ? 'en' : 'nb') as Lang,
      compare: q.compare as Comparison | undefined,
    };
  };
  const attachment = (reply: FastifyReply, name: string, format: Format) => {
    if (format !== 'json' && format !== 'svg') reply.header('content-disposition', `attachment; filename="${name}.${format}"`);
    return reply.type(TYPES[format]);
  };

  // Figures: every declared analysis, and two per indicator.
  app.get<{ Params: { id: string }; Querystring: Q }>(
    '/api/registries/:id/figures',
    { config: { access: PUBLIC }, schema: { params: z.object({ id: z.string() }), querystring: looseQuery({ lang: '' }) } },
    async (req) => {
      const r = registryOf(req.params.id);
      return platform.reports.figures.list(r, req.query.lang === 'en' ? 'en' : 'nb');
    },
  );

  // ?year=&unit=&level=&grain=&dataset=&lang=; .svg, .png, .pdf, .csv, .xlsx, or JSON {spec, data}.
  app.get<{ Params: { id: string; figure: string }; Querystring: Q }>(
    '/api/registries/:id/figures/:figure',
    {
      config: { access: PUBLIC },
      schema: { params: z.object({ id: z.string(), figure: z.string() }), querystring: looseQuery({ compare: '', unit: '', year: '' }) },
    },
    async (req, reply) => {
      const r = registryOf(req.params.id);
      const [id, format] = splitFormat(req.params.figure);
      const q = figureQuery(req.query);
      const fig = await platform.reports.figures.figure(r, id, q);
      const name = `${r.id}-${id}-${q.year}${q.unit ? `-${q.unit}` : ''}${q.compare ? `-vs-${q.compare}` : ''}`;
      attachment(reply, name, format);
      switch (format) {
        case 'json':
          return fig;
        case 'svg':
          return renderSvg(fig);
        case 'png':
          return svgToPng(renderSvg(fig));
        case 'pdf':
          return svgToPdf(fig);
        case 'csv':
          return tableCsv(fig);
        case 'xlsx':
          return tableXlsx(fig);
      }
    },
  );

  // Indicator results as a table: every indicator, the nation and every unit at a level, for a year.
  app.get<{ Params: { id: string; table: string }; Querystring: Q }>(
    '/api/registries/:id/tables/:table',
    {
      config: { access: PUBLIC },
      schema: {
        params: z.object({ id: z.string(), table: z.string() }),
        querystring: looseQuery({ dataset: '', lang: '', level: '', year: '' }),
      },
    },
    async (req, reply) => {
      const r = registryOf(req.params.id);
      const [name, format] = splitFormat(req.params.table, ['csv', 'xlsx', 'json']);
      if (name !== 'indicator-results')
        throw new KvalregError('not-found', `No table "${name}"; offered: indicator-results.csv, indicator-results.xlsx.`);
      const q = figureQuery(req.query);
      const level = q.level ?? 'hospital';
      const nation = platform.indicators.nation();
      const results = withoutPendingDuplicates([
        ...(await platform.indicators.results(r, { grain: 'year', period: q.year, units: [nation], dataset: q.dataset })),
        ...(level === 'nation'
          ? []
          : (await platform.indicators.results(r, { grain: 'year', period: q.year, level, dataset: q.dataset })).filter(
              (x) => x.status !== 'not-computable',
            )),
      ]);
      const inds = platform.indicators.list(r.id);
      const cols = [
        { key: 'indicator', label: q.lang === 'nb' ? 'Indikator' : 'Indicator', format: 'text' as const },
        { key: 'title', label: q.lang === 'nb' ? 'Tittel' : 'Title', format: 'text' as const },
        { key: 'year', label: q.lang === 'nb' ? 'År' : 'Year', format: 'text' as const },
        ...RESULT_COLUMNS(q.lang),
      ];
      const rows = results.map((x) => ({
        indicator: x.indicator,
        title: inds.find((i) => i.def.id === x.indicator)?.def.title[q.lang] ?? x.indicator,
        year: q.year,
        ...resultRow(x, platform.units, q.lang),
      }));
      attachment(reply, `${r.id}-indicator-results-${q.year}`, format);
      if (format === 'json') return { columns: cols, rows };
      if (format === 'csv')
        return stringify([
          cols.map((c) => c.label),
          ...rows.map((row) => cols.map((c) => cell((row as Record<string, unknown>)[c.key], c))),
        ]);
      return workbook([
        {
          name: q.lang === 'nb' ? 'Indikatorresultater' : 'Indicator results',
          title: `${r.meta.title[q.lang]} – ${q.year}`,
          note: q.lang === 'nb' ? 'Resultater med for liten nevner vises ikke.' : 'Results with too small a denominator are not shown.',
          columns: cols,
          rows,
        },
      ]);
    },
  );

  // The annual report (registry admins of this registry): .pdf
  app.get<{ Params: { id: string; year: string }; Querystring: Q }>(
    '/api/registries/:id/reports/annual/:year',
    {
      config: { access: ADMINS },
      schema: { params: z.object({ id: z.string(), year: z.string() }), querystring: looseQuery({ dataset: '' }) },
    },
    async (req, reply) => {
      const r = registryOf(req.params.id);
      if (!isRegistryAdmin(req.caller!, r.id))
        throw new AccessDenied(`The annual report of ${r.id} needs an admin role for that registry.`);
      const [year, format] = splitFormat(req.params.year, ['pdf']);
      if (format !== 'pdf' || !/^\d{4}$/.test(year))
        throw new KvalregError('invalid', 'Ask for /reports/annual/<year>.pdf, e.g. 2024.pdf.');
      const dataset = req.query.dataset === 'qa' ? 'qa' : 'fresh';
      const pdf = await platform.reports.annual(r, year, { dataset });
      attachment(reply, `${r.id}-arsrapport-${year}`, 'pdf');
      return pdf;
    },
  );

  // A unit's report (what a subscription sends), on demand: .pdf
  app.get<{ Params: { id: string; unit: string }; Querystring: Q }>(
    '/api/registries/:id/reports/unit/:unit',
    {
      config: { access: READERS },
      schema: { params: z.object({ id: z.string(), unit: z.string() }), querystring: looseQuery({ lang: '', year: '' }) },
    },
    async (req, reply) => {
      const r = registryOf(req.params.id);
      const [unit, format] = splitFormat(req.params.unit, ['pdf']);
      if (format !== 'pdf') throw new KvalregError('invalid', 'Ask for /reports/unit/<RESH>.pdf.');
      const q = figureQuery({ ...req.query, unit });
      const pdf = await platform.reports.unit(r, unit, q.year, q.lang);
      attachment(reply, `${r.id}-unit-${unit}-${q.year}`, 'pdf');
      return pdf;
    },
  );

  // Subscriptions: the caller's own. Body: {report: unit|indicator, unit, indicator?, frequency, email, lang?, expires?}
  app.post<{ Params: { id: string }; Body: Record<string, unknown> | undefined }>(
    '/api/registries/:id/subscriptions',
    {
      config: { access: READERS },
      schema: {
        params: z.object({ id: z.string() }),
        querystring: looseQuery({}),
        body: looseBody(['email', 'expires', 'frequency', 'indicator', 'lang', 'report', 'unit']).optional(),
      },
    },
    async (req, reply) => {
      const r = registryOf(req.params.id);
      const b = req.body ?? {};
      const c = req.caller!;
      const sub = await platform.reports.dispatch.create({
        registry: r.id,
        report: b.report,
        unit: b.unit,
        indicator: b.indicator,
        frequency: b.frequency,
        lang: b.lang,
        recipients: b.email === undefined ? [] : [b.email],
        owner: callerLabel(c),
        createdBy: callerLabel(c),
        expires: b.expires,
      });
      return reply.code(201).send(sub);
    },
  );
  app.get('/api/subscriptions', { config: { access: READERS }, schema: { querystring: looseQuery({}) } }, async (req) =>
    platform.reports.dispatch.list({ owner: callerLabel(req.caller!) }),
  );
  app.delete<{ Params: { subscriptionId: string } }>(
    '/api/subscriptions/:subscriptionId',
    { config: { access: READERS }, schema: { params: z.object({ subscriptionId: z.string() }), querystring: looseQuery({}) } },
    async (req, reply) => {
      await platform.reports.dispatch.remove(positiveId(req.params.subscriptionId), { owner: callerLabel(req.caller!) });
      return reply.code(204).send();
    },
  );

  app.get<{ Params: { subscriptionId: string } }>(
    '/api/subscriptions/:subscriptionId/deliveries',
    { config: { access: READERS }, schema: { params: z.object({ subscriptionId: z.string() }), querystring: looseQuery({}) } },
    async (req) => {
      return platform.reports.dispatch.deliveries(positiveId(req.params.subscriptionId), { owner: callerLabel(req.caller!) });
    },
  );

  // Send now, outside the schedule: the report goes out at once and is logged like a scheduled one.
  app.post<{ Params: { subscriptionId: string } }>(
    '/api/subscriptions/:subscriptionId/send',
    {
      config: { access: READERS },
      schema: { params: z.object({ subscriptionId: z.string() }), querystring: looseQuery({}), body: noBody },
    },
    async (req, reply) => {
      const res = await platform.reports.dispatch.sendNow(positiveId(req.params.subscriptionId), { owner: callerLabel(req.caller!) });
      return reply.code(202).send(res);
    },
  );

  // Dispatches: a registry admin sends a unit's reports to a mailing list. Body: {report, unit, indicator?, frequency, recipients: [...], lang?, expires?}
  const requireAdmin = (c: Caller, r: Registry) => {
    if (!isRegistryAdmin(c, r.id)) throw new AccessDenied(`Dispatches of ${r.id} need an admin role for that registry.`);
  };
  app.post<{ Params: { id: string }; Body: Record<string, unknown> | undefined }>(
    '/api/registries/:id/dispatches',
    {
      config: { access: ADMINS },
      schema: {
        params: z.object({ id: z.string() }),
        querystring: looseQuery({}),
        body: looseBody(['expires', 'frequency', 'indicator', 'lang', 'recipients', 'report', 'unit']).optional(),
      },
    },
    async (req, reply) => {
      const r = registryOf(req.params.id);
      requireAdmin(req.caller!, r);
      const b = req.body ?? {};
      const sub = await platform.reports.dispatch.create({
        registry: r.id,
        report: b.report,
        unit: b.unit,
        indicator: b.indicator,
        frequency: b.frequency,
        lang: b.lang,
        recipients: b.recipients,
        owner: null,
        createdBy: callerLabel(req.caller!),
        expires: b.expires,
      });
      return reply.code(201).send(sub);
    },
  );
  app.get<{ Params: { id: string } }>(
    '/api/registries/:id/dispatches',
    { config: { access: ADMINS }, schema: { params: z.object({ id: z.string() }), querystring: looseQuery({}) } },
    async (req) => {
      const r = registryOf(req.params.id);
      requireAdmin(req.caller!, r);
      return platform.reports.dispatch.list({ registry: r.id, dispatches: true });
    },
  );
  app.get<{ Params: { id: string; subscriptionId: string } }>(
    '/api/registries/:id/dispatches/:subscriptionId/deliveries',
    {
      config: { access: ADMINS },
      schema: { params: z.object({ id: z.string(), subscriptionId: z.string() }), querystring: looseQuery({}) },
    },
    async (req) => {
      const r = registryOf(req.params.id);
      requireAdmin(req.caller!, r);
      return platform.reports.dispatch.deliveries(positiveId(req.params.subscriptionId), { registry: r.id, dispatches: true });
    },
  );
  app.post<{ Params: { id: string; subscriptionId: string } }>(
    '/api/registries/:id/dispatches/:subscriptionId/send',
    {
      config: { access: ADMINS },
      schema: { params: z.object({ id: z.string(), subscriptionId: z.string() }), querystring: looseQuery({}), body: noBody },
    },
    async (req, reply) => {
      const r = registryOf(req.params.id);
      requireAdmin(req.caller!, r);
      const res = await platform.reports.dispatch.sendNow(positiveId(req.params.subscriptionId), { registry: r.id, dispatches: true });
      return reply.code(202).send(res);
    },
  );
  app.delete<{ Params: { id: string; subscriptionId: string } }>(
    '/api/registries/:id/dispatches/:subscriptionId',
    {
      config: { access: ADMINS },
      schema: { params: z.object({ id: z.string(), subscriptionId: z.string() }), querystring: looseQuery({ token: '' }) },
    },
    async (req, reply) => {
      const r = registryOf(req.params.id);
      requireAdmin(req.caller!, r);
      await platform.reports.dispatch.remove(positiveId(req.params.subscriptionId), { registry: r.id, dispatches: true });
      return reply.code(204).send();
    },
  );

  // Unsubscribing by the link in the e-mail, without login. GET shows a confirmation (mail scanners
  // follow links); POST (the button, or RFC 8058 one-click from the mail program) unsubscribes.
  app.register(async (child) => {
    child.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    const unsubscribeQuery = z.object({ token: z.string().optional().describe('The token from the e-mail’s link.') });
    child.get<{ Querystring: Q }>(
      '/api/unsubscribe',
      { config: { access: PUBLIC }, schema: { summary: 'The page that confirms unsubscribing (HTML)', querystring: unsubscribeQuery } },
      async (req, reply) => {
        const token = req.query.token ?? '';
        return reply.type('text/html; charset=utf-8')
          .send(`<!doctype html><html lang="nb"><head><meta charset="utf-8"><title>Avslutt abonnement</title></head><body>
<h1>Avslutt abonnement på rapporten</h1><p>Trykk på knappen for å slutte å få denne rapporten på e-post.</p>
<form method="post" action="/api/unsubscribe?token=${encodeURIComponent(token)}"><button type="submit">Avslutt abonnementet</button></form></body></html>`);
      },
    );
    child.post<{ Querystring: Q; Body: unknown }>(
      '/api/unsubscribe',
      {
        config: { access: PUBLIC },
        schema: {
          summary: 'Unsubscribe from a report (the button, or RFC 8058 one-click)',
          consumes: ['application/x-www-form-urlencoded', 'application/json'],
          querystring: unsubscribeQuery,
          body: z.union([z.string(), z.looseObject({ token: z.string().optional() })]).nullish(),
        },
      },
      async (req, reply) => {
        const body = req.body && typeof req.body === 'object' ? (req.body as Record<string, unknown>) : {};
        const token = req.query.token ?? (typeof body.token === 'string' ? body.token : '');
        const res = await platform.reports.dispatch.unsubscribe(token);
        if (String(req.headers.accept ?? '').includes('text/html')) {
          return reply
            .type('text/html; charset=utf-8')
            .send(
              '<!doctype html><html lang="nb"><head><meta charset="utf-8"><title>Abonnementet er avsluttet</title></head><body><h1>Abonnementet er avsluttet</h1><p>Du får ikke flere slike rapporter.</p></body></html>',
            );
        }
        return { unsubscribed: true, ...res };
      },
    );
  });
}

function positiveId(raw: string): number {
  const id = Number(raw);
  if (!Number.isSafeInteger(id) || id <= 0)
    throw new KvalregError('invalid', `"${raw}" is not a subscription id: ids are positive whole numbers.`);
  return id;
}
