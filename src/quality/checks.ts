// The data-quality checks of a registry, generated from its codebook: for each variable of a
// non-repeating form its completeness (with the declared "unknown" codes counted apart) and its
// validity (hard range, plausible range, code list, dates not after the computation date); for
// each of the codebook's rules whose variables are in the analytics table, its consistency; and
// the timeliness of registration and finalisation. Each check is a SQL predicate over the
// analytics table (compiled with the same expression compiler as the indicators), so one pass
// counts them all, and the same predicate finds the cases behind a finding.
import { analyticsColumns } from '../analytics/columns.ts';
import { compileToSql } from '../registry/expr-sql.ts';
import { expressionVariables } from '../registry/expr.ts';
import type { Registry } from '../registry/load.ts';
import type { Text, VariableType } from '../registry/schema.ts';
import type { Indicator } from '../indicators/load.ts';
import type { QualityDef } from './declaration.ts';

/** Why a variable's completeness is shown first. */
export type Role = 'indicator' | 'adjustment' | 'other';

export interface CompletenessCheck {
  kind: 'completeness';
  variable: string;
  label: Text;
  form: string;
  role: Role;
  required: boolean | string;
  /** Predicates (SQL over alias `a`): the case should have the value; it has; it has a declared "unknown" code. */
  eligible: string;
  present: string;
  unknown: string | null;
}
export interface ValidityCheck {
  kind: 'validity';
  variable: string;
  label: Text;
  form: string;
  /** `range`, `codelist`, `future-date`: invalid; `plausible`: accepted but implausible. */
  rule: 'range' | 'codelist' | 'future-date' | 'plausible';
  description: Text;
  checked: string;
  /** Holds only where `checked` does (unknown for a missing value): measures.ts counts it alone. */
  failing: string;
}
export interface ConsistencyCheck {
  kind: 'consistency';
  rule: string;
  message: Text;
  severity: 'error' | 'warning';
  variables: string[];
  checked: string;
  /** Holds only where `checked` does: measures.ts counts it alone. */
  failing: string;
  /** Both in one: null where the rule is not checked, false where it fails (measures.ts evaluates it once per case). */
  outcome: string;
}
export type Check = CompletenessCheck | ValidityCheck | ConsistencyCheck;

export interface CheckSet {
  checks: Check[];
  /** Rules and variables that cannot be measured over the analytics table, and why. */
  notMeasured: Array<{ kind: 'consistency' | 'completeness'; id: string; reason: Text }>;
  periodSql: string;
  timeliness: { registration: string; finalisation: string; registrationDays: number; finalisationDays: number } | null;
  params: unknown[];
  columns: Map<string, VariableType>;
}

const OSLO = `'Europe/Oslo'`;
const qualified = (name: string) => `a."${name}"`;
const unqualified = (name: string) => `"${name}"`;
/** A date variable's date (a time's date in Oslo), over alias `a` or (`col` given) otherwise. */
export const dateOf = (name: string, type: VariableType | undefined, col = qualified) =>
  type === 'datetime' ? `(${col(name)} AT TIME ZONE ${OSLO})::date` : col(name);

/**
 * How the predicates are written: `read` for a statement over alias `a` with the code lists as
 * parameters; `stored` for the analytics table's own generated columns (stored.ts), which name
 * their columns bare and can hold no parameters, so values are written in as literals.
 */
export type CheckSqlStyle = 'read' | 'stored';

