// The counts behind a registry's declared analyses for one year and dataset, for every unit at once,
// with the disclosure decision taken over all of them together (src/disclosure/counts.ts): every
// analysis, the cases per unit (the figures' totals, the annual report's totals) and the annual
// report's completeness table. Figures, comparisons, descriptions and the annual report read from
// here, so each shows the same cells withheld. Kept per registry, year and dataset until the
// analytics data change (one computation at a time).
import type { PersonData } from '../access/door.ts';
import { analyticsTable } from '../analytics/columns.ts';
import { CountDisclosure, MARGIN, shareDisclosure, type CountTableInput, type Joint } from '../disclosure/counts.ts';
import type { Reason } from '../disclosure/table.ts';
import type { Queryable } from '../db/pool.ts';
import type { Registry } from '../registry/load.ts';
import type { UnitTree } from '../units/tree.ts';
import { whereSql, xExpression, type AnalysisDef, type Analyses } from './analyses.ts';
import { analyticsVersion } from '../analytics/version.ts';

const PLATFORM = { kind: 'platform', task: 'reports' } as const;
/** The table of all cases per unit: every analysis over the same cases has it as its total. */
export const CASES = '#cases';
/** The annual report's completeness table: cases per registering unit (x), at the nation. */
export const REGISTERED = '#registered';

export interface CompletenessRow {
  unit: string;
  n: number;
  complete: number;
  finalised: number;
  withheld: { n: Reason | null; complete: Reason | null; finalised: Reason | null };
}

export class YearTables {
  constructor(
    readonly disclosure: CountDisclosure,
    private readonly xs: Map<string, Map<string, Set<string>>>,
    private readonly gs: Map<string, Map<string, Set<string>>>,
    private readonly medians: Map<string, number | null>,
    /** Units with cases outside the areas with population figures, per incidence analysis. */
    readonly incidenceAreas: string[] | null,
    readonly completeness: { rows: CompletenessRow[]; total: CompletenessRow },
    readonly nation: string,
  ) {}

  /** The x values (as counted: codes, or a bin's lower edge) a unit has counts of in an analysis. */
  xsAt(analysis: string, unit: string): string[] {
    return [...(this.xs.get(analysis)?.get(unit) ?? [])];
  }
  groupsAt(analysis: string, unit: string): string[] {
    return [...(this.gs.get(analysis)?.get(unit) ?? [])];
  }

  /** A cell (x and g as counted; '*' for totals) with why it is withheld; a count not there is a shown 0. */
  cell(analysis: string, unit: string, x: string, g: string): { n: number; withheld: Reason | null; median: number | null } {
    return {
      n: this.disclosure.count(analysis, unit, x, g),
      withheld: this.disclosure.withheld(analysis, unit, x, g),
      median: this.medians.get(`${analysis}|${unit}|${x}|${g}`) ?? null,
    };
  }

  /** The cases of a unit in the year (every case with a date in it). */
  cases(unit: string): { n: number; withheld: Reason | null } {
    return { n: this.disclosure.count(CASES, unit, MARGIN, MARGIN), withheld: this.disclosure.withheld(CASES, unit, MARGIN, MARGIN) };
  }

  missing(analysis: string, unit: string): { n: number; withheld: Reason | null } {
    return this.disclosure.missing(analysis, unit);
  }
}

export class AnalysisTables {
  private readonly cache = new Map<string, { version: number; tables: Promise<YearTables> }>();

  constructor(
    private readonly data: PersonData,
    private readonly pool: Queryable,
    private readonly units: UnitTree,
  ) {}

  /** The tables of a registry's analyses for a year and dataset, current with the analytics data. */
  async get(registry: Registry, analyses: Analyses, year: string, dataset: 'fresh' | 'qa'): Promise<YearTables> {
    const version = await analyticsVersion(this.pool, registry.id);
    const key = `${registry.id}|${year}|${dataset}`;
    const hit = this.cache.get(key);
    if (hit && hit.version === version) return hit.tables;
    const tables = this.compute(registry, analyses, year, dataset);
    this.cache.set(key, { version, tables });
    tables.catch(() => {
      if (this.cache.get(key)?.tables === tables) this.cache.delete(key);
    });
    return tables;
  }

