// A new registry folder from a data dictionary: a REDCap dictionary (redcap.ts) or a codebook in
// the canonical layout (codebook.ts). It writes registry.yaml, codebook.yaml and a starting
// mapping.yaml that load as they are — the quickest way to put the next registry on the platform;
// its authors then write the inclusion rule, the FHIR mapping and the indicators
// (docs/adding-a-registry.md).
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import YAML from 'yaml';
import { expressionVariables } from '../registry/expr.ts';
import { BUILTIN_FUNCTIONS } from '../registry/expr-types.ts';
import type { VariableType } from '../registry/schema.ts';
import {
  CODEBOOK_COLUMNS,
  CODELIST_TAG,
  DERIVED_FORM,
  OPTIONAL_BOOLEAN,
  PROPERTIES_TAG,
  REPEATING_FORM,
  REQUIRED_WHEN,
  TYPE_TAG,
} from './codebook.ts';
import { variableTypes } from '../registry/schema.ts';
import { annotationTags, REDCAP_COLUMNS } from './redcap.ts';
import { KvalregError } from '../errors.ts';

export class ScaffoldError extends KvalregError {
  constructor(message: string) {
    super('unprocessable', message);
  }
}

interface Var {
  id: string;
  type: VariableType;
  label: { nb: string; en: string };
  description: { nb: string; en: string };
  codelist?: string;
  unit?: string;
  range?: { min?: number; max?: number };
  plausible?: { min?: number; max?: number; comment?: { nb: string; en: string } };
  required: boolean | string;
  privacy?: string;
  source?: string;
}
interface Form {
  id: string;
  title: { nb: string; en: string };
  description?: { nb: string; en: string };
  repeating: boolean;
  variables: Var[];
}
interface Codelist {
  id: string;
  title: { nb: string; en: string };
  codes: Array<{ code: string; display: { nb: string; en: string }; missing?: boolean; properties?: Record<string, string> }>;
}
export interface Dictionary {
  forms: Form[];
  codelists: Codelist[];
  /** Derived variables: with their type (and code list) when the dictionary says it, their formula as written there. */
  derived: Array<{ id: string; label: string; description: string; formula: string; type?: VariableType; codelist?: string }>;
}

const ID = /^[a-z][a-z0-9_]*$/;

/** The tags codebook.ts writes in `kommentar` (CODELIST_TAG, PROPERTIES_TAG, TYPE_TAG). */
function commentTags(comment: string | undefined): { codelist?: string; properties?: Record<string, string>; type?: VariableType } {
  const c = comment ?? '';
  const list = new RegExp(`${CODELIST_TAG}([a-z][a-z0-9_]*)\\.`).exec(c)?.[1];
  const type = new RegExp(`${TYPE_TAG}([a-z]+)\\.`).exec(c)?.[1];
  const props = new RegExp(`${PROPERTIES_TAG}(\\{[^}]*\\})`).exec(c)?.[1];
  let properties: Record<string, string> | undefined;
  try {
    const p: unknown = props ? JSON.parse(props) : undefined;
    if (p && typeof p === 'object' && Object.values(p).every((x) => typeof x === 'string')) properties = p as Record<string, string>;
  } catch {
    /* not ours: an ordinary comment */
  }
  return {
    ...(list ? { codelist: list } : {}),
    ...(properties ? { properties } : {}),
    ...(type && (variableTypes as readonly string[]).includes(type) ? { type: type as VariableType } : {}),
  };
}
const both = (s: string) => ({ nb: s || '–', en: s || '–' });
const num = (s: string | undefined) => (s === undefined || s === '' ? undefined : Number(s));

function readCsv(text: string): Record<string, string>[] {
  const first = text.split(/\r?\n/, 1)[0] ?? '';
  try {
    return parse(text, {
      columns: (h: string[]) => h.map((c) => c.trim().replace(/^\ufeff/, '')),
      skip_empty_lines: true,
      delimiter: first.includes(';') && !first.includes(',') ? ';' : ',',
      bom: true,
      relax_column_count: true,
    });
  } catch (err) {
    throw new ScaffoldError(`not valid CSV: ${(err as Error).message}`);
  }
}

