// The explanation list of an indicator for a unit, whole, as CSV or XLSX: every case in the
// denominator, whether it is in the numerator, and each clause with the values that decided it,
// the variables by their codebook labels. Person-level like the list itself: for users whose access
// covers the unit, audited per person (as an export).
import { stringify } from 'csv-stringify/sync';
import type { FastifyInstance } from 'fastify';
import { explainIndicator, periodRange } from '../../indicators/explain.ts';
import type { Grain } from '../../indicators/schema.ts';
import type { RouteOptions } from './plugin.ts';
import type { Column, Row } from '../../reports/charts.ts';
import { workbook } from '../../reports/figures.ts';
import { osloDate } from '../../time/oslo.ts';
import { READERS } from '../access-policy.ts';
import { KvalregError } from '../../errors.ts';

export async function explanationExportRoutes(app: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  app.get<{ Params: { id: string; indicator: string; format: string }; Querystring: Record<string, string | undefined> }>(
    '/api/registries/:id/indicators/:indicator/explanation.:format',
    { config: { access: READERS } },
    async (req, reply) => {
      const r = platform.registry(req.params.id);
      if (!r) throw new KvalregError('not-found', `Unknown registry "${req.params.id}".`, { code: 'registry.unknown' });
      const ind = platform.indicators.get(r.id, req.params.indicator);
      if (!ind)
        throw new KvalregError('not-found', `Registry ${r.id} has no indicator "${req.params.indicator}".`, { code: 'indicator.unknown' });
      const format = req.params.format;
      if (format !== 'csv' && format !== 'xlsx')
        throw new KvalregError('not-found', 'Ask for explanation.csv or explanation.xlsx.', { code: 'not.found' });
      const q = req.query;
      if (!q.unit || !platform.units.has(q.unit))
        throw new KvalregError('invalid', 'Give unit=<RESH id> of a unit your access covers.', { code: 'unit.unknown' });
      const grain = (q.grain ?? 'year') as Grain;
      if (!(ind.def.grains as string[]).includes(grain))
        throw new KvalregError('invalid', `Indicator ${ind.def.id} is computed per ${ind.def.grains.join(', ')}.`, {
          code: 'request.invalid',
        });
      if (!q.period) throw new KvalregError('invalid', 'Give period= (e.g. 2024).', { code: 'request.invalid' });
      periodRange(grain, q.period);
      const lang = q.lang === 'en' ? 'en' : 'nb';
      const dataset = q.dataset === 'qa' ? 'qa' : 'fresh';
      const { cases } = await platform.data.transaction(
        req.caller!,
        'indicator:explain',
        (tx) =>
          explainIndicator(tx, r, ind, {
            unit: q.unit!,
            grain,
            period: q.period!,
            dataset,
            lang,
            asOf: osloDate(new Date().toISOString()),
            limit: 1_000_000,
            offset: 0,
          }),
        { readOnly: true, client: req.ip },
      );
      const label = (v: string) => r.variables.get(v)?.def.label[lang] ?? r.derived.find((d) => d.def.id === v)?.def.label[lang] ?? v;
      const word = (v: unknown) =>
        v === null || v === undefined
          ? lang === 'nb'
            ? 'ukjent'
            : 'unknown'
          : v === true
            ? lang === 'nb'
              ? 'ja'
              : 'yes'
            : v === false
              ? lang === 'nb'
                ? 'nei'
                : 'no'
              : String(v);
      const nb = lang === 'nb';
      // A value in words: codes by their list's display, the person's sex as a word.
      const shown = (k: string, v: unknown) => {
        if (k === 'sex' && (v === 'female' || v === 'male')) return nb ? (v === 'female' ? 'kvinne' : 'mann') : v;
        const list = r.variables.get(k)?.def.codelist ?? r.derived.find((d) => d.def.id === k)?.def.codelist;
        return (list ? r.codelists.get(list)?.codes.get(String(v))?.[lang] : undefined) ?? word(v);
      };
      const columns: Column[] = [
        { key: 'case', label: nb ? 'Registrering' : 'Case', format: 'number' },
        { key: 'date', label: nb ? 'Dato' : 'Date', format: 'text' },
        { key: 'finalised', label: nb ? 'Ferdigstilt' : 'Finalised', format: 'text' },
        { key: 'numerator', label: nb ? 'I telleren' : 'In the numerator', format: 'text' },
        { key: 'clauses', label: nb ? 'Vilkår' : 'Clauses', format: 'text' },
      ];
      const rows: Row[] = cases.map((c) => ({
        case: c.caseId,
        date: c.periodDate,
        finalised: word(c.finalised),
        numerator: word(c.inNumerator),
        clauses: c.parts
          .filter((p) => p.inDenominator)
          .flatMap((p) =>
            p.clauses.map(
              (cl) =>
                `${p.label ? `${p.label}: ` : ''}${cl.holds === true ? '✓' : cl.holds === false ? '✗' : '?'} ${cl.text}${
                  Object.keys(cl.values).length
                    ? ` (${Object.entries(cl.values)
                        .map(([k, v]) => `${label(k)} = ${shown(k, v)}`)
                        .join(', ')})`
                    : ''
                }`,
            ),
          )
          .join(' | '),
      }));
      const name = `${r.id}-${ind.def.id}-${q.unit}-${q.period}-${nb ? 'forklaring' : 'explanation'}`;
      reply.header('content-disposition', `attachment; filename="${name}.${format}"`).header('cache-control', 'no-store');
      if (format === 'csv')
        return reply
          .type('text/csv; charset=utf-8')
          .send(`\ufeff${stringify([columns.map((c) => c.label), ...rows.map((x) => columns.map((c) => x[c.key] ?? ''))])}`);
      return reply
        .type('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet')
        .send(
          await workbook([
            { name: nb ? 'Forklaring' : 'Explanation', title: `${ind.def.number} ${ind.def.title[lang]}: ${q.period}`, columns, rows },
          ]),
        );
    },
  );
}
