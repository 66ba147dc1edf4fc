// Disclosure control of count tables by unit (the declared analyses, cases per year, the annual
// report's completeness table): each table is a variable counted by another (x by group) for every
// unit, with its row totals, column totals and total; every cell of every table of one registry,
// year and dataset goes into one disclosure table, with the relations a reader knows:
//   - a total is the sum of its row totals and of its column totals, a row total the sum of its row,
//     a column total the sum of its column;
//   - a unit is the sum of its sub-units, cell by cell;
//   - two tables over the same cases share margins: the same variable along an axis gives the same
//     counts per value (e.g. fractures per age group, as a figure of its own and as the column totals
//     of AO prefix by age group), and a variable that is a function of another in the data (Statistics
//     Norway's five-year age groups of the five-year age bins) gives sums of the other's counts; the
//     cases of a unit are every table's total;
// so that a count withheld in one figure cannot be worked out from another, nor from its unit's
// parent, nor from the figure's own totals.
import type { UnitTree } from '../units/tree.ts';
import { DisclosureTable, type ProtectResult, type Reason } from './table.ts';

/** One table: counts per unit of x (and group g, '' without one), and the cases missing x or g. */
export interface CountTableInput {
  id: string;
  /** What identifies the cases counted: tables with the same base count the same cases (up to missing values). */
  base: string;
  /** The expressions of the axes (x, and the group when there is one), to find shared variables. */
  axes: string[];
  counts: Array<{ unit: string; x: string; g: string; n: number }>;
  missing: Array<{ unit: string; n: number }>;
  /** Counts at or below this are withheld too (a registry's stricter rule for a figure). */
  atOrBelow?: number;
  /** Units whose counts here are not all the base's cases (e.g. restricted to areas with population figures): not linked to other tables. */
  partial?: Set<string>;
}

/** Value pairs seen together in the data (nation-wide), per pair of axis expressions, to find functions. */
export type Joint = Map<string, Array<[string, string]>>;

export const MARGIN = '*';
const k = (table: string, unit: string, x: string, g: string) => `${table}|${unit}|${x}|${g}`;

export class CountDisclosure {
  private readonly table: DisclosureTable;

