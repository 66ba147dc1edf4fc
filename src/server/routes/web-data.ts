// Open data the web app needs beside the indicator routes: the organisation hierarchy (for choosing
// a unit), the registry's codebook as metadata (forms, variables, types, code lists: what the
// completion form is generated from), and key figures (cases per year, aggregates only, small
// counts withheld).
import type { FastifyInstance } from 'fastify';
import { analyticsTable } from '../../analytics/columns.ts';
import { caseDateSql } from '../../analytics/case-date.ts';
import { osloDate } from '../../time/oslo.ts';
import type { Caller } from '../../access/caller.ts';
import type { RouteOptions } from './plugin.ts';
import { ownUnits } from '../../indicators/service.ts';
import { keyFiguresOf, type KeyFigure } from '../../publish/key-figures.ts';
import type { Registry } from '../../registry/load.ts';
import { PUBLIC } from '../access-policy.ts';
import { KvalregError } from '../../errors.ts';

const PLATFORM: Caller = { kind: 'platform', task: 'key-figures' };
/** How long the years with data are kept (they change when a new year begins to fill). */
const YEARS_TTL_MS = 60_000;
const PERSON_LABELS = [
  {
    id: 'birth_date',
    type: 'date',
    label: { nb: 'Fødselsdato', en: 'Date of birth' },
    description: { nb: 'Fra fødselsnummeret eller folkeregisteret.', en: 'From the identity number or the population register.' },
  },
  {
    id: 'sex',
    type: 'code',
    label: { nb: 'Kjønn', en: 'Sex' },
    description: { nb: 'Fra fødselsnummeret eller folkeregisteret.', en: 'From the identity number or the population register.' },
  },
  {
    id: 'deceased_date',
    type: 'date',
    label: { nb: 'Dødsdato', en: 'Date of death' },
    description: { nb: 'Fra folkeregisteret.', en: 'From the population register.' },
  },
];

