// Correctness by re-abstraction: the registry draws a random sample of cases per unit for a year;
// a registrar at the unit re-registers the key variables from the patient record without seeing
// what the registry holds; the agreement per variable is computed (agreement.ts), and the pairs are
// exported in the validation-dataset layout Norwegian registries' R tools use (index variables,
// vld_varnamn, vld_vartype, vld_verdi_intern_<type>, vld_verdi_ekstern_<type>).
import { stringify } from 'csv-stringify/sync';
import type { PersonTx } from '../access/door.ts';
import { analyticsTable } from '../analytics/columns.ts';
import { decryptNin, type IdentityKeys } from '../identity/crypto.ts';
import type { Registry } from '../registry/load.ts';
import type { VariableDef } from '../registry/schema.ts';
import { coerceValue } from '../registry/values.ts';
import { categoryAgreement, differenceAgreement, type CategoryAgreement, type DifferenceAgreement } from './agreement.ts';
import { KvalregError, kindOfStatus } from '../errors.ts';

export class ValidationError extends KvalregError {
  constructor(message: string, status = 400) {
    super(kindOfStatus(status), message);
  }
}

export interface StudyDef {
  name: string;
  year: number;
  variables: string[];
  perUnit: number;
  unit?: string;
  seed?: string;
}

function variableDefs(registry: Registry, ids: string[]): VariableDef[] {
  return ids.map((id) => {
    const v = registry.variables.get(id);
    if (!v) throw new ValidationError(`"${id}" is not a variable of the ${registry.id} registry.`);
    if (v.form.repeating)
      throw new ValidationError(`"${id}" is on the repeating form "${v.form.id}": choose variables of forms with one instance per case.`);
    return v.def;
  });
}

/** Creates a study and draws its sample: `perUnit` cases of each registering unit in the year, at random (reproducible from the seed). */
export async function createStudy(
  tx: PersonTx,
  registry: Registry,
  periodSql: string,
  d: StudyDef,
  actor: string,
): Promise<{ id: number; drawn: number; units: number }> {
  if (!d.name?.trim()) throw new ValidationError('Give the study a name.');
  if (!Number.isInteger(d.year)) throw new ValidationError('year must be a year like 2024.');
  if (!Array.isArray(d.variables) || d.variables.length === 0)
    throw new ValidationError('Give the variables to re-abstract (the key variables of the indicators).');
  if (!Number.isInteger(d.perUnit) || d.perUnit < 1 || d.perUnit > 1000)
    throw new ValidationError('perUnit must be a whole number from 1 to 1000.');
  variableDefs(registry, d.variables);
  const seed = d.seed ?? Math.random().toString(36).slice(2);
  const {
    rows: [s],
  } = await tx.client.query(
    'INSERT INTO validation_study (registry, name, year, variables, per_unit, seed, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id',
    [registry.id, d.name.trim(), d.year, d.variables, d.perUnit, seed, actor],
  );
  const id = Number(s.id);
  const drawn = await tx.client.query(
    `INSERT INTO validation_sample (registry, study_id, case_id, unit_resh)
    SELECT $1, $2, case_id, unit_resh FROM (
      SELECT a.case_id, a.unit_resh, row_number() OVER (PARTITION BY a.unit_resh ORDER BY md5($3 || ':' || a.case_id)) AS k
      FROM ${analyticsTable(registry)} a WHERE extract(year FROM ${periodSql}) = $4 AND a.unit_resh IS NOT NULL ${d.unit ? 'AND a.unit_path @> ARRAY[$6]::text[]' : ''}) x
    WHERE k <= $5 RETURNING unit_resh`,
    d.unit ? [registry.id, id, seed, d.year, d.perUnit, d.unit] : [registry.id, id, seed, d.year, d.perUnit],
  );
  return { id, drawn: drawn.rowCount ?? 0, units: new Set(drawn.rows.map((r) => r.unit_resh)).size };
}

async function study(tx: PersonTx, registry: Registry, id: number) {
  const s = (
    await tx.client.query('SELECT id, name, year, variables, per_unit, created_at FROM validation_study WHERE registry = $1 AND id = $2', [
      registry.id,
      id,
    ])
  ).rows[0];
  if (!s) throw new ValidationError(`The ${registry.id} registry has no validation study ${id}.`, 404);
  return {
    id: Number(s.id),
    name: s.name as string,
    year: s.year as number,
    variables: s.variables as string[],
    perUnit: s.per_unit as number,
  };
}

/**
 * The sample of a unit, for its registrar: each case with the identity number and date to find it
 * in the record, and the variables to re-register — their definitions, never the registry's values.
 */
