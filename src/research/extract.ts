// Research extracts: the minimal data an approved project needs, pseudonymised with a
// project-specific pseudonym, without direct identifiers, with dates shifted or coarsened as
// chosen, and with a k-anonymity report on the chosen quasi-identifiers. Deterministic: the same
// definition on the same data gives the same file, so a delivery can be reproduced and checked
// against its recorded hash.
import crypto from 'node:crypto';
import { stringify } from 'csv-stringify/sync';
import { z } from 'zod';
import type { PersonTx } from '../access/door.ts';
import type { IdentityKeys } from '../identity/crypto.ts';
import { compileExpression, holds } from '../registry/expr.ts';
import { PERSON_VARIABLES, type Registry } from '../registry/load.ts';
import { caseValues, type FormState, type PersonValues, type PromResult } from '../records/evaluate.ts';
import { promResultsOf } from '../prom/case-results.ts';
import { currentProjectKey, projectKey, pseudonymOf, shiftDaysOf, type ProjectKey } from './pseudonyms.ts';
import { KvalregError } from '../errors.ts';

export const extractDefinitionSchema = z
  .object({
    project: z.string().min(1).max(100),
    approvalRef: z.string().min(1).max(200),
    expires: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
    variables: z.array(z.string()).min(1),
    period: z.object({ variable: z.string(), from: z.string(), to: z.string() }).strict().optional(),
    filter: z.string().optional(),
    dates: z.enum(['exact', 'shift', 'month', 'year']).default('shift'),
    quasiIdentifiers: z.array(z.string()).default([]),
    k: z.number().int().min(2).max(100).default(5),
  })
  .strict();
export type ExtractDefinition = z.infer<typeof extractDefinitionSchema>;

export interface KReport {
  k: number;
  quasiIdentifiers: string[];
  rows: number;
  classes: number;
  /** Combinations of quasi-identifier values shared by fewer than k persons: re-identification risks. */
  rare: Array<{ values: Record<string, unknown>; count: number }>;
  rowsInRareClasses: number;
}

export interface Extract {
  csv: string;
  dictionary: { csv: string; json: unknown[] };
  kReport: KReport;
  rows: number;
  sha256: string;
  personIds: number[];
}

const PERSON_EXTRA: Record<string, { type: string; label: { nb: string; en: string }; privacy: string }> = {
  birth_year: { type: 'integer', label: { nb: 'Fødselsår', en: 'Year of birth' }, privacy: 'indirect-identifier' },
  sex: { type: 'code', label: { nb: 'Kjønn', en: 'Sex' }, privacy: 'general' },
  deceased_date: { type: 'date', label: { nb: 'Dødsdato', en: 'Date of death' }, privacy: 'indirect-identifier' },
};

function variableInfo(
  registry: Registry,
  id: string,
):
  | {
      type: string;
      label: { nb: string; en: string };
      privacy: string;
      description?: { nb: string; en: string };
      codelist?: string;
      unit?: string;
    }
  | undefined {
  const v = registry.variables.get(id)?.def;
  if (v) return { type: v.type, label: v.label, privacy: v.privacy, description: v.description, codelist: v.codelist, unit: v.unit };
  // A derived variable is as protected as the most protected value it is computed from (or as declared).
  const d = registry.derived.find((x) => x.def.id === id);
  if (d) return { type: d.def.type, label: d.def.label, privacy: d.privacy, description: d.def.description, codelist: d.def.codelist };
  return PERSON_EXTRA[id];
}

