// Registry-level statistics that are not proportions (`statistics:` in a registry's
// indicators.yaml): per-case values summed over a population, per unit at every level and period,
// in one set-based statement over the analytics table, then combined by the declared `value`
// expression over the sums and the count `n`. Computed on request (aggregates only; results over
// fewer cases than the minimum are withheld); nothing is stored.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { PersonTx } from '../access/door.ts';
import { analyticsTable } from '../analytics/columns.ts';
import { compileExpression, ExpressionError, type Compiled } from '../registry/expr.ts';
import { periodDisclosure } from '../disclosure/periods.ts';
import type { Reason } from '../disclosure/table.ts';
import { compileToSql, compileToSqlTyped } from '../registry/expr-sql.ts';
import { DefinitionError, type Registry } from '../registry/load.ts';
import type { UnitTree } from '../units/tree.ts';
import { dateColumn, periodRows } from './engine.ts';
import { columnTypes } from './load.ts';
import { indicatorsFileSchema, type Grain, type StatisticDef } from './schema.ts';

export interface Statistic {
  registry: string;
  def: StatisticDef;
  sums: string[];
  value: Compiled;
  /** The variance of the value, when declared: results then carry a 95 % interval. */
  variance?: Compiled;
  /** Results over fewer cases are withheld: the declared minimum, never under the registry's threshold. */
  minimumCount: number;
  /** The sums of a condition: counts of cases, protected like counts (under the threshold withheld). */
  countSums: string[];
  threshold: number;
}

export interface StatisticResult {
  statistic: string;
  dataset: 'fresh' | 'qa';
  grain: Grain;
  period: string;
  unit: string;
  /** `too-few`: disclosure control withholds the count, or a sum that counts cases (and with it the value). */
  status: 'ok' | 'too-few';
  /** The number of cases counted, the sums and the value; null when withheld (a sum may be withheld alone). */
  n: number | null;
  sums: Record<string, number | null> | null;
  value: number | null;
  /** 95 % interval of the value, when the statistic declares its variance. */
  interval: { lower: number; upper: number } | null;
  /** The declared minimum number of cases for a result to be shown. */
  minimumCount: number;
}

/** The statistics declared in the registry's indicators.yaml, with every expression checked against the analytics columns. */
export function loadStatistics(registry: Registry): Statistic[] {
  const file = path.join(registry.dir, 'indicators.yaml');
  if (!fs.existsSync(file)) return [];
  const rel = path.relative(process.cwd(), file);
  const parsed = indicatorsFileSchema.safeParse(YAML.parse(fs.readFileSync(file, 'utf8')));
  if (!parsed.success) return []; // reported with file and path by loadIndicators, which reads the same file first
  const types = columnTypes(registry);
  const problems: string[] = [];
  const out = parsed.data.statistics.map((def, i): Statistic => {
    const where = `${rel}: statistics[${i}] (${def.id})`;
    const sql = (source: string, field: string) => {
      try {
        compileToSql(source, { columns: types, alias: 'a', param: () => '$1', asOf: '$2' });
      } catch (err) {
        problems.push(`${where}.${field}: ${err instanceof ExpressionError ? err.message : String(err)}`);
      }
    };
    const countSums: string[] = [];
    for (const [name, source] of Object.entries(def.sums)) {
      try {
        if (compileToSqlTyped(source, { columns: types, alias: 'a', param: () => '$1', asOf: '$2' }).type === 'boolean')
          countSums.push(name);
      } catch {
        /* reported below */
      }
    }
    const threshold = registry.meta.smallCountThreshold;
    if (def.minimumCount !== undefined && def.minimumCount < threshold) {
      problems.push(
        `${where}.minimumCount: ${def.minimumCount} is under the registry's smallCountThreshold (${threshold}); a count under the threshold is never shown — remove minimumCount or make it at least ${threshold}`,
      );
    }
    if (types.get(def.periodDate) !== 'date' && types.get(def.periodDate) !== 'datetime')
      problems.push(`${where}.periodDate: "${def.periodDate}" is not a date variable of the codebook`);
    if (def.population) sql(def.population, 'population');
    for (const [name, source] of Object.entries(def.sums)) sql(source, `sums.${name}`);
    let value: Compiled = () => null;
    try {
      value = compileExpression(def.value, { variables: new Set([...Object.keys(def.sums), 'n']) });
    } catch (err) {
      problems.push(
        `${where}.value: ${err instanceof ExpressionError ? err.message : String(err)} (it may use the sums ${Object.keys(def.sums).join(', ')} and n)`,
      );
    }
    let variance: Compiled | undefined;
    if (def.variance) {
      try {
        variance = compileExpression(def.variance, { variables: new Set([...Object.keys(def.sums), 'n']) });
      } catch (err) {
        problems.push(
          `${where}.variance: ${err instanceof ExpressionError ? err.message : String(err)} (it may use the sums ${Object.keys(def.sums).join(', ')} and n)`,
        );
      }
    }
    return {
      registry: registry.id,
      def,
      sums: Object.keys(def.sums),
      value,
      ...(variance ? { variance } : {}),
      minimumCount: Math.max(def.minimumCount ?? 0, threshold),
      countSums,
      threshold,
    };
  });
  if (problems.length) throw new DefinitionError(problems);
  return out;
}