export function fromRedcap(text: string): Dictionary {
  const rows = readCsv(text);
  const missing = ['Variable / Field Name', 'Form Name', 'Field Type', 'Field Label'].filter((c) => rows.length && !(c in rows[0]));
  if (missing.length)
    throw new ScaffoldError(
      `a REDCap dictionary needs the columns ${REDCAP_COLUMNS.slice(0, 5).join(', ')} …; missing: ${missing.join(', ')}`,
    );
  const forms: Form[] = [],
    codelists: Codelist[] = [],
    problems: string[] = [];
  rows.forEach((r, i) => {
    const line = i + 2,
      id = r['Variable / Field Name']?.trim(),
      formId = r['Form Name']?.trim();
    if (!id || !ID.test(id)) {
      problems.push(`line ${line}: "${id}" is not a variable name (lower-case letters, digits and _)`);
      return;
    }
    if (!formId || !ID.test(formId)) {
      problems.push(`line ${line}: form "${formId}" is not a form name (lower-case letters, digits and _)`);
      return;
    }
    const tags = annotationTags(r['Field Annotation'] ?? '');
    const tag = (k: string) => (typeof tags.get(k) === 'string' ? (tags.get(k) as string) : undefined);
    let form = forms.find((f) => f.id === formId);
    if (!form)
      forms.push(
        (form = {
          id: formId,
          title: { nb: tag('FORM-TITLE') ?? (r['Section Header'] || formId), en: tag('FORM-TITLE-EN') ?? (r['Section Header'] || formId) },
          repeating: false,
          variables: [],
        }),
      );
    if (tags.has('REPEATING')) form.repeating = true;
    const ftype = (r['Field Type'] ?? '').trim(),
      validation = (r['Text Validation Type OR Show Slider Number'] ?? '').trim();
    if (ftype === 'descriptive') return;
    let type: VariableType = 'text';
    const v: Var = {
      id,
      type,
      label: { nb: r['Field Label'] || id, en: tag('LABEL-EN') ?? (r['Field Label'] || id) },
      description: { nb: r['Field Note'] || r['Field Label'] || id, en: tag('NOTE-EN') ?? (r['Field Note'] || r['Field Label'] || id) },
      required: tag('REQUIRED') ?? r['Required Field?'] === 'y',
      privacy: tag('PRIVACY'),
      unit: tag('UNIT'),
      source: tag('SOURCE'),
    };
    if (['dropdown', 'radio', 'checkbox'].includes(ftype)) {
      type = 'code';
      const listId = tag('CODELIST') ?? id;
      if (!codelists.some((c) => c.id === listId)) {
        const codes = (r['Choices, Calculations, OR Slider Labels'] ?? '')
          .split('|')
          .map((x) => x.trim())
          .filter(Boolean)
          .map((x) => {
            const k = x.indexOf(',');
            return { code: (k < 0 ? x : x.slice(0, k)).trim(), display: both((k < 0 ? x : x.slice(k + 1)).trim()) };
          });
        if (codes.length === 0) problems.push(`line ${line}: ${id} is a ${ftype} without choices`);
        const unknown = new Set(
          (tag('UNKNOWN') ?? '')
            .split(',')
            .map((x) => x.trim())
            .filter(Boolean),
        );
        codelists.push({
          id: listId,
          title: both(r['Field Label'] || listId),
          codes: codes.map((c) => (unknown.has(c.code) ? { ...c, missing: true } : c)),
        });
      }
      v.codelist = listId;
    } else if (ftype === 'yesno' || ftype === 'truefalse') type = 'boolean';
    else if (ftype === 'calc') {
      type = 'decimal';
      v.description = both(`${v.description.nb} (REDCap: ${r['Choices, Calculations, OR Slider Labels']})`);
    } else if (validation === 'integer') type = 'integer';
    else if (validation === 'number' || validation.startsWith('number_')) type = 'decimal';
    else if (validation.startsWith('datetime')) type = 'datetime';
    else if (validation.startsWith('date')) type = 'date';
    v.type = type;
    if (type === 'integer' || type === 'decimal') {
      const min = num(r['Text Validation Min']),
        max = num(r['Text Validation Max']);
      if (min !== undefined || max !== undefined)
        v.range = { ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}) };
    }
    form.variables.push(v);
  });
  if (problems.length)
    throw new ScaffoldError(`the dictionary has ${problems.length} problem(s):\n  ${problems.slice(0, 20).join('\n  ')}`);
  return { forms, codelists, derived: [] };
}