/** Checks a definition against the registry: known variables, no direct identifiers, valid expressions. */
export function checkDefinition(registry: Registry, raw: unknown): ExtractDefinition {
  const parsed = extractDefinitionSchema.safeParse(raw);
  if (!parsed.success)
    throw new KvalregError(
      'unprocessable',
      `The extract definition is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')}.`,
    );
  const def = parsed.data;
  const problems: string[] = [];
  for (const v of [...def.variables, ...def.quasiIdentifiers, ...(def.period ? [def.period.variable] : [])]) {
    const info = variableInfo(registry, v);
    if (!info) problems.push(`"${v}" is not a variable of ${registry.id}`);
    else if (info.privacy === 'direct-identifier') problems.push(`"${v}" is a direct identifier and is never delivered`);
    else if (registry.variables.get(v)?.form.repeating)
      problems.push(`"${v}" belongs to a repeating form; an extract has one row per case, and repeating forms are not yet delivered`);
  }
  for (const q of def.quasiIdentifiers)
    if (!def.variables.includes(q)) problems.push(`quasi-identifier "${q}" must also be among the variables`);
  if (def.expires < new Date().toISOString().slice(0, 10)) problems.push(`the project's approval expired on ${def.expires}`);
  if (def.filter) {
    try {
      compileExpression(def.filter, {
        variables: new Set([...registry.variables.keys(), ...registry.derived.map((d) => d.def.id), ...PERSON_VARIABLES]),
      });
    } catch (err) {
      problems.push(`filter: ${(err as Error).message}`);
    }
  }
  if (problems.length) throw new KvalregError('unprocessable', `The extract definition cannot be delivered: ${problems.join('; ')}.`);
  return def;
}

export async function buildExtract(tx: PersonTx, registry: Registry, def: ExtractDefinition, key: ProjectKey): Promise<Extract> {
  // Pseudonyms and date shifts come from the project's key (see pseudonyms.ts): they differ
  // between projects and key generations and cannot be linked back without the platform's keys.
  const pseudonym = (personId: number) => pseudonymOf(key, personId);
  const shiftDays = (personId: number) => shiftDaysOf(key, personId);

  const filter = def.filter
    ? compileExpression(def.filter, {
        variables: new Set([...registry.variables.keys(), ...registry.derived.map((d) => d.def.id), ...PERSON_VARIABLES]),
      })
    : undefined;
  const cases = (
    await tx.client.query(
      `SELECT c.id, c.person_id, p.birth_date, p.sex, p.deceased_date,
       jsonb_agg(jsonb_build_object('form', f.form, 'instance', f.instance, 'data', f.data) ORDER BY f.form, f.instance) AS forms
     FROM registry_case c JOIN person p ON p.id = c.person_id JOIN case_form f ON f.registry = c.registry AND f.case_id = c.id
     WHERE c.registry = $1 AND c.invalid_reason IS NULL -- an invalid registration is merged into another case
     GROUP BY c.registry, c.id, p.id ORDER BY c.id`,
      [registry.id],
    )
  ).rows;

  // PROM results (scores per time point, through the codebook's `prom` derived variables): the
  // registry's own items only (prom/case-results.ts), read only when the codebook declares any.
  const prom = await promResultsOf(
    tx.client,
    registry,
    cases.map((c) => Number(c.id)),
  );
  const header = ['pseudonym', 'case', ...def.variables];
  const rows: Array<Record<string, unknown>> = [];
  const personIds: number[] = [];
  let caseNo = 0;
  for (const c of cases) {
    const person: PersonValues = { birth_date: c.birth_date, sex: c.sex, deceased_date: c.deceased_date };
    // Selection (period, filter) is on the true values.
    const results = prom.get(Number(c.id)) ?? [];
    const values = caseValues(registry, person, c.forms as FormState[], results);
    if (def.period) {
      const v = values[def.period.variable];
      if (v === null || v === undefined || String(v).slice(0, 10) < def.period.from || String(v).slice(0, 10) > def.period.to) continue;
    }
    if (filter && !holds(filter(values))) continue;
    // What is delivered: with shifted dates, every date of the person (birth and death included)
    // moves by the same days *before* derived variables are computed, so derived dates are shifted
    // too, intervals and ages hold, and no derived value (a month, a weekday) gives a true date away.
    // Coarsened dates: derived values come from the true dates (intervals stay exact) and derived
    // dates are coarsened like every other date.
    const delivered =
      def.dates === 'shift' ? shiftedValues(registry, person, c.forms as FormState[], results, shiftDays(c.person_id)) : values;
    const birth = delivered.birth_date;
    delivered.birth_year = birth ? Number(String(birth).slice(0, 4)) : null;
    const row: Record<string, unknown> = { pseudonym: pseudonym(c.person_id), case: ++caseNo };
    for (const v of def.variables)
      row[v] = def.dates === 'shift' ? (delivered[v] ?? '') : transformDate(variableInfo(registry, v)!.type, delivered[v], def.dates, 0);
    rows.push(row);
    personIds.push(c.person_id);
  }
  const csv = stringify(rows, { header: true, columns: header, cast: { boolean: (b) => (b ? 'true' : 'false') } });
  const dictionaryRows = header.map((id) => {
    const info =
      id === 'pseudonym'
        ? { type: 'text', label: { nb: 'Pseudonym (per prosjekt)', en: 'Pseudonym (per project)' } }
        : id === 'case'
          ? { type: 'integer', label: { nb: 'Løpenummer for tilfellet', en: 'Case number in this extract' } }
          : variableInfo(registry, id)!;
    const codelist = 'codelist' in info && info.codelist ? registry.codelists.get(info.codelist) : undefined;
    return {
      variable: id,
      type: info.type,
      label_nb: info.label.nb,
      label_en: info.label.en,
      description_nb: 'description' in info ? (info.description?.nb ?? '') : '',
      unit: 'unit' in info ? (info.unit ?? '') : '',
      dates: ['date', 'datetime'].includes(info.type) ? def.dates : '',
      codes:
        codelist && codelist.codes.size <= 50
          ? [...codelist.codes].map(([code, d]) => `${code}=${d.nb}`).join('|')
          : codelist
            ? `see code list ${codelist.id}`
            : '',
      privacy: id === 'pseudonym' ? 'pseudonym' : id === 'case' ? 'general' : (info as { privacy: string }).privacy,
    };
  });
  return {
    csv,
    rows: rows.length,
    personIds,
    kReport: kAnonymity(rows, def.quasiIdentifiers, def.k),
    dictionary: { csv: stringify(dictionaryRows, { header: true }), json: dictionaryRows },
    sha256: crypto.createHash('sha256').update(csv).digest('hex'),
  };
}