export async function sampleFor(tx: PersonTx, registry: Registry, studyId: number, unit: string, periodSql: string, keys: IdentityKeys) {
  const s = await study(tx, registry, studyId);
  const { rows } = await tx.client.query(
    `SELECT v.case_id, v.unit_resh, v.abstracted_at, p.id AS person_id, p.nin_enc, ${periodSql}::text AS period_date
    FROM validation_sample v JOIN ${analyticsTable(registry)} a ON a.case_id = v.case_id JOIN person p ON p.id = a.person_id
    WHERE v.registry = $1 AND v.study_id = $2 AND a.unit_path @> ARRAY[$3]::text[] ORDER BY v.case_id`,
    [registry.id, studyId, unit],
  );
  tx.audit({
    action: 'read',
    object: `registry/${registry.id}/validation/${studyId}/sample`,
    personIds: rows.map((r) => Number(r.person_id)),
    unit,
    registry: registry.id,
  });
  const defs = variableDefs(registry, s.variables);
  return {
    study: s,
    variables: defs.map((v) => ({
      id: v.id,
      type: v.type,
      label: v.label,
      description: v.description,
      unit: v.unit ?? null,
      codes: v.codelist ? [...registry.codelists.get(v.codelist)!.codes].map(([code, display]) => ({ code, display })) : null,
    })),
    cases: rows.map((r) => ({
      caseId: Number(r.case_id),
      unit: r.unit_resh,
      nationalId: decryptNin(keys, r.nin_enc),
      periodDate: r.period_date,
      abstracted: r.abstracted_at !== null,
    })),
  };
}

/** Stores what the record says for one sampled case (null: the record does not say); each value checked as the codebook types it. */
export async function abstractCase(
  tx: PersonTx,
  registry: Registry,
  studyId: number,
  caseId: number,
  values: Record<string, unknown>,
  actor: string,
): Promise<{ caseId: number; stored: number }> {
  const s = await study(tx, registry, studyId);
  const sample = (
    await tx.client.query('SELECT unit_resh FROM validation_sample WHERE registry = $1 AND study_id = $2 AND case_id = $3', [
      registry.id,
      studyId,
      caseId,
    ])
  ).rows[0];
  if (!sample) {
    const owner = (await tx.client.query('SELECT unit FROM kvalreg_case_unit($1, $2)', [registry.id, caseId])).rows[0];
    if (owner?.unit)
      tx.requireUnit(registry.id, owner.unit, ['unit-registrar', 'registry-admin', 'platform-admin'], {
        object: `registry/${registry.id}/validation/${studyId}/case/${caseId}`,
        personId: null,
      });
    throw new ValidationError(`Case ${caseId} is not in the sample of study ${studyId}.`, 404);
  }
  tx.requireUnit(registry.id, sample.unit_resh, ['unit-registrar', 'registry-admin', 'platform-admin'], {
    object: `registry/${registry.id}/validation/${studyId}/case/${caseId}`,
    personId: null,
  });
  const problems: string[] = [];
  const typed: Array<[string, unknown]> = [];
  for (const [k, v] of Object.entries(values ?? {})) {
    if (!s.variables.includes(k)) {
      problems.push(`"${k}" is not one of the study's variables (${s.variables.join(', ')})`);
      continue;
    }
    if (v === null || v === '') {
      typed.push([k, null]);
      continue;
    }
    const c = coerceValue(registry, k, v);
    if (!c.ok) problems.push(c.problem);
    else typed.push([k, c.value]);
  }
  if (problems.length) throw new ValidationError(`Nothing was stored: ${problems.join('; ')}.`, 422);
  for (const [k, v] of typed) {
    await tx.client.query(
      `INSERT INTO validation_value (registry, study_id, case_id, variable, value) VALUES ($1, $2, $3, $4, $5)
      ON CONFLICT (registry, study_id, case_id, variable) DO UPDATE SET value = EXCLUDED.value`,
      [registry.id, studyId, caseId, k, JSON.stringify(v)],
    );
  }
  await tx.client.query(
    'UPDATE validation_sample SET abstracted_by = $4, abstracted_at = now() WHERE registry = $1 AND study_id = $2 AND case_id = $3',
    [registry.id, studyId, caseId, actor],
  );
  const person = (await tx.client.query('SELECT person_id FROM registry_case WHERE registry = $1 AND id = $2', [registry.id, caseId]))
    .rows[0];
  tx.audit({
    action: 'validation:abstract',
    object: `registry/${registry.id}/validation/${studyId}/case/${caseId}`,
    personIds: person ? [Number(person.person_id)] : [],
    unit: sample.unit_resh,
    registry: registry.id,
  });
  return { caseId, stored: typed.length };
}

interface PairRow {
  caseId: number;
  unit: string | null;
  periodDate: string | null;
  variable: string;
  internal: unknown;
  external: unknown;
}

