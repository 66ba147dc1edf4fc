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

const key = (c: { grain: string; period: string; unit: string; stratifier: string; stratum: string }) =>
  `${c.grain}|${c.period}|${c.unit}|${c.stratifier}|${c.stratum}`;

/** The months of a quarter, the quarters and months of a year; the months of the 12-month window ending with month `m`. */
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

/**
 * Decides, for every cell and layer, whether it is shown (null) or why not. Cells of one dataset;
 * grain `rolling-12-months` windows are decided from the months, quarters and years (which the
 * caller must include when it publishes windows).
 */
export function periodDisclosure(cells: PeriodCell[], layers: Layer[], units: UnitTree, threshold: number): Array<Array<Reason | null>> {
  const children = new Map<string, string[]>();
  for (const u of units.all())
    if (u.parent) {
      let c = children.get(u.parent);
      if (!c) children.set(u.parent, (c = []));
      c.push(u.resh);
    }
  const parentOf = (resh: string) => units.get(resh)?.parent ?? null;
  const rolling = cells.map((c) => c.grain === 'rolling-12-months');
  const grains = new Set(cells.map((c) => c.grain));
  // Cells by key, once; a relation naming a cell that has no count gets a 0 of its own (index ≥ cells.length).
  const index = new Map<string, number>();
  cells.forEach((c, i) => {
    if (!rolling[i]) index.set(key(c), i);
  });
  let extra = 0;
  const at = (k: string, create: boolean): number => {
    const i = index.get(k);
    if (i !== undefined) return i;
    if (!create) return -1;
    const j = cells.length + extra++;
    index.set(k, j);
    return j;
  };

  // The relations, as positions (shared by every layer).
  const relations: Array<{ total: number; parts: number[] }> = [];
  const relate = (total: string, parts: string[]) => {
    const p = parts.map((k) => at(k, false)).filter((i) => i >= 0);
    const t = at(total, false);
    if (t < 0 && p.length === 0) return;
    relations.push({ total: t < 0 ? at(total, true) : t, parts: p });
  };
  // Unit hierarchy: per grain, period and stratum, each parent of a unit with data.
  const groups = new Map<string, Set<string>>();
  cells.forEach((c, i) => {
    if (rolling[i]) return;
    const g = `${c.grain}|${c.period}|${c.stratifier}|${c.stratum}`;
    let set = groups.get(g);
    if (!set) groups.set(g, (set = new Set()));
    for (let u: string | null = c.unit; u; u = parentOf(u)) {
      if (set.has(u)) break;
      set.add(u);
    }
  });
  for (const [g, set] of groups) {
    const [grain, period, stratifier, stratum] = g.split('|');
    for (const u of [...set].sort()) {
      const kids = (children.get(u) ?? []).filter((k) => set.has(k));
      if (kids.length)
        relate(
          key({ grain, period, unit: u, stratifier, stratum }),
          kids.map((k) => key({ grain, period, unit: k, stratifier, stratum })),
        );
    }
  }
  // Strata: per unit and period, the total is the sum of each stratifier's strata.
  const strata = new Map<string, string[]>();
  cells.forEach((c, i) => {
    if (!c.stratifier || rolling[i]) return;
    const g = `${c.grain}|${c.period}|${c.unit}|${c.stratifier}`;
    let list = strata.get(g);
    if (!list) strata.set(g, (list = []));
    list.push(key(c));
  });
  for (const [g, parts] of strata) {
    const [grain, period, unit] = g.split('|');
    relate(key({ grain, period, unit, stratifier: '', stratum: '' }), parts);
  }
  // Time: a year is its quarters and its months, a quarter its months (per unit, totals only).
  const total = (grain: string, period: string, unit: string) => key({ grain, period, unit, stratifier: '', stratum: '' });
  const years = new Set<string>();
  for (const c of cells) if (!c.stratifier && c.grain !== 'rolling-12-months') years.add(`${c.period.slice(0, 4)}|${c.unit}`);
  for (const yu of [...years].sort()) {
    const [y, unit] = yu.split('|');
    const months = monthsOfYear(y);
    if (grains.has('year') && grains.has('quarter'))
      relate(
        total('year', y, unit),
        [1, 2, 3, 4].map((q) => total('quarter', `${y}-Q${q}`, unit)),
      );
    if (grains.has('month')) {
      if (grains.has('year'))
        relate(
          total('year', y, unit),
          months.map((m) => total('month', m, unit)),
        );
      if (grains.has('quarter'))
        for (let q = 1; q <= 4; q++)
          relate(
            total('quarter', `${y}-Q${q}`, unit),
            months.slice(3 * q - 3, 3 * q).map((m) => total('month', m, unit)),
          );
    }
  }
  // A window's months, as positions (−1: no count, a shown 0).
  const windows = new Map<number, { months: number[] }>();
  cells.forEach((c, i) => {
    if (!rolling[i]) return;
    windows.set(i, { months: grains.has('month') ? windowMonths(c.period).map((x) => at(total('month', x, c.unit), false)) : [] });
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