export async function webDataRoutes(app: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  const registryOf = (id: string): Registry => {
    const r = platform.registry(id);
    if (!r) throw new KvalregError('not-found', `Unknown registry "${id}"; known: ${platform.registries.map((x) => x.id).join(', ')}.`);
    return r;
  };

  // Every unit of the hierarchy, nation first: open, as the units and their RESH ids are.
  app.get('/api/units', { config: { access: PUBLIC } }, async () => {
    const order = ['nation', 'region', 'trust', 'hospital', 'department'];
    return platform.units
      .all()
      .map((u) => ({
        resh: u.resh,
        parent: u.parent,
        level: u.level,
        name: { nb: u.nameNb, en: u.nameEn ?? u.nameNb },
        short: u.short,
        path: u.path,
      }))
      .sort((a, b) => order.indexOf(a.level) - order.indexOf(b.level) || a.name.nb.localeCompare(b.name.nb, 'nb'));
  });

  // The codebook as open metadata: forms with their variables (type, label, description, unit,
  // range, required or required-when), and every code list with its displays.
  app.get<{ Params: { id: string } }>('/api/registries/:id/codebook', { config: { access: PUBLIC } }, async (req) => {
    const r = registryOf(req.params.id);
    return {
      registry: r.id,
      version: r.version,
      title: r.meta.title,
      // The variable holding the treating unit (a unit picker), the case date, and what tells cases apart.
      unitVariable: r.mapping.unitVariable,
      caseDate: r.meta.caseDate ?? null,
      header: r.meta.header,
      forms: r.forms.map((f) => ({
        id: f.id,
        title: f.title,
        description: f.description ?? null,
        repeating: f.repeating,
        variables: f.variables.map((v) => ({
          id: v.id,
          type: v.type,
          label: v.label,
          description: v.description,
          codelist: v.codelist ?? null,
          unit: v.unit ?? null,
          range: v.range ?? null,
          required: v.required === true ? true : v.required === false ? false : 'conditional',
          requiredWhen: typeof v.required === 'string' ? v.required : null,
          privacy: v.privacy,
          source: v.source ?? null,
        })),
      })),
      // Derived variables and the person's own values, by name (explanations and headers use them).
      derived: [
        ...PERSON_LABELS,
        ...r.derived.map((d) => ({ id: d.def.id, type: d.def.type, label: d.def.label, description: d.def.description })),
      ],
      codelists: [...r.codelists.values()].map((c) => ({
        id: c.id,
        title: c.title,
        system: c.system ?? null,
        hierarchical: c.properties.size > 0,
        codes: [...c.codes].map(([code, display]) => ({ code, display })),
      })),
    };
  });

  // What this installation offers that pages must know before they promise it (e-mail).
  app.get('/api/platform/features', { config: { access: PUBLIC } }, async () => ({ mail: !!platform.config.smtpUrl }));

  // The years with data (by the registry's case date, newest first), and the year pages open on:
  // the newest full year with data (the current year has hardly begun to fill), or, without one,
  // the newest year with data. Every page's year choice is made from these.
  // Every page asks on every view, and the answer needs a pass over the whole analytics table (a
  // million rows nationally) but changes only when a new year begins to fill: kept for a minute.
  const cached = new Map<string, { at: number; years: Promise<number[]> }>();
  const yearsOf = (r: Registry): Promise<number[]> => {
    const hit = cached.get(r.id);
    if (hit && Date.now() - hit.at < YEARS_TTL_MS) return hit.years;
    const years = platform.data
      .transaction(
        PLATFORM,
        'analytics:years',
        async (tx) =>
          (
            await tx.client.query(
              `SELECT DISTINCT extract(year FROM ${caseDateSql(r)})::int AS year FROM ${analyticsTable(r)} a WHERE ${caseDateSql(r)} IS NOT NULL ORDER BY 1 DESC`,
            )
          ).rows,
        { readOnly: true },
      )
      .then((rows) => rows.map((x: { year: number }) => x.year));
    years.catch(() => cached.delete(r.id));
    cached.set(r.id, { at: Date.now(), years });
    return years;
  };
  const withDefault = (years: number[]) => {
    const current = Number(osloDate(new Date().toISOString()).slice(0, 4));
    return { years, default: years.find((y) => y < current) ?? years[0] ?? null, current };
  };
  app.get<{ Params: { id: string } }>('/api/registries/:id/years', { config: { access: PUBLIC } }, async (req) =>
    withDefault(await yearsOf(registryOf(req.params.id))),
  );
  // Across every registry (the hospital profile shows them all).
  app.get('/api/years', { config: { access: PUBLIC } }, async () => {
    const all = new Set<number>();
    for (const r of platform.registries) for (const y of await yearsOf(r)) all.add(y);
    return withDefault([...all].sort((a, b) => b - a));
  });

  // Cases per year of the registry's case date (the year of injury, not of registration), for the
  // nation and (optionally) one unit with its sub-units: aggregates, as disclosure control shows them
  // (publish/key-figures.ts: counts under the registry's threshold withheld, and what would give them away).
  app.get<{ Params: { id: string }; Querystring: { unit?: string } }>(
    '/api/registries/:id/key-figures',
    { config: { access: PUBLIC } },
    async (req) => {
      const r = registryOf(req.params.id);
      const unit = req.query.unit;
      if (unit !== undefined && !platform.units.has(unit))
        throw new KvalregError('invalid', `Unknown unit "${unit}": give a RESH id (GET /api/units lists them).`);
      const table = await keyFiguresOf(platform).get(r);
      const nation = platform.indicators.nation();
      const shown = (f: KeyFigure) => (f.withheld === null ? f.n : null);
      // A unit's own registrars and readers see its own count in full (they can count those cases anyway).
      const own = unit !== undefined && ownUnits(req.caller, r.id, platform.units).has(unit);
      return {
        registry: r.id,
        unit: unit ?? null,
        smallCountThreshold: r.meta.smallCountThreshold,
        years: table.years.map((year) => ({
          year,
          nation: shown(table.at(nation, year)),
          unit: unit ? (own ? table.at(unit, year).n : shown(table.at(unit, year))) : null,
        })),
      };
    },
  );
}
