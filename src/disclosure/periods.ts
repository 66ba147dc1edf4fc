// Disclosure control of counts per unit and period (indicator results, statistics): one table per
// dataset, with every relation a reader knows between its cells —
//   - a unit is the sum of its sub-units (nation → region → trust → hospital → department),
//   - a total is the sum of the strata of each stratifier (per unit and year),
//   - a year is the sum of its quarters and of its months, a quarter of its months —
// and, for 12-month rolling windows, a rule instead of relations: overlapping windows differ by
// single months, so two published windows a month apart give a month away, and from the first
// month with data every month follows. A window is therefore shown only when all twelve of its
// months are: then it is a sum of shown months and tells nothing they do not. (Not when it is the
// sum of its shown quarters or equals its shown year: a later window without the withheld month
// would then give that month away by difference.) A withheld window may still follow from shown
// quarters or years — a 12-month sum, which says nothing the months' own protection does not.
//
// A cell has layers (a denominator and a numerator; a count and its sums), each protected in
// turn: a later layer's primary suppression may depend on an earlier's outcome (a numerator is
// withheld with its denominator).
import type { Grain } from '../indicators/schema.ts';
import type { UnitTree } from '../units/tree.ts';
import { DisclosureTable, type Reason } from './table.ts';

export interface PeriodCell {
  grain: Grain | string;
  period: string;
  unit: string;
  stratifier: string;
  stratum: string;
}

export interface Layer {
  values: ArrayLike<number>;
  /** Primary suppression of cell i, given the outcome of the layers before. */
  primary: (i: number, before: Array<Array<Reason | null>>) => Reason | null;
  /** True where a withheld value is never 0 (zeros are always shown in this layer). */
  zerosShown: boolean;
  /** Counts under this are small in this layer (default: the threshold; 1 where small counts may be shown, e.g. declared numerators). */
  threshold?: number;
}

/** The months of a year; the months of the 12-month window ending with month `m`. */
function monthsOfYear(y: string): string[] {
  return Array.from({ length: 12 }, (_, i) => `${y}-${String(i + 1).padStart(2, '0')}`);
}
function windowMonths(m: string): string[] {
  const [y, mm] = [Number(m.slice(0, 4)), Number(m.slice(5, 7))];
  return Array.from({ length: 12 }, (_, i) => {
    const k = y * 12 + (mm - 1) - i;
    return `${Math.floor(k / 12)}-${String((k % 12) + 1).padStart(2, '0')}`;
  });
}

/** Numbers for texts, in the order first seen (two levels: e.g. grain, then period). */
class Names {
  private readonly ids = new Map<string, Map<string, number>>();
  size = 0;
  id(a: string, b: string, create: boolean): number {
    let inner = this.ids.get(a);
    if (!inner) {
      if (!create) return -1;
      this.ids.set(a, (inner = new Map()));
    }
    let i = inner.get(b);
    if (i === undefined) {
      if (!create) return -1;
      inner.set(b, (i = this.size++));
    }
    return i;
  }
}

/**
 * Decides, for every cell and layer, whether it is shown (null) or why not. Cells of one dataset;
 * grain `rolling-12-months` windows are decided from the months, quarters and years (which the
 * caller must include when it publishes windows).
 *
 * A cell is known by numbers, not by a text key (a table holds every unit, period and stratum of an
 * indicator: tens of thousands of cells, each in several relations): its unit, its grain and
 * period, and its stratifier and stratum. Relations are declared in the order of the texts, as
 * always (units and years sorted by their codes), so the decisions do not depend on the numbering.
 */