function transformDate(type: string, value: unknown, mode: ExtractDefinition['dates'], shift: number): unknown {
  if (value === null || value === undefined || (type !== 'date' && type !== 'datetime')) return value ?? '';
  const s = String(value);
  if (mode === 'exact') return s;
  if (mode === 'month') return s.slice(0, 7);
  if (mode === 'year') return s.slice(0, 4);
  return shiftDate(type, s, shift);
}

/** Every date of a person moves by the same number of days, so intervals are kept. */
function shiftDate(type: string, s: string, shift: number): string {
  const d = new Date(type === 'date' ? `${s.slice(0, 10)}T00:00:00Z` : s);
  if (Number.isNaN(d.getTime())) return s;
  d.setUTCDate(d.getUTCDate() + shift);
  return type === 'date' ? d.toISOString().slice(0, 10) : d.toISOString();
}

/** The case's values with every date of the person shifted (the days PROM answers were given too), and derived variables computed from them. */
function shiftedValues(registry: Registry, person: PersonValues, forms: FormState[], prom: PromResult[], shift: number) {
  const move = (type: string | undefined, v: unknown) =>
    v === null || v === undefined || v === '' || (type !== 'date' && type !== 'datetime') ? v : shiftDate(type, String(v), shift);
  const shiftedPerson: PersonValues = {
    ...person,
    birth_date: move('date', person.birth_date) as string | null,
    deceased_date: move('date', person.deceased_date) as string | null,
  };
  const shiftedForms = forms.map((f) => ({
    ...f,
    data: Object.fromEntries(Object.entries(f.data).map(([k, v]) => [k, move(registry.variables.get(k)?.def.type, v)])),
  }));
  const shiftedProm = prom.map((r) => ({ ...r, answeredAt: r.answeredAt ? shiftDate('datetime', r.answeredAt, shift) : null }));
  return caseValues(registry, shiftedPerson, shiftedForms, shiftedProm);
}