/** Pairs of internal and external values over the abstracted cases. */
async function pairs(
  tx: PersonTx,
  registry: Registry,
  studyId: number,
  periodSql: string,
): Promise<{ s: Awaited<ReturnType<typeof study>>; rows: PairRow[]; personIds: number[] }> {
  const s = await study(tx, registry, studyId);
  const cols = s.variables.map((v) => `to_jsonb(a."${v}") AS "${v}"`).join(', ');
  const { rows } = await tx.client.query(
    `SELECT v.case_id, v.unit_resh, a.person_id, ${periodSql}::text AS period_date, ${cols},
      (SELECT jsonb_object_agg(x.variable, x.value) FROM validation_value x WHERE x.registry = v.registry AND x.study_id = v.study_id AND x.case_id = v.case_id) AS external
    FROM validation_sample v JOIN ${analyticsTable(registry)} a ON a.case_id = v.case_id
    WHERE v.registry = $1 AND v.study_id = $2 AND v.abstracted_at IS NOT NULL ORDER BY v.case_id`,
    [registry.id, studyId],
  );
  const out: PairRow[] = [];
  for (const r of rows)
    for (const v of s.variables)
      out.push({
        caseId: Number(r.case_id),
        unit: r.unit_resh,
        periodDate: r.period_date,
        variable: v,
        internal: r[v] ?? null,
        external: r.external?.[v] ?? null,
      });
  return { s, rows: out, personIds: rows.map((r) => Number(r.person_id)) };
}

const asNumber = (type: string, v: unknown): number | null => {
  if (v === null || v === undefined || v === '') return null;
  if (type === 'date') return Date.parse(`${String(v).slice(0, 10)}T00:00:00Z`) / 86_400_000;
  if (type === 'datetime') return Date.parse(String(v)) / 60_000;
  return Number(v);
};

export async function agreement(
  tx: PersonTx,
  registry: Registry,
  studyId: number,
  periodSql: string,
): Promise<{
  study: Awaited<ReturnType<typeof study>>;
  cases: number;
  variables: Array<{ variable: string; label: unknown; type: string } & (CategoryAgreement | DifferenceAgreement)>;
}> {
  const { s, rows } = await pairs(tx, registry, studyId, periodSql);
  const defs = variableDefs(registry, s.variables);
  return {
    study: s,
    cases: new Set(rows.map((r) => r.caseId)).size,
    variables: defs.map((d) => {
      const p = rows.filter((r) => r.variable === d.id);
      const a = ['integer', 'decimal', 'date', 'datetime'].includes(d.type)
        ? differenceAgreement(
            p.map((x) => ({ internal: asNumber(d.type, x.internal), external: asNumber(d.type, x.external) })),
            d.type === 'date' ? 'days' : d.type === 'datetime' ? 'minutes' : (d.unit ?? ''),
          )
        : categoryAgreement(p.map((x) => ({ internal: x.internal, external: x.external })));
      return { variable: d.id, label: d.label, type: d.type, ...a };
    }),
  };
}

/** The validation dataset (rapwhale's layout): index variables, vld_varnamn, vld_vartype and a pair of value columns per type. */
export async function validationDataset(tx: PersonTx, registry: Registry, studyId: number, periodSql: string): Promise<string> {
  const { rows, personIds } = await pairs(tx, registry, studyId, periodSql);
  tx.audit({ action: 'export', object: `registry/${registry.id}/validation/${studyId}/dataset`, personIds, registry: registry.id });
  const typeOf = (v: string) => {
    const t = registry.variables.get(v)!.def.type;
    return t === 'integer' || t === 'decimal'
      ? 'tal'
      : t === 'boolean'
        ? 'logisk'
        : t === 'date'
          ? 'dato'
          : t === 'datetime'
            ? 'dato_kl'
            : 'tekst';
  };
  const types = [...new Set(rows.map((r) => typeOf(r.variable)))].sort();
  const header = [
    'case_id',
    'unit_resh',
    'period_date',
    'vld_varnamn',
    'vld_vartype',
    ...types.flatMap((t) => [`vld_verdi_intern_${t}`, `vld_verdi_ekstern_${t}`]),
  ];
  const show = (v: unknown) => (v === null || v === undefined ? '' : typeof v === 'boolean' ? (v ? 'TRUE' : 'FALSE') : String(v));
  const out = rows.map((r) => {
    const t = typeOf(r.variable);
    return [
      String(r.caseId),
      r.unit ?? '',
      r.periodDate ?? '',
      r.variable,
      t,
      ...types.flatMap((x) => (x === t ? [show(r.internal), show(r.external)] : ['', ''])),
    ];
  });
  return stringify([header, ...out]);
}