  private async compute(registry: Registry, analyses: Analyses, year: string, dataset: 'fresh' | 'qa'): Promise<YearTables> {
    const table = analyticsTable(registry);
    const nation = this.units.all().find((u) => u.level === 'nation')!.resh;
    const period = `t."${analyses.periodDate}" >= $1::date AND t."${analyses.periodDate}" < $2::date AND ($3 = 'fresh' OR t.finalised)`;
    const range = [`${year}-01-01`, `${Number(year) + 1}-01-01`, dataset];
    return this.data.transaction(
      PLATFORM,
      'reports:analysis-tables',
      async (tx) => {
        // Incidence counts only cases treated in areas (health trusts) with population figures that year.
        const areas = (await tx.client.query('SELECT DISTINCT area_resh FROM population WHERE year = $1', [Number(year)])).rows.map(
          (r) => r.area_resh as string,
        );
        const inputs: CountTableInput[] = [];
        const xs = new Map<string, Map<string, Set<string>>>(),
          gs = new Map<string, Map<string, Set<string>>>();
        const medians = new Map<string, number | null>();
        const note = (analysis: string, unit: string, x: string, g: string) => {
          if (!xs.has(analysis)) {
            xs.set(analysis, new Map());
            gs.set(analysis, new Map());
          }
          const ux = xs.get(analysis)!,
            ug = gs.get(analysis)!;
          if (!ux.has(unit)) {
            ux.set(unit, new Set());
            ug.set(unit, new Set());
          }
          ux.get(unit)!.add(x);
          ug.get(unit)!.add(g);
        };
        // All cases per unit.
        const all = (
          await tx.client.query(
            `SELECT u AS unit, count(*)::int AS n FROM ${table} t CROSS JOIN LATERAL unnest(t.unit_path) u WHERE ${period} GROUP BY 1`,
            range,
          )
        ).rows;
        inputs.push({
          id: CASES,
          base: '',
          axes: ['#all'],
          counts: all.map((r) => ({ unit: r.unit, x: '#', g: '', n: r.n })),
          missing: [],
        });
        const casesAt = new Map(all.map((r) => [r.unit as string, r.n as number]));

        for (const a of analyses.list) {
          const incidence = typeof a.measure === 'object' && 'incidence' in a.measure;
          const median = typeof a.measure === 'object' && 'median' in a.measure ? a.measure.median : null;
          const params: unknown[] = [...range, incidence ? areas : null];
          const where = whereSql(a, analyses.types, (v) => {
            params.push(v);
            return `$${params.length}`;
          });
          const rows = (
            await tx.client.query(
              `SELECT u AS unit, ${xExpression(a)} AS x, ${a.by ? `t."${a.by}"::text` : "''"} AS g, count(*)::int AS n
                  ${median ? `, percentile_cont(0.5) WITHIN GROUP (ORDER BY t."${median}") AS m` : ''}
           FROM ${table} t CROSS JOIN LATERAL unnest(t.unit_path) u
           WHERE ${period} AND ($4::text[] IS NULL OR t.unit_path && $4::text[]) AND (${where})
           GROUP BY 1, 2, 3`,
              params,
            )
          ).rows as Array<{ unit: string; x: string | null; g: string | null; n: number; m?: number | null }>;
          const counts: CountTableInput['counts'] = [];
          const missing = new Map<string, number>();
          const total = new Map<string, number>();
          for (const r of rows) {
            total.set(r.unit, (total.get(r.unit) ?? 0) + r.n);
            if (r.x === null || (a.by && r.g === null)) {
              missing.set(r.unit, (missing.get(r.unit) ?? 0) + r.n);
              continue;
            }
            const x = r.x,
              g = a.by ? r.g! : '';
            counts.push({ unit: r.unit, x, g, n: r.n });
            note(a.id, r.unit, x, g);
            if (median)
              medians.set(`${a.id}|${r.unit}|${x}|${g}`, r.m === null || r.m === undefined ? null : Math.round(Number(r.m) * 10) / 10);
          }
          // A binned x: bins' lower edges as counted; rows of one bin (values capped at the last) merged.
          const merged = new Map<string, CountTableInput['counts'][number]>();
          for (const c of counts) {
            const key = `${c.unit}|${c.x}|${c.g}`;
            const m = merged.get(key);
            if (m) m.n += c.n;
            else merged.set(key, { ...c });
          }
          // Units with cases outside the areas with population figures: their incidence counts are not all their cases.
          const partial = incidence ? new Set([...casesAt].filter(([u, n]) => (total.get(u) ?? 0) !== n).map(([u]) => u)) : undefined;
          inputs.push({
            id: a.id,
            base: a.where ?? '',
            axes: a.by ? [xExpression(a), `t."${a.by}"::text`] : [xExpression(a)],
            counts: [...merged.values()],
            missing: [...missing].map(([unit, n]) => ({ unit, n })),
            atOrBelow: a.suppress?.atOrBelow,
            partial,
          });
        }

        // Which variables are functions of others in the data: value pairs per pair of axes, nation-wide.
        const joint: Joint = new Map();
        const byBase = new Map<string, AnalysisDef[]>();
        for (const a of analyses.list) byBase.set(a.where ?? '', [...(byBase.get(a.where ?? '') ?? []), a]);
        for (const list of byBase.values()) {
          const exprs = [...new Set(list.flatMap((a) => (a.by ? [xExpression(a), `t."${a.by}"::text`] : [xExpression(a)])))];
          if (exprs.length < 2) continue;
          const params: unknown[] = [...range];
          const where = whereSql(list[0], analyses.types, (v) => {
            params.push(v);
            return `$${params.length}`;
          });
          const rows = (
            await tx.client.query(
              `SELECT DISTINCT ${exprs.map((e, i) => `${e} AS e${i}`).join(', ')} FROM ${table} t WHERE ${period} AND (${where})`,
              params,
            )
          ).rows;
          for (const [i, a] of exprs.entries())
            for (const [j, b] of exprs.entries()) {
              if (i === j) continue;
              const pairs = new Map<string, [string, string]>();
              for (const r of rows)
                if (r[`e${i}`] !== null && r[`e${j}`] !== null)
                  pairs.set(`${r[`e${i}`]}\u0000${r[`e${j}`]}`, [String(r[`e${i}`]), String(r[`e${j}`])]);
              joint.set(`${a}\u0000${b}`, [...pairs.values()]);
            }
        }

        // The annual report's completeness: cases per registering unit, complete and finalised.
        const reg = (
          await tx.client.query(
            `SELECT coalesce(unit_resh, '') AS unit, count(*)::int AS n, count(*) FILTER (WHERE complete)::int AS complete, count(*) FILTER (WHERE finalised)::int AS finalised
         FROM ${table} t WHERE ${period} GROUP BY 1 ORDER BY 1`,
            range,
          )
        ).rows as Array<{ unit: string; n: number; complete: number; finalised: number }>;
        inputs.push({
          id: REGISTERED,
          base: '#registered',
          axes: ['#unit'],
          counts: reg.map((r) => ({ unit: nation, x: r.unit, g: '', n: r.n })),
          missing: [],
        });

        const threshold = registry.meta.smallCountThreshold;
        const disclosure = new CountDisclosure(inputs, this.units, threshold, joint);
        // A registering unit without sub-units: its registrations are its cases.
        for (const r of reg)
          if (r.unit && this.units.get(r.unit) && !this.units.all().some((u) => u.parent === r.unit))
            disclosure.relate([CASES, r.unit, MARGIN, MARGIN], [[REGISTERED, nation, r.unit, '']]);
        disclosure.protect();

        const nWithheld = reg.map((r) => disclosure.withheld(REGISTERED, nation, r.unit, ''));
        const totals = {
          n: reg.reduce((s, r) => s + r.n, 0),
          complete: reg.reduce((s, r) => s + r.complete, 0),
          finalised: reg.reduce((s, r) => s + r.finalised, 0),
        };
        const complete = shareDisclosure(
          reg.map((r, i) => ({ n: r.n, k: r.complete, nWithheld: nWithheld[i] })),
          { k: totals.complete },
          threshold,
        );
        const finalised = shareDisclosure(
          reg.map((r, i) => ({ n: r.n, k: r.finalised, nWithheld: nWithheld[i] })),
          { k: totals.finalised },
          threshold,
        );
        const completeness = {
          rows: reg.map((r, i) => ({ ...r, withheld: { n: nWithheld[i], complete: complete.rows[i], finalised: finalised.rows[i] } })),
          total: {
            unit: '',
            ...totals,
            withheld: { n: disclosure.withheld(REGISTERED, nation, MARGIN, MARGIN), complete: complete.total, finalised: finalised.total },
          },
        };
        return new YearTables(disclosure, xs, gs, medians, areas, completeness, nation);
      },
      { readOnly: true },
    );
  }
}
