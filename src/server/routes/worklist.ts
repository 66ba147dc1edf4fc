// The registrar's worklist with its tools: search, filter (form, missing variable, case date),
// sort and page; export as CSV or XLSX (audited as an export); the complete registrations not yet
// finalised, for a reviewed bulk finalise; and how much of a year is finalised (what the
// quality-assured annual report rests on).
import { stringify } from 'csv-stringify/sync';
import type { FastifyInstance } from 'fastify';
import type { Caller } from '../../access/caller.ts';
import { analyticsTable } from '../../analytics/columns.ts';
import { caseDateSql } from '../../analytics/case-date.ts';
import type { RouteOptions } from './plugin.ts';
import { bulkFinalise, BULK_MAX, finalisedShare } from '../../records/bulk-finalise.ts';
import { SORTS, worklistQuery, type Sort, type WorklistQuery, type WorklistRow } from '../../records/worklist-query.ts';
import type { Registry } from '../../registry/load.ts';
import type { Column, Row } from '../../reports/charts.ts';
import { workbook } from '../../reports/figures.ts';
import { READERS, WRITERS } from '../access-policy.ts';
import { KvalregError } from '../../errors.ts';

type Q = Record<string, string | undefined>;

export async function worklistRoutes(app: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  const registryOf = (id: string): Registry => {
    const r = platform.registry(id);
    if (!r) throw new KvalregError('not-found', `Unknown registry "${id}".`, { code: 'registry.unknown' });
    return r;
  };
  const unitName = (resh: string) => {
    const u = platform.units.get(resh);
    if (!u) return null;
    const h = u.level === 'department' ? platform.units.ancestorAt(resh, 'hospital') : null;
    return h
      ? { nb: `${h.short ?? h.nameNb}, ${u.nameNb}`, en: `${h.short ?? h.nameEn ?? h.nameNb}, ${u.nameEn ?? u.nameNb}` }
      : { nb: u.nameNb, en: u.nameEn ?? u.nameNb };
  };
  const queryOf = (q: Q, status: WorklistQuery['status'], page: { limit: number; offset: number }): WorklistQuery => {
    if (q.unit !== undefined && q.unit !== '' && !platform.units.has(q.unit))
      throw new KvalregError('invalid', `Unknown unit "${q.unit}".`, { code: 'unit.unknown' });
    if (q.sort && !(SORTS as readonly string[]).includes(q.sort))
      throw new KvalregError('invalid', `sort must be one of ${SORTS.join(', ')}.`, { code: 'request.invalid' });
    return {
      status,
      unit: q.unit || undefined,
      q: q.q || undefined,
      form: q.form || undefined,
      variable: q.variable || undefined,
      from: q.from || undefined,
      to: q.to || undefined,
      sort: q.sort as Sort | undefined,
      ...page,
    };
  };
  const userOf = (c: Caller) => (c.kind === 'user' ? c.user : c.kind === 'system' ? c.sender : c.task);

  app.get<{ Params: { id: string }; Querystring: Q }>('/api/registries/:id/worklist/rows', { config: { access: READERS } }, async (req) => {
    const r = registryOf(req.params.id);
    const status = req.query.status === 'finalisable' ? 'finalisable' : 'incomplete';
    const q = queryOf(req.query, status, {
      limit: whole(req.query.limit, 'limit', 25, 500),
      offset: whole(req.query.offset, 'offset', 0, Number.MAX_SAFE_INTEGER),
    });
    return platform.data.transaction(req.caller!, 'worklist', (tx) => worklistQuery(tx, r, q, platform.keys, { unitName }), {
      readOnly: true,
      client: req.ip,
    });
  });

  // The whole filtered worklist as a file: no names or identity numbers, the case and record numbers to find them by.
  app.get<{ Params: { id: string; format: string }; Querystring: Q }>(
    '/api/registries/:id/worklist/export.:format',
    { config: { access: READERS } },
    async (req, reply) => {
      const r = registryOf(req.params.id);
      const format = req.params.format;
      if (format !== 'csv' && format !== 'xlsx')
        throw new KvalregError('not-found', 'Ask for worklist/export.csv or worklist/export.xlsx.', { code: 'not.found' });
      const lang = req.query.lang === 'en' ? 'en' : 'nb';
      const status = req.query.status === 'finalisable' ? 'finalisable' : 'incomplete';
      const q = queryOf(req.query, status, { limit: 100_000, offset: 0 });
      const { rows } = await platform.data.transaction(
        req.caller!,
        'worklist:export',
        (tx) => worklistQuery(tx, r, q, platform.keys, { unitName, audit: 'export' }),
        { readOnly: true, client: req.ip },
      );
      const { columns, data } = exportTable(r, rows, lang);
      const name = `${r.id}-${status === 'finalisable' ? 'ferdigstillbare' : 'arbeidsliste'}-${new Date().toISOString().slice(0, 10)}`;
      reply.header('content-disposition', `attachment; filename="${name}.${format}"`).header('cache-control', 'no-store');
      if (format === 'csv')
        return reply
          .type('text/csv; charset=utf-8')
          .send(`\ufeff${stringify([columns.map((c) => c.label), ...data.map((d) => columns.map((c) => d[c.key] ?? ''))])}`);
      const title =
        lang === 'nb'
          ? `${r.meta.title.nb}: ${status === 'finalisable' ? 'komplette registreringer som ikke er ferdigstilt' : 'arbeidsliste'}`
          : `${r.meta.title.en}: ${status === 'finalisable' ? 'complete registrations not finalised' : 'worklist'}`;
      return reply
        .type('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet')
        .send(await workbook([{ name: lang === 'nb' ? 'Arbeidsliste' : 'Worklist', title, columns, rows: data }]));
    },
  );

  // Every complete, not yet finalised case matching the filters: the list the registrar reviews before a bulk finalise.
  app.get<{ Params: { id: string }; Querystring: Q }>(
    '/api/registries/:id/worklist/finalisable-ids',
    { config: { access: WRITERS } },
    async (req) => {
      const r = registryOf(req.params.id);
      const q = queryOf(req.query, 'finalisable', { limit: 100_000, offset: 0 });
      return platform.data.transaction(
        req.caller!,
        'worklist:finalisable',
        async (tx) => {
          const { total, rows } = await worklistQuery(tx, r, { ...q, sort: 'case' }, platform.keys, { unitName });
          return { total, ids: rows.map((x) => x.caseId), batch: BULK_MAX };
        },
        { readOnly: true, client: req.ip },
      );
    },
  );

  app.post<{ Params: { id: string }; Body: { caseIds?: unknown } }>(
    '/api/registries/:id/finalise',
    { config: { access: WRITERS } },
    async (req) => {
      const r = registryOf(req.params.id);
      const ids = Array.isArray(req.body?.caseIds) ? req.body!.caseIds : null;
      if (!ids || !ids.every((x) => Number.isSafeInteger(x) && (x as number) > 0))
        throw new KvalregError('invalid', 'Give {"caseIds": [1, 2, ...]}: the cases to finalise, as shown for review.', {
          code: 'request.invalid',
        });
      return platform.data.transaction(req.caller!, 'case:finalise', (tx) => bulkFinalise(tx, r, ids as number[], userOf(req.caller!)), {
        client: req.ip,
      });
    },
  );

  app.get<{ Params: { id: string }; Querystring: Q }>(
    '/api/registries/:id/finalised-share',
    { config: { access: READERS } },
    async (req) => {
      const r = registryOf(req.params.id);
      const year = req.query.year ?? '';
      if (!/^\d{4}$/.test(year)) throw new KvalregError('invalid', 'year must be a year like 2025.', { code: 'year.invalid' });
      return {
        year: Number(year),
        ...(await platform.data.transaction(
          { kind: 'platform', task: 'finalised-share' },
          'analytics:finalised-share',
          (tx) => finalisedShare(tx, analyticsTable(r), caseDateSql(r), year),
          { readOnly: true },
        )),
      };
    },
  );
}

