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
import { compileToSql, compileToSqlTyped } from '../registry/expr-sql.ts';
import { DefinitionError, type Registry } from '../registry/load.ts';
import { dateColumn, periodRows } from './engine.ts';
import { columnTypes } from './load.ts';
import { indicatorsFileSchema, type Grain, type StatisticDef } from './schema.ts';

export interface Statistic { registry: string; def: StatisticDef; sums: string[]; value: Compiled; variance?: Compiled; minimumCount: number }

export interface StatisticResult {
  statistic: string;
  dataset: 'fresh' | 'qa';
  grain: Grain;
  period: string;
  unit: string;
  status: 'ok' | 'too-few';
  /** The number of cases counted, the sums and the value; null when too few to show. */
  n: number | null;
  sums: Record<string, number> | null;
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
      try { compileToSql(source, { columns: types, alias: 'a', param: () => '$1', asOf: '$2' }); } catch (err) {
        problems.push(`${where}.${field}: ${err instanceof ExpressionError ? err.message : String(err)}`);
      }
    };
    if (types.get(def.periodDate) !== 'date' && types.get(def.periodDate) !== 'datetime') problems.push(`${where}.periodDate: "${def.periodDate}" is not a date variable of the codebook`);
    if (def.population) sql(def.population, 'population');
    for (const [name, source] of Object.entries(def.sums)) sql(source, `sums.${name}`);
    let value: Compiled = () => null;
    try { value = compileExpression(def.value, { variables: new Set([...Object.keys(def.sums), 'n']) }); } catch (err) {
      problems.push(`${where}.value: ${err instanceof ExpressionError ? err.message : String(err)} (it may use the sums ${Object.keys(def.sums).join(', ')} and n)`);
    }
    let variance: Compiled | undefined;
    if (def.variance) {
      try { variance = compileExpression(def.variance, { variables: new Set([...Object.keys(def.sums), 'n']) }); } catch (err) {
        problems.push(`${where}.variance: ${err instanceof ExpressionError ? err.message : String(err)} (it may use the sums ${Object.keys(def.sums).join(', ')} and n)`);
      }
    }
    return { registry: registry.id, def, sums: Object.keys(def.sums), value, ...(variance ? { variance } : {}), minimumCount: def.minimumCount ?? registry.meta.smallCountThreshold };
  });
  if (problems.length) throw new DefinitionError(problems);
  return out;
}

/** Which results a request wants; filtered in the statement, so a page asking for one year does not compute all. */
export interface StatisticFilter { dataset?: 'fresh' | 'qa'; grain?: Grain; period?: string; units?: string[] }

/** The statement: count and sums per dataset, grain, period and unit (every level of the unit tree). */
export function statisticSql(registry: Registry, stat: Statistic, opts: { asOf: string; nation: string }, filter: StatisticFilter = {}): { text: string; values: unknown[] } {
  const values: unknown[] = [opts.asOf, opts.nation];
  const param = (v: unknown) => { values.push(v); return `$${values.length}`; };
  const types = columnTypes(registry);
  const expr = (source: string) => compileToSql(source, { columns: types, alias: 'a', param, asOf: '$1' });
  // A condition sums as 1 when it holds (0 when not); a number as itself.
  const sums = stat.sums.map((name) => {
    const c = compileToSqlTyped(stat.def.sums[name], { columns: types, alias: 'a', param, asOf: '$1' });
    return { name, sql: c.type === 'boolean' ? `(CASE WHEN ${c.sql} THEN 1 WHEN NOT ${c.sql} THEN 0 END)::double precision` : `(${c.sql})::double precision` };
  });
  const d = dateColumn(stat.def.periodDate, types.get(stat.def.periodDate)!);
  const where = [`${d} IS NOT NULL`, ...sums.map((s) => `${s.sql} IS NOT NULL`)];
  if (stat.def.population) where.push(`(${expr(stat.def.population)}) IS TRUE`);
  // A year's results need only that year's cases.
  if (filter.grain === 'year' && filter.period && /^\d{4}$/.test(filter.period)) where.push(`date_trunc('year', ${d}) = make_date(${param(Number(filter.period))}::int, 1, 1)`);
  const grains = stat.def.grains.filter((g) => !filter.grain || g === filter.grain);
  const outer = ['(ds.dataset = \'fresh\' OR b.finalised)'];
  if (filter.dataset) outer.push(`ds.dataset = ${param(filter.dataset)}`);
  if (filter.period) outer.push(`g.period = ${param(filter.period)}`);
  if (filter.units) outer.push(`u.resh = ANY(${param(filter.units)}::text[])`);
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

/** Computes a statistic for every unit and period; results over fewer cases than the minimum are withheld. */
export async function computeStatistic(tx: PersonTx, registry: Registry, stat: Statistic, opts: { asOf: string; nation: string }, filter: StatisticFilter = {}): Promise<StatisticResult[]> {
  if (filter.grain && !stat.def.grains.includes(filter.grain)) return [];
  const { text, values } = statisticSql(registry, stat, opts, filter);
  const { rows } = await tx.client.query(text, values);
  const scale = 10 ** stat.def.decimals;
  return rows.map((r) => {
    const n = Number(r.n);
    const ok = n >= stat.minimumCount;
    const sums = Object.fromEntries(stat.sums.map((name, i) => [name, Number(r[`s${i}`])]));
    const v = ok ? stat.value({ ...sums, n }) : null;
    const value = typeof v === 'number' && Number.isFinite(v) ? v : null;
    // value ± 1.96 standard errors, from the declared variance.
    const variance = ok && value !== null && stat.variance ? stat.variance({ ...sums, n }) : null;
    const se = typeof variance === 'number' && Number.isFinite(variance) && variance >= 0 ? Math.sqrt(variance) : null;
    return {
      statistic: stat.def.id, dataset: r.dataset, grain: r.grain, period: r.period, unit: r.unit, status: ok ? 'ok' : 'too-few',
      n: ok ? n : null,
      sums: ok ? Object.fromEntries(Object.entries(sums).map(([k, x]) => [k, Math.round(x * scale) / scale])) : null,
      value: value === null ? null : Math.round(value * scale) / scale,
      interval: value !== null && se !== null ? { lower: Math.round((value - 1.96 * se) * scale) / scale, upper: Math.round((value + 1.96 * se) * scale) / scale } : null,
      minimumCount: stat.minimumCount,
    } satisfies StatisticResult;
  }).sort((a, b) => a.statistic.localeCompare(b.statistic) || a.dataset.localeCompare(b.dataset) || a.grain.localeCompare(b.grain) || a.period.localeCompare(b.period) || a.unit.localeCompare(b.unit));
}