/** A value written into SQL as a literal: a string, or an array of strings as text[]. */
function sqlLiteral(v: unknown): string {
  // E'…' reads the same whatever standard_conforming_strings says.
  const quote = (x: unknown) => `E'${String(x).replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
  return Array.isArray(v) ? `ARRAY[${v.map(quote).join(', ')}]::text[]` : quote(v);
}
/**
 * The year of a date expression, as an integer. `extract` returns numeric (PostgreSQL 14 and
 * later), which costs a sixth of a plain counting pass over the cases to compute and compare;
 * `date_part` gives the same year as a float.
 */
export const yearOf = (date: string) => `date_part('year', ${date})::int`;

/** Variables the indicators read, through the derived variables they use, down to form variables. */
export function indicatorVariables(registry: Registry, indicators: Indicator[]): Set<string> {
  const direct = new Set<string>();
  const add = (src: string | undefined) => {
    if (!src) return;
    try {
      for (const v of expressionVariables(src)) direct.add(v);
    } catch {
      /* checked at load */
    }
  };
  for (const ind of indicators) {
    const d = ind.def;
    add(d.population);
    add(d.exclusions);
    add(d.numeratorCount);
    for (const p of ind.parts) {
      add(p.denominator);
      add(p.numerator);
    }
    direct.add(d.periodDate);
    for (const s of d.stratifiers) direct.add(s);
  }
  const out = new Set<string>();
  const visit = (v: string, seen: Set<string>) => {
    if (seen.has(v)) return;
    seen.add(v);
    const derived = registry.derived.find((x) => x.def.id === v);
    if (derived) {
      for (const i of derived.inputs) visit(i, seen);
      return;
    }
    out.add(v);
  };
  for (const v of direct) visit(v, new Set());
  return out;
}

export function buildChecks(registry: Registry, def: QualityDef, indicators: Indicator[], style: CheckSqlStyle = 'read'): CheckSet {
  const columns = new Map(analyticsColumns(registry).map((c) => [c.name, c.type]));
  const params: unknown[] = [];
  const param =
    style === 'stored'
      ? sqlLiteral
      : (v: unknown) => {
          params.push(v);
          return `$${params.length}`;
        };
  const col = style === 'stored' ? unqualified : qualified;
  // `today()` and dates in the future are judged against the computation date: always the last parameter slot, filled at run time.
  const asOf = '$AS_OF';
  const compile = (src: string) =>
    compileToSql(src, { columns, alias: 'a', param, asOf, ...(style === 'stored' ? { column: unqualified } : {}) });
  const forIndicators = indicatorVariables(registry, indicators);
  const adjustment = new Set(
    def.adjustment.flatMap((v) => {
      const d = registry.derived.find((x) => x.def.id === v);
      return d ? [v, ...d.inputs] : [v];
    }),
  );
  const checks: Check[] = [];
  const notMeasured: CheckSet['notMeasured'] = [];

  const completeness: CompletenessCheck[] = [];
  for (const form of registry.forms) {
    for (const v of form.variables) {
      if (form.repeating) {
        notMeasured.push({
          kind: 'completeness',
          id: v.id,
          reason: {
            nb: `på det gjentatte skjemaet «${form.title.nb}»: måles per forekomst, ikke ennå`,
            en: `on the repeating form "${form.title.en}": measured per instance, not yet`,
          },
        });
        continue;
      }
      let eligible = 'TRUE';
      if (typeof v.required === 'string') {
        try {
          eligible = `(${compile(v.required)}) IS TRUE`;
        } catch (err) {
          notMeasured.push({
            kind: 'completeness',
            id: v.id,
            reason: {
              nb: `kravet «${v.required}» kan ikke beregnes over analysetabellen: ${(err as Error).message}`,
              en: `the requirement "${v.required}" cannot be computed over the analytics table: ${(err as Error).message}`,
            },
          });
          continue;
        }
      }
      const list = v.codelist ? registry.codelists.get(v.codelist) : undefined;
      const unknown = list && list.missing.size ? `${col(v.id)} = ANY(${param([...list.missing])}::text[])` : null;
      const role: Role = forIndicators.has(v.id) ? 'indicator' : adjustment.has(v.id) ? 'adjustment' : 'other';
      completeness.push({
        kind: 'completeness',
        variable: v.id,
        label: v.label,
        form: form.id,
        role,
        required: v.required,
        eligible,
        present: `${col(v.id)} IS NOT NULL`,
        unknown,
      });
    }
  }
  // Indicator and adjustment variables first, then required ones, then the rest; in codebook order within each.
  const rank = (c: CompletenessCheck) => (c.role === 'indicator' ? 0 : c.role === 'adjustment' ? 1 : c.required !== false ? 2 : 3);
  checks.push(
    ...completeness
      .map((c, i) => ({ c, i }))
      .sort((x, y) => rank(x.c) - rank(y.c) || x.i - y.i)
      .map((x) => x.c),
  );

  for (const form of registry.forms) {
    if (form.repeating) continue;
    for (const v of form.variables) {
      const present = `${col(v.id)} IS NOT NULL`;
      const base = { kind: 'validity' as const, variable: v.id, label: v.label, form: form.id, checked: present };
      if ((v.type === 'integer' || v.type === 'decimal') && v.range && (v.range.min !== undefined || v.range.max !== undefined)) {
        const out = [
          v.range.min !== undefined ? `${col(v.id)} < ${Number(v.range.min)}` : null,
          v.range.max !== undefined ? `${col(v.id)} > ${Number(v.range.max)}` : null,
        ]
          .filter(Boolean)
          .join(' OR ');
        checks.push({
          ...base,
          rule: 'range',
          description: {
            nb: `innenfor ${v.range.min ?? '–'}–${v.range.max ?? '–'}`,
            en: `within ${v.range.min ?? '–'}–${v.range.max ?? '–'}`,
          },
          failing: `(${out})`,
        });
      }
      if (
        (v.type === 'integer' || v.type === 'decimal') &&
        v.plausible &&
        (v.plausible.min !== undefined || v.plausible.max !== undefined)
      ) {
        const out = [
          v.plausible.min !== undefined ? `${col(v.id)} < ${Number(v.plausible.min)}` : null,
          v.plausible.max !== undefined ? `${col(v.id)} > ${Number(v.plausible.max)}` : null,
        ]
          .filter(Boolean)
          .join(' OR ');
        checks.push({
          ...base,
          rule: 'plausible',
          description: {
            nb: `rimelig ${v.plausible.min ?? '–'}–${v.plausible.max ?? '–'}${v.plausible.comment ? ` (${v.plausible.comment.nb})` : ''}`,
            en: `plausible ${v.plausible.min ?? '–'}–${v.plausible.max ?? '–'}${v.plausible.comment ? ` (${v.plausible.comment.en})` : ''}`,
          },
          failing: `(${out})`,
        });
      }
      if (v.type === 'code' && v.codelist) {
        const list = registry.codelists.get(v.codelist)!;
        checks.push({
          ...base,
          rule: 'codelist',
          description: { nb: `kode i «${list.title.nb}»`, en: `a code of "${list.title.en}"` },
          failing: `NOT (${col(v.id)} = ANY(${param([...list.codes.keys()])}::text[]))`,
        });
      }
      if (v.type === 'date' || v.type === 'datetime') {
        checks.push({
          ...base,
          rule: 'future-date',
          description: { nb: 'ikke etter beregningsdatoen', en: 'not after the computation date' },
          // A time is after the date when it is at or after the next midnight in Oslo: compared with
          // that instant (worked out once, an InitPlan) rather than converting every case's time.
          failing:
            v.type === 'datetime'
              ? `${col(v.id)} >= (SELECT ((${asOf}::date + 1)::timestamp AT TIME ZONE ${OSLO}))`
              : `${col(v.id)} > ${asOf}::date`,
        });
      }
    }
  }

  for (const r of registry.rules) {
    const vars = [...r.def.variables, ...safeVariables(r.def.assert), ...(r.def.when ? safeVariables(r.def.when) : [])];
    const missing = vars.filter((v) => !columns.has(v));
    if (missing.length) {
      notMeasured.push({
        kind: 'consistency',
        id: r.def.id,
        reason: {
          nb: `bruker ${missing.join(', ')}, som ikke er i analysetabellen (gjentatt skjema)`,
          en: `uses ${missing.join(', ')}, which is not in the analytics table (a repeating form)`,
        },
      });
      continue;
    }
    try {
      const when = r.def.when ? `(${compile(r.def.when)}) IS TRUE` : 'TRUE';
      const assert = compile(r.def.assert);
      // As on the forms: a rule whose operands are unknown is not violated (records/evaluate.ts).
      checks.push({
        kind: 'consistency',
        rule: r.def.id,
        message: r.def.message,
        severity: r.def.severity,
        variables: r.def.variables,
        checked: `(${when} AND (${assert}) IS NOT NULL)`,
        failing: `(${when} AND (${assert}) IS FALSE)`,
        outcome: when === 'TRUE' ? `(${assert})` : `(CASE WHEN ${when} THEN (${assert}) END)`,
      });
    } catch (err) {
      notMeasured.push({ kind: 'consistency', id: r.def.id, reason: { nb: (err as Error).message, en: (err as Error).message } });
    }
  }

  let timeliness: CheckSet['timeliness'] = null;
  if (def.timeliness) {
    const ev = dateOf(def.timeliness.eventDate, columns.get(def.timeliness.eventDate), col);
    timeliness = {
      registration: `((${col('case_created_at')} AT TIME ZONE ${OSLO})::date - ${ev})`,
      // A finalised case cannot change without being reopened: its last change is its finalisation.
      finalisation: `(CASE WHEN ${col('finalised')} THEN (${col('data_updated_at')} AT TIME ZONE ${OSLO})::date - ${ev} END)`,
      registrationDays: def.timeliness.registrationDays,
      finalisationDays: def.timeliness.finalisationDays,
    };
  }
  return { checks, notMeasured, periodSql: dateOf(def.periodDate, columns.get(def.periodDate), col), timeliness, params, columns };
}

function safeVariables(src: string): string[] {
  try {
    return expressionVariables(src);
  } catch {
    return [];
  }
}

/** A stable key for a check, used in findings and drill-down URLs: `completeness/injury_energy`, `validity/ao_code/codelist`, `consistency/rule-id`. */
export function checkKey(c: Check): string {
  return c.kind === 'completeness'
    ? `completeness/${c.variable}`
    : c.kind === 'validity'
      ? `validity/${c.variable}/${c.rule}`
      : `consistency/${c.rule}`;
}