/** Which results a request wants. */
export interface StatisticFilter {
  dataset?: 'fresh' | 'qa';
  grain?: Grain;
  period?: string;
  units?: string[];
}

/** The grains computed: the declared ones, and months under 12-month windows (as for indicators, engine.ts computedGrains). */
function computedGrains(stat: Statistic): Grain[] {
  const g = [...stat.def.grains];
  if (g.includes('rolling-12-months') && !g.includes('month')) g.push('month');
  return g;
}

/** The statement: count and sums per dataset, grain, period and unit (every level of the unit tree). */
export function statisticSql(
  registry: Registry,
  stat: Statistic,
  opts: { asOf: string; nation: string },
  filter: StatisticFilter = {},
): { text: string; values: unknown[] } {
  const values: unknown[] = [opts.asOf, opts.nation];
  const param = (v: unknown) => {
    values.push(v);
    return `$${values.length}`;
  };
  const types = columnTypes(registry);
  const expr = (source: string) => compileToSql(source, { columns: types, alias: 'a', param, asOf: '$1' });
  // A condition sums as 1 when it holds (0 when not); a number as itself.
  const sums = stat.sums.map((name) => {
    const c = compileToSqlTyped(stat.def.sums[name], { columns: types, alias: 'a', param, asOf: '$1' });
    return {
      name,
      sql:
        c.type === 'boolean'
          ? `(CASE WHEN ${c.sql} THEN 1 WHEN NOT ${c.sql} THEN 0 END)::double precision`
          : `(${c.sql})::double precision`,
    };
  });
  const d = dateColumn(stat.def.periodDate, types.get(stat.def.periodDate)!);
  const where = [`${d} IS NOT NULL`, ...sums.map((s) => `${s.sql} IS NOT NULL`)];
  if (stat.def.population) where.push(`(${expr(stat.def.population)}) IS TRUE`);
  // A period's results need only its calendar year's cases — every unit and every grain within that
  // year, which disclosure control decides together (12-month windows reach into the year before:
  // then everything is computed).
  const grains = computedGrains(stat);
  if (filter.period && !grains.includes('rolling-12-months'))
    where.push(`date_trunc('year', ${d}) = make_date(${param(Number(filter.period.slice(0, 4)))}::int, 1, 1)`);
  const outer = ["(ds.dataset = 'fresh' OR b.finalised)"];
  if (filter.dataset) outer.push(`ds.dataset = ${param(filter.dataset)}`);
  const text = `
    WITH base AS (
      SELECT a.finalised, date_trunc('month', ${d})::date AS d,
             CASE WHEN cardinality(a.unit_path) = 0 THEN ARRAY[$2::text] ELSE a.unit_path END AS path
             ${sums.map((s, i) => `, ${s.sql} AS v${i}`).join('')}
      FROM ${analyticsTable(registry)} a
      WHERE ${where.join(' AND ')}
    )
    SELECT ds.dataset, g.grain, g.period, u.resh AS unit, count(*)::integer AS n ${sums.map((_, i) => `, sum(b.v${i})::double precision AS s${i}`).join('')}
    FROM base b
    CROSS JOIN LATERAL (VALUES ('fresh'), ('qa')) ds(dataset)
    CROSS JOIN LATERAL unnest(b.path) u(resh)
    CROSS JOIN LATERAL (${grains.map((g) => periodRows(g, 'b.d', '$1')).join(' UNION ALL ')}) g(grain, period)
    WHERE ${outer.join(' AND ')}
    GROUP BY 1, 2, 3, 4`;
  return { text, values };
}