/** The worklist as a table: case, date, unit, the header's values in words, the source's numbers, and each problem. */
function exportTable(r: Registry, rows: WorklistRow[], lang: 'nb' | 'en'): { columns: Column[]; data: Row[] } {
  const nb = lang === 'nb';
  const columns: Column[] = [
    { key: 'case', label: nb ? 'Registrering' : 'Case', format: 'number' },
    {
      key: 'date',
      label: r.meta.caseDate ? (r.variables.get(r.meta.caseDate)?.def.label[lang] ?? r.meta.caseDate) : nb ? 'Dato' : 'Date',
      format: 'text',
    },
    { key: 'unit', label: nb ? 'Enhet' : 'Unit', format: 'text' },
    ...r.meta.header
      .filter((v) => v !== r.meta.caseDate)
      .map((v) => ({
        key: `h:${v}`,
        label: r.variables.get(v)?.def.label[lang] ?? r.derived.find((d) => d.def.id === v)?.def.label[lang] ?? v,
        format: 'text' as const,
      })),
    { key: 'source', label: nb ? 'Kilde' : 'Source', format: 'text' },
    { key: 'record', label: nb ? 'Journal-/saksnummer' : 'Record number', format: 'text' },
    { key: 'encounter', label: nb ? 'Kontakt' : 'Encounter', format: 'text' },
    { key: 'problems', label: nb ? 'Mangler og feil' : 'Missing and errors', format: 'text' },
    { key: 'forms', label: nb ? 'Ferdigstilte skjema' : 'Finalised forms', format: 'text' },
  ];
  const data = rows.map((row): Row => {
    const h = row.header;
    const values = Object.fromEntries(
      (h?.values ?? []).map((v) => [
        `h:${v.variable}`,
        v.value === null ? '' : `${String(v.value)}${v.display ? ` ${v.display[lang]}` : ''}`,
      ]),
    );
    return {
      case: row.caseId,
      date: row.date ?? '',
      unit: h?.unit ?? row.unit ?? '',
      ...values,
      source: h?.source.manual ? (nb ? 'Registrert manuelt' : 'Registered by hand') : (h?.source.senderName ?? h?.source.sender ?? ''),
      record: h?.source.record ?? '',
      encounter: h?.source.encounter ?? '',
      problems: row.problems
        .map(
          (p) =>
            `${p.title[lang]}: ${[...p.missing.map((m) => `${nb ? 'mangler' : 'missing'} ${m.label[lang]}`), ...p.findings.map((f) => f.message[lang])].join('; ')}`,
        )
        .join(' | '),
      forms: `${row.forms.finalised}/${row.forms.total}`,
    };
  });
  return { columns, data };
}

function whole(raw: string | undefined, name: string, fallback: number, max: number): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0 || n > max)
    throw new KvalregError('invalid', `${name} must be a whole number from 0 to ${max}.`, { code: 'request.invalid' });
  return n;
}
