// Open metadata of a registry (helsedata.no's purpose): its forms, variables, code lists, derived
// variables and indicators with their definitions in words, and each variable's change history
// over the stored definition versions (valid from/to). No data, no counts.
import type { Queryable } from '../db/pool.ts';
import type { Indicator } from '../indicators/load.ts';
import { definitionText } from '../indicators/text.ts';
import type { Registry } from '../registry/load.ts';
import type { CodebookDef, VariableDef } from '../registry/schema.ts';
import { derivedFormula } from './codebook.ts';

/**
 * One period of a variable's definition: from the version that added or changed it until the next
 * version that changed or removed it (validTo null: still in force). A removal is its own entry.
 */
export interface VariableHistory {
  version: string;
  validFrom: string;
  validTo: string | null;
  change: 'added' | 'changed' | 'removed';
}

/** Per variable, its definition periods over the stored versions, in the order they took effect. */
export async function variableHistory(db: Queryable, registry: string): Promise<Map<string, VariableHistory[]>> {
  const { rows } = await db.query(
    'SELECT version, loaded_at, definition FROM registry_version WHERE registry = $1 ORDER BY loaded_at, version',
    [registry],
  );
  const out = new Map<string, VariableHistory[]>();
  let previous = new Map<string, string>();
  for (const r of rows as Array<{ version: string; loaded_at: Date; definition: { codebook?: CodebookDef } }>) {
    const now = new Map<string, string>();
    for (const f of r.definition?.codebook?.forms ?? [])
      for (const v of f.variables as VariableDef[]) now.set(v.id, JSON.stringify({ ...v, form: f.id }));
    const from = new Date(r.loaded_at).toISOString().slice(0, 10);
    const push = (id: string, change: VariableHistory['change']) => {
      const list = out.get(id) ?? [];
      const open = list.at(-1);
      if (open && open.validTo === null && open.change !== 'removed') open.validTo = from;
      list.push({ version: r.version, validFrom: from, validTo: null, change });
      out.set(id, list);
    };
    for (const [id, def] of now)
      if (!previous.has(id)) push(id, 'added');
      else if (previous.get(id) !== def) push(id, 'changed');
    for (const id of previous.keys()) if (!now.has(id)) push(id, 'removed');
    previous = now;
  }
  return out;
}

export async function openMetadata(db: Queryable, registry: Registry, indicators: Indicator[], lang: 'nb' | 'en') {
  const history = await variableHistory(db, registry.id);
  return {
    registry: {
      id: registry.id,
      version: registry.version,
      title: registry.meta.title[lang],
      short: registry.meta.short,
      description: registry.meta.description[lang].trim(),
      legalBasis: registry.meta.legalBasis?.[lang] ?? null,
      dataController: registry.meta.dataController ?? null,
      caseName: registry.meta.caseName?.[lang] ?? null,
    },
    forms: registry.forms.map((f) => ({
      id: f.id,
      title: f.title[lang],
      description: f.description?.[lang] ?? null,
      repeating: f.repeating,
      variables: f.variables.map((v) => ({
        id: v.id,
        label: v.label[lang],
        description: v.description[lang],
        type: v.type,
        unit: v.unit ?? null,
        codelist: v.codelist ?? null,
        required: v.required,
        range: v.range ?? null,
        plausible: v.plausible
          ? { min: v.plausible.min ?? null, max: v.plausible.max ?? null, comment: v.plausible.comment?.[lang] ?? null }
          : null,
        privacy: v.privacy,
        source: v.source ?? null,
        history: history.get(v.id) ?? [],
      })),
    })),
    codelists: [...registry.codelists.values()].map((c) => ({
      id: c.id,
      title: c.title[lang],
      system: c.system ?? null,
      size: c.codes.size,
      codes: c.codes.size <= 200 ? [...c.codes].map(([code, d]) => ({ code, display: d[lang], unknown: c.missing.has(code) })) : null,
    })),
    derived: registry.derived.map((d) => ({
      id: d.def.id,
      label: d.def.label[lang],
      description: d.def.description[lang],
      type: d.def.type,
      computation: derivedFormula(d.def, 'where'),
    })),
    rules: registry.rules.map((r) => ({
      id: r.def.id,
      message: r.def.message[lang],
      severity: r.def.severity,
      variables: r.def.variables,
    })),
    indicators: indicators.map((i) => ({
      id: i.def.id,
      number: i.def.number,
      title: i.def.title[lang],
      description: i.def.description[lang],
      status: i.def.status,
      target: i.def.target ?? null,
      definition: definitionText(i, registry, lang),
    })),
  };
}
