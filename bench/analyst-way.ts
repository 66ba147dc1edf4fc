// The indicators computed the way an analyst does today (as the registries' R reports do): every
// row of the analytics table pulled into the program, each indicator's definition applied per row,
// and the rows counted per unit (every level of each case's unit path), year and stratum. Uses the
// definitions' own JavaScript evaluation (not the SQL the engine compiles), so that the bench can
// check the engine's stored results against an independent computation.
//
// Rows come in pages of 100,000 by case id (keyset), so a national table fits the heap; each page is
// held whole in memory and filtered in the program, as an analyst's data frame would be.
import type { Platform } from '../src/platform.ts';
import type { Registry } from '../src/registry/load.ts';
import { holds } from '../src/registry/expr.ts';
import { analyticsTable } from '../src/analytics/columns.ts';
import { osloDate } from '../src/time/oslo.ts';

export interface AnalystResult {
  cells: Map<string, { numerator: number; denominator: number }>;
  rows: number;
}

const osloYear = (v: unknown): string | null => {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Oslo', year: 'numeric' }).format(v);
  return String(v).slice(0, 4);
};

export async function analystWay(platform: Platform, registry: Registry): Promise<AnalystResult> {
  const inds = platform.indicators.list(registry.id).filter((i) => i.def.status === 'active');
  const nation = platform.indicators.nation();
  // The engine computes as of today (what today() means in the definitions); so does this.
  const asOf = osloDate(new Date().toISOString());
  // key indicator|unit|year → per part: denominator and numerator counts, or distinct keys.
  const acc = new Map<string, Array<{ d: Set<string> | number; n: Set<string> | number }>>();
  let last = 0,
    total = 0;
  for (;;) {
    const { rows } = await platform.db.pool.query(
      `SELECT * FROM ${analyticsTable(registry)} WHERE case_id > $1 ORDER BY case_id LIMIT 100000`,
      [last],
    );
    if (rows.length === 0) break;
    total += rows.length;
    last = Number(rows[rows.length - 1].case_id);
    for (const raw of rows) {
      // What the definitions see: dates as text, times as ISO strings.
      const row: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(raw)) row[k] = v instanceof Date ? v.toISOString() : v;
      const path: string[] = (raw.unit_path as string[] | null)?.length ? raw.unit_path : [nation];
      for (const ind of inds) {
        const year = osloYear(raw[ind.def.periodDate]);
        if (year === null) continue;
        if (ind.js.population && !holds(ind.js.population(row, { asOf: asOf }))) continue;
        if (ind.js.exclusions && holds(ind.js.exclusions(row, { asOf: asOf }))) continue;
        const who =
          ind.def.countBy === 'patient'
            ? String(raw.person_id)
            : ind.def.countBy === 'event'
              ? String(raw.event_key ?? `case:${raw.case_id}`)
              : null;
        const ctx = { asOf };
        // What the case adds to each part's numerator: 1, or the declared numeratorCount (events per case).
        const adds = (n: boolean) =>
          !n ? 0 : ind.js.numeratorCount ? Math.max(0, Math.round(Number(ind.js.numeratorCount(row, ctx) ?? 0))) : 1;
        const flags = ind.js.parts.map((p) => {
          const d = holds(p.denominator(row, ctx));
          const n = d && holds(p.numerator(row, ctx));
          return { d, n, k: adds(n) };
        });
        if (!flags.some((f) => f.d)) continue;
        // The year's total, and (when the indicator is by year) each stratum of each stratifier; a
        // count stratifier (countStrata) puts the case in every stratum with that stratum's count.
        const groups: Array<{ g: string; k?: number }> = [{ g: `${year}||` }];
        if (ind.def.grains.includes('year')) {
          for (const st of ind.def.stratifiers) {
            const split = ind.def.countStrata?.[st];
            if (!split) {
              groups.push({ g: `${year}|${st}|${raw[st] === null || raw[st] === undefined ? 'unknown' : String(raw[st])}` });
              continue;
            }
            for (const [stratum, column] of Object.entries(split))
              groups.push({ g: `${year}|${st}|${stratum}`, k: flags[0].n ? Math.max(0, Math.round(Number(row[column] ?? 0))) : 0 });
          }
        }
        for (const unit of path) {
          for (const { g, k } of groups) {
            const key = `${ind.def.id}|${unit}|${g}`;
            let cell = acc.get(key);
            if (!cell) {
              cell = ind.js.parts.map(() => (who === null ? { d: 0, n: 0 } : { d: new Set<string>(), n: new Set<string>() }));
              acc.set(key, cell);
            }
            flags.forEach((f, i) => {
              const c = cell![i];
              if (who === null) {
                if (f.d) (c.d as number)++;
                (c.n as number) += k ?? f.k;
              } else {
                if (f.d) (c.d as Set<string>).add(who);
                if (f.n) (c.n as Set<string>).add(who);
              }
            });
          }
        }
      }
    }
  }
  const cells = new Map<string, { numerator: number; denominator: number }>();
  const size = (x: Set<string> | number) => (typeof x === 'number' ? x : x.size);
  for (const [key, parts] of acc)
    cells.set(key, { numerator: parts.reduce((s, p) => s + size(p.n), 0), denominator: parts.reduce((s, p) => s + size(p.d), 0) });
  return { cells, rows: total };
}

/** The engine's stored results in the same shape: fresh dataset, year grain, totals and strata. */
export async function engineCells(
  platform: Platform,
  registry: Registry,
): Promise<Map<string, { numerator: number; denominator: number }>> {
  const { rows } = await platform.db.pool.query(
    `SELECT indicator, unit_resh, period, stratifier, stratum, numerator, denominator FROM indicator_result WHERE registry = $1 AND dataset = 'fresh' AND grain = 'year'`,
    [registry.id],
  );
  return new Map(
    rows
      .filter((r) => r.denominator > 0)
      .map((r) => [
        `${r.indicator}|${r.unit_resh}|${r.period}|${r.stratifier}|${r.stratum}`,
        { numerator: Number(r.numerator), denominator: Number(r.denominator) },
      ]),
  );
}

/** Cells that differ between the two, with both values (empty when they agree). */
export function differences(
  a: Map<string, { numerator: number; denominator: number }>,
  b: Map<string, { numerator: number; denominator: number }>,
): string[] {
  const out: string[] = [];
  for (const key of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(key),
      y = b.get(key);
    if (x?.numerator !== y?.numerator || x?.denominator !== y?.denominator)
      out.push(`${key}: engine ${x ? `${x.numerator}/${x.denominator}` : '–'}, analyst ${y ? `${y.numerator}/${y.denominator}` : '–'}`);
  }
  return out;
}
