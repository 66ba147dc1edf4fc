// The indicator engine as it was before results were kept incrementally: one statement per
// indicator over the whole analytics table (checked, cell by cell, against the analyst's way at
// 1,000,000 cases; docs/performance.md). Kept here as the reference the shared-pass and incremental
// computations must equal, result row for result row (test/indicators-incremental.test.ts).
import { analyticsTable } from '../../src/analytics/columns.ts';
import { compileToSql } from '../../src/registry/expr-sql.ts';
import type { Registry } from '../../src/registry/load.ts';
import type { VariableType } from '../../src/registry/schema.ts';
import type { Indicator } from '../../src/indicators/load.ts';
import { columnTypes } from '../../src/indicators/load.ts';
import type { Grain } from '../../src/indicators/schema.ts';
// Months under 12-month windows are computed for disclosure control (main's engine did the same).
import { computedGrains } from '../../src/indicators/rows.ts';

export interface ComputeOptions {
  asOf: string;
  nation: string;
}

function periodRows(grain: Grain, d: string, asOf: string): string {
  switch (grain) {
    case 'year':
      return `SELECT 'year'::text, to_char(${d}, 'YYYY')`;
    case 'quarter':
      return `SELECT 'quarter'::text, to_char(${d}, 'YYYY-"Q"Q')`;
    case 'month':
      return `SELECT 'month'::text, to_char(${d}, 'YYYY-MM')`;
    // The 12-month window ending with each month: a case counts in the 12 windows that contain it,
    // up to the window ending with the as-of month.
    case 'rolling-12-months':
      return `SELECT 'rolling-12-months'::text, to_char(${d} + make_interval(months => k), 'YYYY-MM')
      FROM generate_series(0, 11) k WHERE date_trunc('month', ${d} + make_interval(months => k)) <= date_trunc('month', ${asOf}::date)`;
  }
}