  /** The tables and their relations; `protect()` decides. */
  constructor(
    private readonly tables: CountTableInput[],
    units: UnitTree,
    threshold: number,
    joint: Joint,
  ) {
    const t = new DisclosureTable(threshold, true);
    this.table = t;
    const children = new Map<string, string[]>();
    for (const u of units.all()) if (u.parent) children.set(u.parent, [...(children.get(u.parent) ?? []), u.resh]);
    // Cells, with their margins.
    const seen = new Map<string, { xs: Set<string>; gs: Set<string>; units: Set<string> }>();
    for (const tab of tables) {
      const s = { xs: new Set<string>(), gs: new Set<string>(), units: new Set<string>() };
      seen.set(tab.id, s);
      const sums = new Map<string, number>();
      const bump = (key: string, n: number) => sums.set(key, (sums.get(key) ?? 0) + n);
      for (const c of tab.counts) {
        s.xs.add(c.x);
        s.gs.add(c.g);
        s.units.add(c.unit);
        bump(k(tab.id, c.unit, c.x, c.g), c.n);
        if (tab.axes.length > 1) {
          bump(k(tab.id, c.unit, c.x, MARGIN), c.n);
          bump(k(tab.id, c.unit, MARGIN, c.g), c.n);
        }
        bump(k(tab.id, c.unit, MARGIN, MARGIN), c.n);
      }
      for (const m of tab.missing) {
        s.units.add(m.unit);
        bump(`${tab.id}|${m.unit}|missing`, m.n);
      }
      for (const [key, n] of sums) {
        t.add(key, n);
        if (n > 0 && (n < threshold || (tab.atOrBelow !== undefined && n <= tab.atOrBelow))) t.withhold(key, 'small');
      }
    }
    // Each unit's table: rows, columns, total.
    for (const tab of tables) {
      const s = seen.get(tab.id)!;
      const xs = [...s.xs].sort(),
        gs = [...s.gs].sort();
      for (const u of [...s.units].sort()) {
        if (tab.axes.length > 1) {
          for (const x of xs)
            t.relate(
              k(tab.id, u, x, MARGIN),
              gs.map((g) => k(tab.id, u, x, g)),
            );
          for (const g of gs)
            t.relate(
              k(tab.id, u, MARGIN, g),
              xs.map((x) => k(tab.id, u, x, g)),
            );
          t.relate(
            k(tab.id, u, MARGIN, MARGIN),
            xs.map((x) => k(tab.id, u, x, MARGIN)),
          );
          t.relate(
            k(tab.id, u, MARGIN, MARGIN),
            gs.map((g) => k(tab.id, u, MARGIN, g)),
          );
        } else {
          t.relate(
            k(tab.id, u, MARGIN, MARGIN),
            xs.map((x) => k(tab.id, u, x, '')),
          );
        }
      }
      // The unit hierarchy, cell by cell (and for the missing).
      const withAncestors = new Set<string>();
      for (const u of s.units)
        for (let x: string | null = u; x && !withAncestors.has(x); x = units.get(x)?.parent ?? null) withAncestors.add(x);
      const cellsOf =
        tab.axes.length > 1
          ? [...xs.flatMap((x) => gs.map((g) => [x, g])), ...xs.map((x) => [x, MARGIN]), ...gs.map((g) => [MARGIN, g]), [MARGIN, MARGIN]]
          : [...xs.map((x) => [x, '']), [MARGIN, MARGIN]];
      for (const parent of [...withAncestors].sort()) {
        const kids = (children.get(parent) ?? []).filter((c) => withAncestors.has(c));
        if (!kids.length) continue;
        for (const [x, g] of cellsOf)
          t.relate(
            k(tab.id, parent, x, g),
            kids.map((c) => k(tab.id, c, x, g)),
          );
        t.relate(
          `${tab.id}|${parent}|missing`,
          kids.map((c) => `${tab.id}|${c}|missing`),
        );
      }
    }
    // Tables over the same cases: shared margins and variables that are functions of one another.
    for (const a of tables)
      for (const b of tables) {
        if (a === b || a.base !== b.base) continue;
        const sa = seen.get(a.id)!,
          sb = seen.get(b.id)!;
        // Map each axis of b to an axis of a that determines it (the same expression first).
        const used = new Set<number>();
        const map: Array<{ bAxis: number; aAxis: number; f: Map<string, string> | null }> = [];
        b.axes.forEach((bx, bi) => {
          let best: { aAxis: number; f: Map<string, string> | null } | null = null;
          a.axes.forEach((ax, ai) => {
            if (used.has(ai) || best?.f === null) return;
            if (ax === bx) {
              best = { aAxis: ai, f: null };
              return;
            }
            const f = functionOf(joint.get(`${ax}\u0000${bx}`));
            if (f && !best) best = { aAxis: ai, f };
          });
          if (best) {
            used.add((best as { aAxis: number }).aAxis);
            map.push({ bAxis: bi, ...(best as { aAxis: number; f: Map<string, string> | null }) });
          }
        });
        // Without any shared axis only the totals are shared: declared once per pair.
        if (map.length === 0 && a.id > b.id) continue;
        const bValues = (axis: number) => [...(axis === 0 ? sb.xs : sb.gs)].sort();
        const aValues = (axis: number) => [...(axis === 0 ? sa.xs : sa.gs)].sort();
        const pick = (tab: CountTableInput, axisValues: Map<number, string>) => {
          const x = axisValues.get(0) ?? MARGIN;
          const g = tab.axes.length > 1 ? (axisValues.get(1) ?? MARGIN) : x === MARGIN ? MARGIN : '';
          return [x, g] as const;
        };
        // Every combination of b's mapped values, and the a-cells that map to it.
        const combos: Array<Map<number, string>> = [new Map()];
        for (const m of map) {
          const next: Array<Map<number, string>> = [];
          for (const c of combos) for (const v of bValues(m.bAxis)) next.push(new Map(c).set(m.bAxis, v));
          combos.splice(0, combos.length, ...next);
        }
        for (const u of [...new Set([...sa.units, ...sb.units])].sort()) {
          if (a.partial?.has(u) || b.partial?.has(u)) continue;
          for (const combo of combos) {
            const [bx, bg] = pick(b, combo);
            // a-cells: each mapped axis takes the values whose image is the b-value; unmapped axes are margins.
            let aCombos: Array<Map<number, string>> = [new Map()];
            for (const m of map) {
              const target = combo.get(m.bAxis)!;
              const pre = aValues(m.aAxis).filter((v) => (m.f ? m.f.get(v) === target : v === target));
              aCombos = aCombos.flatMap((c) => pre.map((v) => new Map(c).set(m.aAxis, v)));
            }
            t.relate(
              k(b.id, u, bx, bg),
              aCombos.map((c) => {
                const [x, g] = pick(a, c);
                return k(a.id, u, x, g);
              }),
            );
          }
        }
      }
  }