const CANONICAL_TYPES: Record<string, VariableType> = {
  kategorisk: 'code',
  boolsk: 'boolean',
  numerisk: 'decimal',
  dato: 'date',
  dato_kl: 'datetime',
  kl: 'text',
  tekst: 'text',
  'tekst*': 'text',
  fritekst: 'text',
};

export function fromCodebook(text: string): Dictionary {
  const rows = readCsv(text);
  const missing = CODEBOOK_COLUMNS.filter((c) => rows.length && !(c in rows[0]));
  if (missing.length)
    throw new ScaffoldError(
      `a codebook in the canonical layout needs the columns ${CODEBOOK_COLUMNS.join(', ')}; missing: ${missing.join(', ')}`,
    );
  const forms: Form[] = [],
    codelists: Codelist[] = [],
    derived: Dictionary['derived'] = [],
    problems: string[] = [];
  rows.forEach((r, i) => {
    const line = i + 2,
      id = r.variabel_id?.trim(),
      formId = r.skjema_id?.trim();
    if (!id || !ID.test(id)) {
      problems.push(`line ${line}: "${id}" is not a variable id`);
      return;
    }
    const tags = commentTags(r.kommentar);
    if (r.variabeltype === 'utrekna' || formId === DERIVED_FORM.id) {
      if (!derived.some((d) => d.id === id))
        derived.push({
          id,
          label: r.variabeletikett || id,
          description: r.forklaring || id,
          formula: r.utrekningsformel ?? '',
          ...(tags.type ? { type: tags.type } : {}),
          ...(tags.codelist ? { codelist: tags.codelist } : {}),
        });
      return;
    }
    if (!formId || !ID.test(formId)) {
      problems.push(`line ${line}: form "${formId}" is not a form id`);
      return;
    }
    const type = CANONICAL_TYPES[r.variabeltype];
    if (!type) {
      problems.push(`line ${line}: variabeltype "${r.variabeltype}" is not one of ${Object.keys(CANONICAL_TYPES).join(', ')}, utrekna`);
      return;
    }
    let form = forms.find((f) => f.id === formId);
    if (!form) forms.push((form = { id: formId, title: both(r.skjemanamn || formId), repeating: false, variables: [] }));
    if (r.innleiing && !form.description) form.description = both(r.innleiing);
    if ((r.kommentar ?? '').includes(REPEATING_FORM)) form.repeating = true;
    let v = form.variables.find((x) => x.id === id);
    if (!v) {
      const isInt = type === 'decimal' && r.desimalar === '0';
      v = {
        id,
        type: isInt ? 'integer' : type,
        label: both(r.variabeletikett || id),
        description: both(r.forklaring || r.variabeletikett || id),
        required: r.logikk?.startsWith(REQUIRED_WHEN)
          ? r.logikk.slice(REQUIRED_WHEN.length)
          : r.obligatorisk === 'ja' && !(type === 'boolean' && (r.kommentar ?? '').includes(OPTIONAL_BOOLEAN)),
        ...(r.eining ? { unit: r.eining } : {}),
        ...(/Kilde: /.test(r.kommentar ?? '') ? { source: r.kommentar.slice(r.kommentar.indexOf('Kilde: ') + 'Kilde: '.length) } : {}),
        ...(type === 'code' ? { codelist: tags.codelist ?? id } : {}),
      };
      const min = num(r.min),
        max = num(r.maks),
        pmin = num(r.min_rimeleg),
        pmax = num(r.maks_rimeleg);
      if (min !== undefined || max !== undefined)
        v.range = { ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}) };
      if (pmin !== undefined || pmax !== undefined)
        v.plausible = {
          ...(pmin !== undefined ? { min: pmin } : {}),
          ...(pmax !== undefined ? { max: pmax } : {}),
          ...(r.kommentar_rimeleg ? { comment: both(r.kommentar_rimeleg) } : {}),
        };
      // A list shared by several variables (its id in the comment) is declared once.
      if (type === 'code' && !codelists.some((c) => c.id === v!.codelist))
        codelists.push({ id: v.codelist!, title: both(r.variabeletikett || id), codes: [] });
      form.variables.push(v);
    }
    if (type === 'code') {
      if (r.verdi === undefined || r.verdi === '') {
        problems.push(`line ${line}: ${id} is categorical but has no verdi`);
        return;
      }
      const list = codelists.find((c) => c.id === v.codelist)!;
      if (!list.codes.some((c) => c.code === r.verdi))
        list.codes.push({
          code: r.verdi,
          display: both(r.verditekst || r.verdi),
          ...(r.manglande === 'ja' ? { missing: true } : {}),
          ...(tags.properties ? { properties: tags.properties } : {}),
        });
    }
  });
  if (problems.length) throw new ScaffoldError(`the codebook has ${problems.length} problem(s):\n  ${problems.slice(0, 20).join('\n  ')}`);
  return { forms, codelists, derived };
}