/** Classes of quasi-identifier values counted in persons (pseudonyms), not rows: one person with several cases is still one person. */
export function kAnonymity(rows: Array<Record<string, unknown>>, quasi: string[], k: number): KReport {
  const classes = new Map<string, { values: Record<string, unknown>; persons: Set<unknown>; rows: number }>();
  for (const r of rows) {
    const values = Object.fromEntries(quasi.map((q) => [q, r[q] ?? '']));
    const key = JSON.stringify(values);
    const c = classes.get(key) ?? { values, persons: new Set(), rows: 0 };
    c.persons.add(r.pseudonym);
    c.rows += 1;
    classes.set(key, c);
  }
  const counted = [...classes.values()].map((c) => ({ values: c.values, count: c.persons.size, rows: c.rows }));
  const rare = quasi.length ? counted.filter((c) => c.count < k).sort((a, b) => a.count - b.count) : [];
  return {
    k,
    quasiIdentifiers: quasi,
    rows: rows.length,
    classes: classes.size,
    rare: rare.map(({ values, count }) => ({ values, count })),
    rowsInRareClasses: rare.reduce((s, c) => s + c.rows, 0),
  };
}

export interface Delivery {
  id: number;
  project: string;
  deliveredAt: string;
  rows: number;
  sha256: string;
  kReport: KReport;
  csv: string;
  dictionary: Extract['dictionary'];
  pseudonymGeneration: number;
}

/** Builds, records and audits a delivery: who got which persons' data, for which project and why. */
export async function deliverExtract(tx: PersonTx, registry: Registry, raw: unknown, keys: IdentityKeys, by: string): Promise<Delivery> {
  const def = checkDefinition(registry, raw);
  const key = await currentProjectKey(tx, keys, registry.id, def.project, by);
  const extract = await buildExtract(tx, registry, def, key);
  const row = (
    await tx.client.query(
      `INSERT INTO extract_delivery (registry, project, approval_ref, expires, definition, delivered_by, row_count, sha256, k_report, pseudonym_generation)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id, delivered_at`,
      [registry.id, def.project, def.approvalRef, def.expires, def, by, extract.rows, extract.sha256, extract.kReport, key.generation],
    )
  ).rows[0];
  tx.audit({ action: 'export', object: `${registry.id}/extract/${row.id}`, personIds: extract.personIds, registry: registry.id });
  return {
    id: row.id,
    project: def.project,
    deliveredAt: row.delivered_at,
    rows: extract.rows,
    sha256: extract.sha256,
    kReport: extract.kReport,
    csv: extract.csv,
    dictionary: extract.dictionary,
    pseudonymGeneration: key.generation,
  };
}

/** Rebuilds a delivery from its recorded definition (and key generation) and says whether it matches what was delivered. */
export async function reproduceExtract(tx: PersonTx, registry: Registry, deliveryId: number, keys: IdentityKeys) {
  const d = (
    await tx.client.query(
      'SELECT project, definition, sha256, delivered_at, pseudonym_generation FROM extract_delivery WHERE registry = $1 AND id = $2',
      [registry.id, deliveryId],
    )
  ).rows[0];
  if (!d) throw new KvalregError('not-found', `Delivery ${deliveryId} does not exist in ${registry.id}.`);
  const def = extractDefinitionSchema.parse(d.definition);
  const extract = await buildExtract(tx, registry, def, await projectKey(tx, keys, registry.id, d.project, Number(d.pseudonym_generation)));
  tx.audit({
    action: 'export',
    object: `${registry.id}/extract/${deliveryId}/reproduced`,
    personIds: extract.personIds,
    registry: registry.id,
  });
  // Only the verdict: reproducing is a check, not a second delivery.
  return {
    deliveryId,
    deliveredAt: d.delivered_at,
    sameAsDelivered: extract.sha256 === d.sha256,
    sha256: extract.sha256,
    deliveredSha256: d.sha256,
    rows: extract.rows,
  };
}
