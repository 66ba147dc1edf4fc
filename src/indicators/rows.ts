// What one analytics row contributes to one indicator, as SQL over the row (alias `a`): whether it
// is in the population with a period date, its month, per part whether it is in the denominator and
// what it adds to the numerator, its strata, and who must be counted once (the patient or the event,
// for indicators counting those). The full computation (engine.ts) and the incremental one
// (incremental.ts) both build on this, so they count the same way.
import { compileToSql } from '../registry/expr-sql.ts';
import type { Registry } from '../registry/load.ts';
import type { VariableType } from '../registry/schema.ts';
import { columnTypes, type Indicator } from './load.ts';
import type { Grain } from './schema.ts';

export interface IndicatorRows {
  /** Position in the computation (results are keyed by it until written). */
  k: number;
  ind: Indicator;
  /** SQL of the period date (a date). */
  date: string;
  /** SQL condition: the row has a period date and is in the population. */
  inPopulation: string;
  /** Per part: in the denominator (condition) and what the row adds to the numerator (a count, 0 unless in the denominator). */
  parts: Array<{ d: string; n: string }>;
  /** Strata that split the numerator count (countStrata): per stratum what the row adds (0 unless in the numerator). */
  countStrata: Array<{ name: string; strata: Array<{ stratum: string; n: string }> }>;
  /** Stratifiers whose stratum is the row's own value (a column). */
  caseStrata: string[];
  /** SQL of who is counted once (text), or null when every case counts. */
  entity: string | null;
  grains: Grain[];
  /** Strata are computed per year only, and only for indicators with a year grain. */
  byYear: boolean;
}

/**
 * The grains computed: those declared, and the months under 12-month windows even when months are
 * not declared — windows a month apart give the months away, so disclosure control decides the
 * windows from the months (src/disclosure/periods.ts). Months computed only for that are not served.
 */
export function computedGrains(ind: Indicator): Grain[] {
  const g = [...ind.def.grains];
  if (g.includes('rolling-12-months') && !g.includes('month')) g.push('month');
  return g;
}

export function dateColumn(name: string, type: VariableType): string {
  return type === 'datetime' ? `(a."${name}" AT TIME ZONE 'Europe/Oslo')::date` : `a."${name}"`;
}

/**
 * Compiles an indicator's definition over an analytics row. `param` collects parameter values;
 * `asOf` is the placeholder of the as-of date (what `today()` means in the definition).
 */
export function indicatorRows(registry: Registry, ind: Indicator, k: number, param: (v: unknown) => string, asOf: string): IndicatorRows {
  const types = columnTypes(registry);
  const expr = (source: string) => compileToSql(source, { columns: types, alias: 'a', param, asOf });
  const date = dateColumn(ind.def.periodDate, types.get(ind.def.periodDate)!);
  const where = [`${date} IS NOT NULL`];
  if (ind.def.population) where.push(`(${expr(ind.def.population)}) IS TRUE`);
  if (ind.def.exclusions) where.push(`(${expr(ind.def.exclusions)}) IS NOT TRUE`);
  // A case in the numerator adds 1, or (counting cases) the declared numeratorCount, e.g. its unplanned reoperations.
  const adds = (den: string, num: string, count: string | undefined) =>
    count === undefined
      ? `(CASE WHEN ${den} AND (${num}) IS TRUE THEN 1 ELSE 0 END)`
      : `(CASE WHEN ${den} AND (${num}) IS TRUE THEN coalesce(round(${count})::bigint, 0) ELSE 0 END)`;
  const counting = ind.def.countBy === 'case' && ind.def.numeratorCount !== undefined ? expr(ind.def.numeratorCount) : undefined;
  const parts = ind.parts.map((p) => {
    const d = `((${expr(p.denominator)}) IS TRUE)`;
    return { d, n: adds(d, expr(p.numerator), counting) };
  });
  const countStrata = Object.entries(ind.def.countStrata ?? {}).map(([name, strata]) => ({
    name,
    strata: Object.entries(strata).map(([stratum, source]) => ({
      stratum,
      n: adds(parts[0].d, expr(ind.parts[0].numerator), expr(source)),
    })),
  }));
  return {
    k,
    ind,
    date,
    inPopulation: `(${where.join(' AND ')})`,
    parts,
    countStrata,
    caseStrata: ind.def.stratifiers.filter((s) => !ind.def.countStrata?.[s]),
    entity:
      ind.def.countBy === 'patient'
        ? 'a.person_id::text'
        : ind.def.countBy === 'event'
          ? "coalesce(a.event_key, 'case:' || a.case_id)"
          : null,
    grains: computedGrains(ind),
    byYear: ind.def.grains.includes('year') && ind.def.stratifiers.length > 0,
  };
}

/** The row's units (its unit and every level above it); a case without a unit counts for the nation. */
export const unitPath = (nation: string) => `(CASE WHEN cardinality(a.unit_path) = 0 THEN ARRAY[${nation}::text] ELSE a.unit_path END)`;

/**
 * One row per (row, indicator, part, stratum) in a denominator, from the rows of `table` (alias `a`)
 * that satisfy `where`:
 * k, entity (null when every case counts), part, path, m (month), fin (finalised), stratifier
 * ('' for the total), stratum, n (what the row adds to that numerator). A row in no denominator
 * adds nothing and gives none.
 */
export function flagRowsSql(rows: IndicatorRows[], table: string, where: string, nation: string, asOf: string): string {
  return rows
    .map((r) => {
      const strata = [
        `('', '', p.n)`,
        ...(r.byYear ? r.caseStrata.map((s) => `(${literal(s)}, coalesce(a."${s}"::text, 'unknown'), p.n)`) : []),
        ...(r.byYear ? r.countStrata.flatMap((c) => c.strata.map((st) => `(${literal(c.name)}, ${literal(st.stratum)}, ${st.n})`)) : []),
      ];
      return `SELECT ${r.k} AS k, ${r.entity ?? 'NULL::text'} AS entity, p.part, ${unitPath(nation)} AS path, date_trunc('month', ${r.date})::date AS m,
        a.finalised AS fin, x.stratifier, x.stratum, x.n::bigint AS n
      FROM ${table} a
      CROSS JOIN LATERAL (VALUES ${r.parts.map((p, i) => `(${i}, ${p.d}, ${p.n})`).join(', ')}) p(part, d, n)
      CROSS JOIN LATERAL (VALUES ${strata.join(', ')}) x(stratifier, stratum, n)
      -- the as-of date may be unused by the definitions, but names its placeholder's type
      WHERE (${where}) AND ${asOf}::date IS NOT NULL AND ${r.inPopulation} AND p.d`;
    })
    .join('\nUNION ALL\n');
}

/** A text as an SQL literal (names from the definition: stratifier ids and stratum names). */
export const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;
