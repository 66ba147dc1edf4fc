// Open data the web app needs beside the indicator routes: the organisation hierarchy (for choosing
// a unit), the registry's codebook as metadata (forms, variables, types, code lists: what the
// completion form is generated from), and key figures (cases per year, aggregates only, small
// counts withheld).
import type { FastifyInstance } from 'fastify';
import type { Platform } from '../../platform.ts';
import { ownUnits } from '../../indicators/service.ts';
import { keyFiguresOf, type KeyFigure } from '../../publish/key-figures.ts';
import { RecordError } from '../../records/workflow.ts';
import type { Registry } from '../../registry/load.ts';
import { PUBLIC } from '../access-policy.ts';

export function webDataRoutes(app: FastifyInstance, platform: Platform): void {
  const registryOf = (id: string): Registry => {
    const r = platform.registry(id);
    if (!r) throw new RecordError(`Unknown registry "${id}"; known: ${platform.registries.map((x) => x.id).join(', ')}.`, 404);
    return r;
  };

  // Every unit of the hierarchy, nation first: open, as the units and their RESH ids are.
  app.get('/api/units', { config: { access: PUBLIC } }, async () => {
    const order = ['nation', 'region', 'trust', 'hospital', 'department'];
    return platform.units.all()
      .map((u) => ({ resh: u.resh, parent: u.parent, level: u.level, name: { nb: u.nameNb, en: u.nameEn ?? u.nameNb }, short: u.short, path: u.path }))
      .sort((a, b) => order.indexOf(a.level) - order.indexOf(b.level) || a.name.nb.localeCompare(b.name.nb, 'nb'));
  });

  // The codebook as open metadata: forms with their variables (type, label, description, unit,
  // range, required or required-when), and every code list with its displays.
  app.get<{ Params: { id: string } }>('/api/registries/:id/codebook', { config: { access: PUBLIC } }, async (req) => {
    const r = registryOf(req.params.id);
    return {
      registry: r.id, version: r.version, title: r.meta.title,
      forms: r.forms.map((f) => ({
        id: f.id, title: f.title, description: f.description ?? null, repeating: f.repeating,
        variables: f.variables.map((v) => ({
          id: v.id, type: v.type, label: v.label, description: v.description, codelist: v.codelist ?? null, unit: v.unit ?? null,
          range: v.range ?? null, required: v.required === true ? true : v.required === false ? false : 'conditional',
          requiredWhen: typeof v.required === 'string' ? v.required : null, privacy: v.privacy, source: v.source ?? null,
        })),
      })),
      codelists: [...r.codelists.values()].map((c) => ({ id: c.id, title: c.title, system: c.system ?? null, codes: [...c.codes].map(([code, display]) => ({ code, display })) })),
    };
  });

  // Cases per registration year, for the nation and (optionally) one unit with its sub-units:
  // aggregates, as disclosure control shows them (publish/key-figures.ts: counts under the
  // registry's threshold withheld, and what would give them away).
  app.get<{ Params: { id: string }; Querystring: { unit?: string } }>('/api/registries/:id/key-figures', { config: { access: PUBLIC } }, async (req) => {
    const r = registryOf(req.params.id);
    const unit = req.query.unit;
    if (unit !== undefined && !platform.units.has(unit)) throw new RecordError(`Unknown unit "${unit}": give a RESH id (GET /api/units lists them).`, 400);
    const table = await keyFiguresOf(platform).get(r);
    const nation = platform.indicators.nation();
    const shown = (f: KeyFigure) => (f.withheld === null ? f.n : null);
    // A unit's own registrars and readers see its own count in full (they can count those cases anyway).
    const own = unit !== undefined && ownUnits(req.caller, r.id, platform.units).has(unit);
    return {
      registry: r.id, unit: unit ?? null, smallCountThreshold: r.meta.smallCountThreshold,
      years: table.years.map((year) => ({ year, nation: shown(table.at(nation, year)), unit: unit ? (own ? table.at(unit, year).n : shown(table.at(unit, year))) : null })),
    };
  });
}