export function referenceSql(registry: Registry, ind: Indicator, opts: ComputeOptions): { text: string; values: unknown[] } {
  const values: unknown[] = [opts.asOf, opts.nation];
  const param = (v: unknown) => {
    values.push(v);
    return `$${values.length}`;
  };
  const types = columnTypes(registry);
  const expr = (source: string) => compileToSql(source, { columns: types, alias: 'a', param, asOf: '$1' });
  const d = dateColumn(ind.def.periodDate, types.get(ind.def.periodDate)!);
  const where = [`${d} IS NOT NULL`];
  if (ind.def.population) where.push(`(${expr(ind.def.population)}) IS TRUE`);
  if (ind.def.exclusions) where.push(`(${expr(ind.def.exclusions)}) IS NOT TRUE`);
  // Per part: in the denominator (a flag) and what the case adds to the numerator. Counting cases,
  // that is a number (1, or the declared numeratorCount: e.g. its unplanned reoperations); counting
  // patients or events, a flag (each is counted once).
  const addsTo = (num: string, count: string | undefined, den: string) =>
    count === undefined
      ? `CASE WHEN (${den}) IS TRUE AND (${num}) IS TRUE THEN 1 ELSE 0 END`
      : `CASE WHEN (${den}) IS TRUE AND (${num}) IS TRUE THEN coalesce(round(${count})::bigint, 0) ELSE 0 END`;
  const flags = ind.parts.flatMap((p, i) => {
    const den = expr(p.denominator);
    return [
      `(${den}) IS TRUE AS d${i}`,
      ind.def.countBy === 'case'
        ? `${addsTo(expr(p.numerator), ind.def.numeratorCount === undefined ? undefined : expr(ind.def.numeratorCount), den)} AS n${i}`
        : `((${den}) IS TRUE AND (${expr(p.numerator)}) IS TRUE) AS n${i}`,
    ];
  });
  // Strata that split the numerator count (countStrata): each stratum's count per case, in the numerator only.
  const countStrata = Object.entries(ind.def.countStrata ?? {}).map(([name, strata]) => ({
    name,
    strata: Object.entries(strata).map(([stratum, source]) => ({ stratum, source })),
  }));
  const splitColumns = countStrata.flatMap((c, j) =>
    c.strata.map((st, k) => `${addsTo(expr(ind.parts[0].numerator), expr(st.source), expr(ind.parts[0].denominator))} AS c${j}_${k}`),
  );
  const caseStrata = ind.def.stratifiers.filter((s) => !ind.def.countStrata?.[s]);
  const strata = caseStrata.map((s, i) => `coalesce(a."${s}"::text, 'unknown') AS s${i}`);
  // Counting patients or events: each is counted once however many cases it has.
  const distinct =
    ind.def.countBy === 'patient'
      ? 'a.person_id::text'
      : ind.def.countBy === 'event'
        ? "coalesce(a.event_key, 'case:' || a.case_id)"
        : null;
  const patients = distinct !== null;
  const flagColumns = ind.parts.flatMap((_, i) => [`d${i}`, `n${i}`]);
  const anyDenominator = ind.parts.map((_, i) => `b.d${i}`).join(' OR ');
  // Cases are first collapsed to cells with a count, so the expansion over unit levels, periods and
  // datasets works on cells, not cases. The totals' cells are (unit, month, flags); each stratifier
  // has its own cells (unit, year, stratum, flags), because strata are shown per year only: one
  // set of cells over every stratifier at once would multiply their values together. Patients (or
  // events) must stay distinct within a cell, so their cells keep the person.
  // Most patients have one case in the population: they are counted like cases (collapsed, with a
  // count, person_id null); only patients with several cases keep their id, counted distinct.
  const cellsOf = (columns: string[], from: string) =>
    patients
      ? `SELECT NULL::text AS person_id, ${columns.join(', ')}, count(*) AS n FROM ${from} WHERE single GROUP BY ${columns.join(', ')}
       UNION ALL SELECT DISTINCT person_id, ${columns.join(', ')}, 1 AS n FROM ${from} WHERE NOT single`
      : `SELECT ${columns.join(', ')}, count(*) AS n FROM ${from} GROUP BY ${columns.join(', ')}`;
  const sum = (flag: 'd' | 'n') =>
    ind.parts
      .map((_, i) =>
        patients
          ? `coalesce(sum(b.n) FILTER (WHERE b.${flag}${i} AND b.person_id IS NULL), 0) + count(DISTINCT b.person_id) FILTER (WHERE b.${flag}${i})`
          : flag === 'n'
            ? `coalesce(sum(b.n * b.n${i}), 0)`
            : `coalesce(sum(b.n) FILTER (WHERE b.d${i}), 0)`,
      )
      .join(' + ');
  const byYear = ind.def.grains.includes('year') && ind.def.stratifiers.length > 0;
  // One row per case and stratum: a case stratifier's stratum is the case's value (with the case's
  // own numerator); a count stratifier puts the case in each of its strata, adding that stratum's count.
  const strataRows = [
    ...caseStrata.map((s, i) => `(${param(s)}::text, base.s${i}${ind.parts.map((_, p) => `, base.n${p}`).join('')})`),
    ...countStrata.flatMap((c, j) => c.strata.map((st, k) => `(${param(c.name)}::text, ${param(st.stratum)}::text, base.c${j}_${k})`)),
  ];
  const text = `
    WITH base AS (
      -- as_of is not used below, but names $1's type for definitions and grains that never use it
      SELECT ${distinct ?? 'a.person_id'} AS person_id, a.finalised, date_trunc('month', ${d})::date AS d, $1::date AS as_of,
             ${patients ? `count(*) OVER (PARTITION BY ${distinct}) = 1 AS single,` : ''}
             CASE WHEN cardinality(a.unit_path) = 0 THEN ARRAY[$2::text] ELSE a.unit_path END AS path
             ${[...strata, ...flags, ...splitColumns].map((x) => `, ${x}`).join('')}
      FROM ${analyticsTable(registry)} a
      WHERE ${where.join(' AND ')}
    ), cells AS (
      ${cellsOf(['path', 'finalised', 'd', ...flagColumns], 'base')}
    )${
      byYear
        ? `, strata_base AS (
      SELECT base.person_id, ${patients ? 'base.single, ' : ''}base.path, base.finalised, date_trunc('year', base.d)::date AS d, x.stratifier, x.stratum${ind.parts.map((_, i) => `, base.d${i}, x.n${i}`).join('')}
      FROM base CROSS JOIN LATERAL (VALUES ${strataRows.join(', ')}) x(stratifier, stratum${ind.parts.map((_, i) => `, n${i}`).join('')})
    ), strata_cells AS (
      ${cellsOf(['path', 'finalised', 'd', 'stratifier', 'stratum', ...flagColumns], 'strata_base')}
    )`
        : ''
    }
    SELECT ds.dataset, g.grain, g.period, u.resh AS unit_resh, ''::text AS stratifier, ''::text AS stratum,
           (${sum('n')})::integer AS numerator, (${sum('d')})::integer AS denominator
    FROM cells b
    CROSS JOIN LATERAL (VALUES ('fresh'), ('qa')) ds(dataset)
    CROSS JOIN LATERAL unnest(b.path) u(resh)
    CROSS JOIN LATERAL (${computedGrains(ind)
      .map((g) => periodRows(g, 'b.d', '$1'))
      .join(' UNION ALL ')}) g(grain, period)
    WHERE (ds.dataset = 'fresh' OR b.finalised) AND (${anyDenominator})
    GROUP BY 1, 2, 3, 4${
      byYear
        ? `
    UNION ALL
    SELECT ds.dataset, 'year'::text, to_char(b.d, 'YYYY'), u.resh, b.stratifier, b.stratum,
           (${sum('n')})::integer, (${sum('d')})::integer
    FROM strata_cells b
    CROSS JOIN LATERAL (VALUES ('fresh'), ('qa')) ds(dataset)
    CROSS JOIN LATERAL unnest(b.path) u(resh)
    WHERE (ds.dataset = 'fresh' OR b.finalised) AND (${anyDenominator})
    GROUP BY 1, 2, 3, 4, 5, 6`
        : ''
    }`;
  return { text, values };
}

function dateColumn(name: string, type: VariableType): string {
  return type === 'datetime' ? `(a."${name}" AT TIME ZONE 'Europe/Oslo')::date` : `a."${name}"`;
}