/** Writes registries/<id>/ from a dictionary; refuses to overwrite an existing folder. */
export function writeRegistryFolder(dir: string, d: Dictionary, o: { id: string; title: string; short?: string }): string[] {
  if (!ID.test(o.id))
    throw new ScaffoldError(`"${o.id}" cannot be a registry id: lower-case letters, digits and _, starting with a letter`);
  if (fs.existsSync(dir) && fs.readdirSync(dir).length)
    throw new ScaffoldError(`${dir} exists and is not empty: choose another id or folder`);
  if (d.forms.length === 0) throw new ScaffoldError('the dictionary has no forms with variables');
  // The unit a case belongs to: a variable named for it, or one added to the first form.
  const all = d.forms.flatMap((f) => f.variables.map((v) => ({ f, v })));
  let unit = all.find(({ f, v }) => !f.repeating && v.type === 'text' && /(^|_)(unit|resh|enhet|avdeling)(_|$)/.test(v.id))?.v.id;
  if (!unit) {
    const first = d.forms.find((f) => !f.repeating) ?? d.forms[0];
    first.variables.unshift({
      id: 'treating_unit',
      type: 'text',
      label: { nb: 'Behandlende enhet', en: 'Treating unit' },
      description: { nb: 'RESH-id for enheten som registrerer.', en: 'RESH id of the registering unit.' },
      required: true,
    });
    unit = 'treating_unit';
  }
  const known = new Set([...all.map(({ v }) => v.id), 'birth_date', 'sex', 'deceased_date', unit]);
  // Derived variables whose formula is an expression over what is known (form variables, the person,
  // derived variables declared before), with their type given, are declared as they were; their
  // code lists and the properties codeProperty reads travel in the codebook (codebook.ts).
  const derived: Array<Record<string, unknown>> = [];
  const listIds = new Set(d.codelists.map((c) => c.id));
  for (const x of d.derived) {
    if (!x.type || (x.codelist && !listIds.has(x.codelist))) continue;
    let vars: string[];
    try {
      vars = expressionVariables(x.formula);
    } catch {
      continue; // a count, a collection, a PROM result, or another tool's syntax
    }
    const lists = [...x.formula.matchAll(/codeProperty\(\s*'([^']*)'/g)].map((m) => m[1]);
    // Only the platform's functions and the code-list look-up: parameters (parameters.yaml) and a
    // registry's own functions (functions.ts) are the registry's, not the dictionary's.
    const calls = [...x.formula.replace(/'[^']*'/g, "''").matchAll(/\b([A-Za-z_]\w*)\s*\(/g)].map((m) => m[1]);
    if (!calls.every((f) => BUILTIN_FUNCTIONS.has(f) || f === 'codeProperty')) continue;
    if (!vars.every((v) => known.has(v)) || !lists.every((l) => listIds.has(l))) continue;
    derived.push({
      id: x.id,
      type: x.type,
      label: both(x.label),
      description: both(x.description),
      expr: x.formula,
      ...(x.codelist ? { codelist: x.codelist } : {}),
    });
    known.add(x.id);
  }
  const declared = new Set(derived.map((x) => x.id));
  // A condition over variables the dictionary does not have (derived ones it cannot declare) cannot load: kept as a note.
  const notes: string[] = [];
  for (const { v } of all) {
    if (typeof v.required !== 'string') continue;
    let vars: string[] = [];
    try {
      vars = expressionVariables(v.required);
    } catch {
      vars = ['(unreadable)'];
    }
    const unknown = vars.filter((x) => !known.has(x));
    if (unknown.length) {
      notes.push(
        `- \`${v.id}\`: required when \`${v.required}\` (uses ${unknown.join(', ')}, not in the dictionary: declare them as derived variables, then restore the condition)`,
      );
      v.required = false;
    }
  }
  const clean = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== false)) as T;
  const registry = {
    id: o.id,
    version: '1.0',
    title: both(o.title),
    short: o.short ?? o.id.toUpperCase(),
    description: both(o.title),
    smallCountThreshold: 5,
    inclusion: { include: 'true' },
  };
  const codebook = {
    codelists: d.codelists.map((c) => ({
      id: c.id,
      title: c.title,
      codes: c.codes.map((x) => clean({ code: x.code, display: x.display, missing: x.missing, properties: x.properties })),
    })),
    forms: d.forms.map((f) =>
      clean({
        id: f.id,
        title: f.title,
        description: f.description,
        repeating: f.repeating || undefined,
        variables: f.variables.map((v) => clean({ ...v, required: v.required === false ? undefined : v.required })),
      }),
    ),
    ...(derived.length ? { derived } : {}),
  };
  const mapping = {
    anchor: { resource: 'Encounter', where: 'true' },
    unitVariable: unit,
    sources: [
      {
        resource: 'Encounter',
        link: 'anchor',
        values: { [unit]: "serviceProvider.identifier.where(system = 'urn:oid:2.16.578.1.12.4.1.4.102').value" },
      },
    ],
  };
  fs.mkdirSync(dir, { recursive: true });
  const header = (what: string) =>
    `# ${what}, scaffolded by kvalreg from a data dictionary: review it, then declare inclusion, mapping and indicators.\n`;
  const files: Array<[string, unknown, string]> = [
    ['registry.yaml', registry, 'The registry'],
    ['codebook.yaml', codebook, 'The codebook'],
    ['mapping.yaml', mapping, 'A starting FHIR mapping (the unit only)'],
  ];
  for (const [name, content, what] of files)
    fs.writeFileSync(path.join(dir, name), header(what) + YAML.stringify(content, { lineWidth: 0 }));
  if (notes.length)
    fs.writeFileSync(path.join(dir, 'conditions-to-restore.md'), `# Conditional requirements to restore\n\n${notes.join('\n')}\n`);
  const undeclared = d.derived.filter((x) => !declared.has(x.id));
  if (undeclared.length) {
    fs.writeFileSync(
      path.join(dir, 'derived-from-dictionary.md'),
      `# Derived variables in the dictionary\n\nTheir formulas are in the source tool's syntax (or count a repeating form, collect its values, or read a PROM result); declare them under \`derived:\` in codebook.yaml in the registry's expression language.\n\n${undeclared.map((x) => `- \`${x.id}\` — ${x.label}: \`${x.formula}\``).join('\n')}\n`,
    );
  }
  return files.map(([n]) => n);
}