  /** A relation the tables do not show by themselves: `total` is the sum of `parts` (cells as [table, unit, x, g]). */
  relate(total: [string, string, string, string], parts: Array<[string, string, string, string]>): void {
    this.table.relate(
      k(...total),
      parts.map((p) => k(...p)),
    );
  }

  /** Secondary suppression over every table together; call once, after the relations. */
  protect(): ProtectResult {
    return this.table.protect();
  }

  /** Why a table's cell is withheld at a unit, or null when it is shown. `x` or `g` '*' for margins; without a group, g is ''. */
  withheld(table: string, unit: string, x: string, g: string): Reason | null {
    return this.table.reason(k(table, unit, x, g));
  }
  count(table: string, unit: string, x: string, g: string): number {
    return this.table.value(k(table, unit, x, g));
  }
  missing(table: string, unit: string): { n: number; withheld: Reason | null } {
    return { n: this.table.value(`${table}|${unit}|missing`), withheld: this.table.reason(`${table}|${unit}|missing`) };
  }
}

/** The function from the first expression's values to the second's, when the data show one (each value of the first with one value of the second). */
function functionOf(pairs: Array<[string, string]> | undefined): Map<string, string> | null {
  if (!pairs || pairs.length === 0) return null;
  const f = new Map<string, string>();
  for (const [from, to] of pairs) {
    const before = f.get(from);
    if (before !== undefined && before !== to) return null;
    f.set(from, to);
  }
  return f;
}

/**
 * Shares of a table's rows (e.g. complete registrations per registering unit): the counts under the
 * threshold withheld, those of rows whose total is withheld too, and then whatever would give them
 * away from the table's total. Returns, per row and for the total, why the count is withheld.
 */
export function shareDisclosure(
  rows: Array<{ n: number; k: number; nWithheld: Reason | null }>,
  total: { k: number },
  threshold: number,
): { rows: Array<Reason | null>; total: Reason | null } {
  const t = new DisclosureTable(threshold, false);
  t.add('total', total.k);
  if (total.k > 0 && total.k < threshold) t.withhold('total', 'small');
  rows.forEach((r, i) => {
    t.add(`r${i}`, r.k);
    const why = r.nWithheld ?? (r.k > 0 && r.k < threshold ? 'small' : null);
    if (why) t.withhold(`r${i}`, why);
  });
  t.relate(
    'total',
    rows.map((_, i) => `r${i}`),
  );
  t.protect();
  return { rows: rows.map((_, i) => t.reason(`r${i}`)), total: t.reason('total') };
}