/**
 * Computes a statistic for every unit and period of the request's year, decides disclosure over all
 * of them together (src/disclosure/periods.ts: the count under the minimum withheld, sums that count
 * cases under the threshold withheld, then whatever would give those away), and returns those asked for.
 * A sum that is not a count is shown with the count; the value only when every counting sum is shown.
 */
export async function computeStatistic(
  tx: PersonTx,
  registry: Registry,
  stat: Statistic,
  opts: { asOf: string; nation: string; units: UnitTree },
  filter: StatisticFilter = {},
): Promise<StatisticResult[]> {
  if (filter.grain && !stat.def.grains.includes(filter.grain)) return [];
  const { text, values } = statisticSql(registry, stat, opts, filter);
  const { rows } = await tx.client.query(text, values);
  const scale = 10 ** stat.def.decimals;
  const out: StatisticResult[] = [];
  for (const dataset of new Set(rows.map((r) => r.dataset as string))) {
    const cells = rows.filter((r) => r.dataset === dataset);
    const n = cells.map((r) => Number(r.n));
    const sumAt = (name: string) => cells.map((r) => Number(r[`s${stat.sums.indexOf(name)}`]));
    const layers = [
      { values: n, zerosShown: true, primary: (i: number) => (n[i] > 0 && n[i] < stat.minimumCount ? ('too-few' as const) : null) },
      ...stat.countSums.map((name) => {
        const v = sumAt(name);
        return {
          values: v,
          zerosShown: false,
          primary: (i: number, before: Array<Array<Reason | null>>) =>
            before[0][i] ?? (v[i] > 0 && v[i] < stat.threshold ? ('small' as const) : null),
        };
      }),
    ];
    const decided = periodDisclosure(
      cells.map((r) => ({ grain: r.grain, period: r.period, unit: r.unit, stratifier: '', stratum: '' })),
      layers,
      opts.units,
      stat.threshold,
    );
    cells.forEach((r, i) => {
      if (
        !stat.def.grains.includes(r.grain) ||
        (filter.grain && r.grain !== filter.grain) ||
        (filter.period && r.period !== filter.period) ||
        (filter.units && !filter.units.includes(r.unit))
      )
        return;
      const nShown = decided[0][i] === null;
      const sumWithheld = Object.fromEntries(
        stat.sums.map((name) => [
          name,
          nShown ? (stat.countSums.includes(name) ? decided[1 + stat.countSums.indexOf(name)][i] : null) : decided[0][i],
        ]),
      );
      const ok = nShown && Object.values(sumWithheld).every((w) => w === null);
      const sums = Object.fromEntries(stat.sums.map((name, k) => [name, Number(r[`s${k}`])]));
      const v = ok ? stat.value({ ...sums, n: n[i] }) : null;
      const value = typeof v === 'number' && Number.isFinite(v) ? v : null;
      // value ± 1.96 standard errors, from the declared variance.
      const variance = value !== null && stat.variance ? stat.variance({ ...sums, n: n[i] }) : null;
      const se = typeof variance === 'number' && Number.isFinite(variance) && variance >= 0 ? Math.sqrt(variance) : null;
      out.push({
        statistic: stat.def.id,
        dataset: r.dataset,
        grain: r.grain,
        period: r.period,
        unit: r.unit,
        status: ok ? 'ok' : 'too-few',
        n: nShown ? n[i] : null,
        sums: nShown
          ? Object.fromEntries(Object.entries(sums).map(([k, x]) => [k, sumWithheld[k] === null ? Math.round(x * scale) / scale : null]))
          : null,
        value: value === null ? null : Math.round(value * scale) / scale,
        interval:
          value !== null && se !== null
            ? { lower: Math.round((value - 1.96 * se) * scale) / scale, upper: Math.round((value + 1.96 * se) * scale) / scale }
            : null,
        minimumCount: stat.minimumCount,
      });
    });
  }
  return out.sort(
    (a, b) =>
      a.statistic.localeCompare(b.statistic) ||
      a.dataset.localeCompare(b.dataset) ||
      a.grain.localeCompare(b.grain) ||
      a.period.localeCompare(b.period) ||
      a.unit.localeCompare(b.unit),
  );
}