export function periodDisclosure(cells: PeriodCell[], layers: Layer[], units: UnitTree, threshold: number): Array<Array<Reason | null>> {
  // Units: every unit of the tree and of the cells; parents, children (in the tree's order) and
  // each unit's rank among the codes sorted.
  const unitId = new Map<string, number>();
  const unitCodes: string[] = [];
  const unit = (resh: string) => {
    let i = unitId.get(resh);
    if (i === undefined) {
      unitId.set(resh, (i = unitCodes.length));
      unitCodes.push(resh);
    }
    return i;
  };
  const tree = units.all();
  for (const u of tree) {
    unit(u.resh);
    if (u.parent) unit(u.parent);
  }
  const cellUnit = cells.map((c) => unit(c.unit));
  const U = unitCodes.length;
  const parent = new Int32Array(U).fill(-1);
  const children: number[][] = Array.from({ length: U }, () => []);
  for (const u of tree) {
    if (!u.parent) continue;
    parent[unitId.get(u.resh)!] = unitId.get(u.parent)!;
    children[unitId.get(u.parent)!].push(unitId.get(u.resh)!);
  }
  const rank = new Int32Array(U);
  [...unitCodes.keys()]
    .sort((a, b) => (unitCodes[a] < unitCodes[b] ? -1 : unitCodes[a] > unitCodes[b] ? 1 : 0))
    .forEach((u, r) => (rank[u] = r));
  const byRank = (a: number, b: number) => rank[a] - rank[b];

  // Strata (stratifier and stratum; 0 is the total's: '' and ''), grains with their periods.
  const strata = new Names();
  strata.id('', '', true);
  const cellStratum = cells.map((c) => strata.id(c.stratifier, c.stratum, true));
  const S = strata.size;
  const periods = new Names();
  const cellPeriod = cells.map((c) => periods.id(c.grain, c.period, true));
  /** A cell's number from its grain and period (-1 when none has them and `create` is false), unit and stratum. */
  const keyOf = (grain: string, period: string, u: number, st: number, create: boolean) => {
    const gp = periods.id(grain, period, create);
    return gp < 0 ? -1 : (gp * U + u) * S + st;
  };
  const keyAt = (i: number) => (cellPeriod[i] * U + cellUnit[i]) * S + cellStratum[i];

  const rolling = cells.map((c) => c.grain === 'rolling-12-months');
  const grains = new Set(cells.map((c) => c.grain));
  // Cells by number, once; a relation naming a cell that has no count gets a 0 of its own (index ≥ cells.length).
  const index = new Map<number, number>();
  cells.forEach((_, i) => {
    if (!rolling[i]) index.set(keyAt(i), i);
  });
  let extra = 0;
  const at = (k: number, create: boolean): number => {
    if (k < 0) return -1;
    const i = index.get(k);
    if (i !== undefined) return i;
    if (!create) return -1;
    const j = cells.length + extra++;
    index.set(k, j);
    return j;
  };

  // The relations, as positions (shared by every layer).
  const relations: Array<{ total: number; parts: number[] }> = [];
  /** `total` (its number given, or made when it has none yet) is the sum of `parts`. */
  const relate = (total: () => number, parts: number[]) => {
    const p = parts.map((k) => at(k, false)).filter((i) => i >= 0);
    const t = at(total(), false);
    if (t < 0 && p.length === 0) return;
    relations.push({ total: t < 0 ? at(total(), true) : t, parts: p });
  };
  // Unit hierarchy: per grain, period and stratum, each parent of a unit with data.
  const groups = new Map<number, { gp: number; st: number; units: Set<number> }>();
  cells.forEach((c, i) => {
    if (rolling[i]) return;
    const g = cellPeriod[i] * S + cellStratum[i];
    let group = groups.get(g);
    if (!group) groups.set(g, (group = { gp: cellPeriod[i], st: cellStratum[i], units: new Set() }));
    for (let u = c.unit ? cellUnit[i] : -1; u >= 0; u = parent[u]) {
      if (group.units.has(u)) break;
      group.units.add(u);
    }
  });
  for (const { gp, st, units: set } of groups.values()) {
    const k = (u: number) => (gp * U + u) * S + st;
    for (const u of [...set].sort(byRank)) {
      const kids = children[u].filter((c) => set.has(c));
      if (kids.length)
        relate(
          () => k(u),
          kids.map((c) => k(c)),
        );
    }
  }
  // Strata: per unit and period, the total is the sum of each stratifier's strata.
  const stratifiers = new Names();
  const strataOf = new Map<number, { gp: number; u: number; parts: number[] }>();
  cells.forEach((c, i) => {
    if (!c.stratifier || rolling[i]) return;
    const g = (cellPeriod[i] * U + cellUnit[i]) * (cells.length + 1) + stratifiers.id('', c.stratifier, true);
    let list = strataOf.get(g);
    if (!list) strataOf.set(g, (list = { gp: cellPeriod[i], u: cellUnit[i], parts: [] }));
    list.parts.push(keyAt(i));
  });
  for (const { gp, u, parts } of strataOf.values()) relate(() => (gp * U + u) * S, parts);
  // Time: a year is its quarters and its months, a quarter its months (per unit, totals only).
  const total = (grain: string, period: string, u: number) => keyOf(grain, period, u, 0, false);
  const made = (grain: string, period: string, u: number) => () => keyOf(grain, period, u, 0, true);
  const years = new Map<string, Set<number>>();
  cells.forEach((c, i) => {
    if (c.stratifier || rolling[i]) return;
    const y = c.period.slice(0, 4);
    let set = years.get(y);
    if (!set) years.set(y, (set = new Set()));
    set.add(cellUnit[i]);
  });
  for (const y of [...years.keys()].sort()) {
    const months = monthsOfYear(y);
    for (const u of [...years.get(y)!].sort(byRank)) {
      if (grains.has('year') && grains.has('quarter'))
        relate(
          made('year', y, u),
          [1, 2, 3, 4].map((q) => total('quarter', `${y}-Q${q}`, u)),
        );
      if (grains.has('month')) {
        if (grains.has('year'))
          relate(
            made('year', y, u),
            months.map((m) => total('month', m, u)),
          );
        if (grains.has('quarter'))
          for (let q = 1; q <= 4; q++)
            relate(
              made('quarter', `${y}-Q${q}`, u),
              months.slice(3 * q - 3, 3 * q).map((m) => total('month', m, u)),
            );
      }
    }
  }
  // A window's months, as positions (−1: no count, a shown 0).
  const windowPeriods = new Map<string, number[]>();
  const windows = new Map<number, { months: number[] }>();
  cells.forEach((c, i) => {
    if (!rolling[i]) return;
    if (!grains.has('month')) {
      windows.set(i, { months: [] });
      return;
    }
    let gps = windowPeriods.get(c.period);
    if (!gps) windowPeriods.set(c.period, (gps = windowMonths(c.period).map((m) => periods.id('month', m, false))));
    windows.set(i, { months: gps.map((gp) => (gp < 0 ? -1 : at((gp * U + cellUnit[i]) * S, false))) });
  });

  const size = cells.length + extra;
  const out: Array<Array<Reason | null>> = [];
  for (const layer of layers) {
    const table = new DisclosureTable(layer.threshold ?? threshold, layer.zerosShown);
    for (let i = 0; i < size; i++) table.push(i < cells.length && !rolling[i] ? layer.values[i] : 0);
    const result: Array<Reason | null> = new Array(cells.length).fill(null);
    for (let i = 0; i < cells.length; i++) {
      if (rolling[i]) continue;
      const why = layer.primary(i, out);
      if (why) table.withholdAt(i, why);
    }
    for (const r of relations) table.relateAt(r.total, r.parts);
    table.protect();
    const shown = (i: number) => i < 0 || table.reasonAt(i) === null;
    for (let i = 0; i < cells.length; i++) {
      if (!rolling[i]) {
        result[i] = table.reasonAt(i);
        continue;
      }
      // A window: its own primary suppression, else shown only as a sum of shown cells.
      const own = layer.primary(i, out);
      if (own) {
        result[i] = own;
        continue;
      }
      const w = windows.get(i)!;
      result[i] = w.months.length === 12 && w.months.every(shown) ? null : 'linked';
    }
    out.push(result);
  }
  return out;
}
