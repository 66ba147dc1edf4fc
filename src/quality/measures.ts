// Counts every data-quality check of a registry in one pass over its analytics table, per
// registering unit and year, and the timeliness histograms (days from event to registration and
// to finalisation) in a second; then adds them up to every level above (department → hospital →
// trust → region → nation) in memory. Only counts are kept: rates, verdicts against the
// thresholds, outliers and trends are worked out when read (judge.ts), so a changed threshold
// needs no recomputation.
import type { PersonTx } from '../access/door.ts';
import { analyticsTable } from '../analytics/columns.ts';
import type { Registry } from '../registry/load.ts';
import type { UnitTree } from '../units/tree.ts';
import { checkKey, yearOf, type CheckSet } from './checks.ts';

/** Counts of one check at one unit and year. For completeness: [eligible, present, unknown]; otherwise [checked, failing]. */
export type CheckCounts = number[];

export interface UnitYear {
  cases: number;
  checks: Map<string, CheckCounts>;
  /** Days → number of cases, for registration and (finalised cases) finalisation. */
  registration: Map<number, number>;
  finalisation: Map<number, number>;
}

export interface Measured {
  registry: string;
  dataset: 'fresh' | 'qa';
  asOf: string;
  analyticsVersion: number;
  computedAt: string;
  durationMs: number;
  years: number[];
  /** unit (every level) → year → counts. */
  byUnit: Map<string, Map<number, UnitYear>>;
  /** Units that registered cases themselves (the leaves), with their years. */
  leaves: Map<string, Set<number>>;
}

const empty = (): UnitYear => ({ cases: 0, checks: new Map(), registration: new Map(), finalisation: new Map() });

/**
 * The measures' statement runs with the session's time zone set to Oslo (`OSLO_SESSION`, for its
 * transaction only), so that a time's date in Oslo is a plain cast: `(t AT TIME ZONE
 * 'Europe/Oslo')::date` looks the zone up by name for every case and cost a quarter of the pass.
 */
export const OSLO_SESSION = `SET LOCAL TimeZone = 'Europe/Oslo'`;
const inOsloSession = (sql: string) => sql.replace(/ AT TIME ZONE 'Europe\/Oslo'\)::date/g, ')::date');

/** The one-pass statement: per unit and year, the case count and each check's counts (run under OSLO_SESSION). */
export function measureSql(
  registry: Registry,
  set: CheckSet,
  dataset: 'fresh' | 'qa',
  asOfParam: string,
): { text: string; columns: Array<{ key: string; parts: number }> } {
  const cols: string[] = [];
  const columns: Array<{ key: string; parts: number }> = [];
  for (const c of set.checks) {
    if (c.kind === 'completeness') {
      // A requirement evaluated once per case, not once per count: one sum tallies the eligible
      // cases (1 each) and those with the value (2^32 more each), split when the group is done.
      // A check every case is eligible for needs none of it: count(*) and count(value).
      const tally = `sum(CASE WHEN ${c.eligible} THEN CASE WHEN ${c.present} THEN ${TALLY_BOTH} ELSE 1 END END)`;
      const [eligible, present] =
        c.eligible === 'TRUE' ? [countWhere(c.eligible), countWhere(c.eligible, c.present)] : [low(tally), high(tally)];
      cols.push(eligible, present, c.unknown ? countWhere(c.eligible, c.unknown) : '0');
      columns.push({ key: checkKey(c), parts: 3 });
    } else if (c.kind === 'consistency') {
      // A rule's assertion evaluated once per case, not once per count (a rule comparing a time's
      // date in Oslo converts the time each time): one sum tallies where it holds (1 each) and where
      // it fails (2^32 each), split when the group is done.
      const tally = `sum(CASE ${c.outcome} WHEN TRUE THEN 1 WHEN FALSE THEN ${TALLY} END)`;
      cols.push(`${low(tally)} + ${high(tally)}`, high(tally));
      columns.push({ key: checkKey(c), parts: 2 });
    } else {
      // A validity check's `failing` holds only where `checked` does (checks.ts: it is unknown for a
      // missing value), so it is counted alone.
      cols.push(countWhere(c.checked), countWhere(c.failing));
      columns.push({ key: checkKey(c), parts: 2 });
    }
  }
  const select = cols.map((x, i) => `${x.replace(/\$AS_OF/g, asOfParam)} AS c${i}`);
  const text = `SELECT a.unit_resh AS unit, ${yearOf(set.periodSql)} AS year, count(*)::int AS n${select.length ? `, ${select.join(', ')}` : ''}
    FROM ${analyticsTable(registry)} a
    WHERE ${set.periodSql} IS NOT NULL${dataset === 'qa' ? ' AND a.finalised' : ''}
    GROUP BY 1, 2`;
  return { text: inOsloSession(text), columns };
}

/**
 * Two counts in one sum (measureSql): the first in units of 1, the second in units of 2^32, split
 * per group by `low` and `high` — the same counts as two aggregates as long as a unit has fewer
 * than 2^32 cases in a year. PostgreSQL shares the one sum between the two columns.
 */
const TALLY = '4294967296',
  TALLY_BOTH = '4294967297';
const low = (tally: string) => `coalesce(${tally} % ${TALLY}, 0)`;
const high = (tally: string) => `coalesce(div(${tally}, ${TALLY}), 0)`;

const NOT_NULL = /^(a\."[a-z][a-z0-9_]*") IS NOT NULL$/;

/**
 * The count of cases where `filter` holds and (when given) `and` holds too, as one aggregate as
 * cheap as PostgreSQL makes it: "a value is there" (`a."x" IS NOT NULL`, the commonest predicate
 * of all) is counted by `count(a."x")`, a strict transition that skips nulls with no filter to
 * evaluate, and `count(*)` for every case. The same cases as `count(*) FILTER (WHERE (filter) AND (and))`.
 */
export function countWhere(filter: string, and?: string): string {
  const parts = [filter, and].filter((p): p is string => p !== undefined && p !== 'TRUE');
  const i = parts.findIndex((p) => NOT_NULL.test(p));
  const counted = i >= 0 ? NOT_NULL.exec(parts[i])![1] : '*';
  const rest = parts.filter((_, k) => k !== i).map((p) => `(${p})`);
  return `count(${counted})${rest.length ? ` FILTER (WHERE ${rest.join(' AND ')})` : ''}`;
}

/**
 * Histograms of days to registration and finalisation, per unit and year, in one scan (run under
 * OSLO_SESSION): counted per (days to registration, days to finalisation) and added up to each
 * histogram when read, which costs a sixth less than two grouping sets, for about as many rows.
 */
export function timelinessSql(registry: Registry, set: CheckSet, dataset: 'fresh' | 'qa'): string | null {
  if (!set.timeliness) return null;
  return inOsloSession(`SELECT a.unit_resh AS unit, ${yearOf(set.periodSql)} AS year, ${set.timeliness.registration} AS reg, ${set.timeliness.finalisation} AS fin, count(*)::int AS n
    FROM ${analyticsTable(registry)} a WHERE ${set.periodSql} IS NOT NULL${dataset === 'qa' ? ' AND a.finalised' : ''}
    GROUP BY 1, 2, 3, 4`);
}

export async function measure(
  tx: PersonTx,
  registry: Registry,
  set: CheckSet,
  units: UnitTree,
  o: { dataset: 'fresh' | 'qa'; asOf: string; analyticsVersion: number },
): Promise<Measured> {
  const started = Date.now();
  const params = [...set.params, o.asOf];
  const { text, columns } = measureSql(registry, set, o.dataset, `$${params.length}`);
  await tx.client.query(OSLO_SESSION);
  // SET LOCAL outside a transaction lasts one statement: the dates would then be the server's.
  const zone = (await tx.client.query(`SELECT current_setting('TimeZone') AS z`)).rows[0].z;
  if (zone !== 'Europe/Oslo') throw new Error(`the measures must run in a transaction (the time zone is ${zone}, not Europe/Oslo)`);
  const { rows } = await tx.client.query(text, params);
  const nation = units.all().find((u) => u.level === 'nation')?.resh ?? '1';
  const pathOf = (resh: string | null) => (resh && units.get(resh) ? units.get(resh)!.path : [nation]);
  const byUnit = new Map<string, Map<number, UnitYear>>();
  const leaves = new Map<string, Set<number>>();
  const years = new Set<number>();
  const at = (unit: string, year: number) => {
    let m = byUnit.get(unit);
    if (!m) byUnit.set(unit, (m = new Map()));
    let u = m.get(year);
    if (!u) m.set(year, (u = empty()));
    return u;
  };
  for (const r of rows) {
    const year = Number(r.year);
    years.add(year);
    if (r.unit) {
      if (!leaves.has(r.unit)) leaves.set(r.unit, new Set());
      leaves.get(r.unit)!.add(year);
    }
    const counts: Array<[string, number[]]> = [];
    let i = 0;
    for (const c of columns) {
      const parts: number[] = [];
      for (let k = 0; k < c.parts; k++) parts.push(Number(r[`c${i++}`]));
      counts.push([c.key, parts]);
    }
    for (const unit of pathOf(r.unit)) {
      const u = at(unit, year);
      u.cases += Number(r.n);
      for (const [key, parts] of counts) {
        const have = u.checks.get(key);
        if (!have) u.checks.set(key, [...parts]);
        else for (let k = 0; k < parts.length; k++) have[k] += parts[k];
      }
    }
  }
  // Timeliness in a second pass: gathering every case's days in the first (array_agg) saved less
  // in the database than reading the arrays cost here. Its rows (unit, year, days to registration,
  // days to finalisation) are added up per unit and year first, then each histogram to the levels
  // above once.
  const tsql = timelinessSql(registry, set, o.dataset);
  if (tsql) {
    const t = await tx.client.query(tsql);
    const leaf = new Map<
      string,
      { unit: string | null; year: number; registration: Map<number, number>; finalisation: Map<number, number> }
    >();
    const add = (h: Map<number, number>, days: number, n: number) => h.set(days, (h.get(days) ?? 0) + n);
    for (const r of t.rows) {
      const k = `${r.unit}|${r.year}`;
      let l = leaf.get(k);
      if (!l) leaf.set(k, (l = { unit: r.unit, year: Number(r.year), registration: new Map(), finalisation: new Map() }));
      if (r.reg !== null) add(l.registration, Number(r.reg), Number(r.n));
      if (r.fin !== null) add(l.finalisation, Number(r.fin), Number(r.n));
    }
    for (const l of leaf.values()) {
      for (const unit of pathOf(l.unit)) {
        const u = at(unit, l.year);
        for (const [days, n] of l.registration) add(u.registration, days, n);
        for (const [days, n] of l.finalisation) add(u.finalisation, days, n);
      }
    }
  }
  return {
    registry: registry.id,
    dataset: o.dataset,
    asOf: o.asOf,
    analyticsVersion: o.analyticsVersion,
    computedAt: new Date().toISOString(),
    durationMs: Date.now() - started,
    years: [...years].sort((a, b) => a - b),
    byUnit,
    leaves,
  };
}

/** The median of a histogram of whole days (the lower middle value for an even count); null when empty. */
export function histogramMedian(h: Map<number, number>): number | null {
  const total = [...h.values()].reduce((s, n) => s + n, 0);
  if (total === 0) return null;
  const sorted = [...h.entries()].sort((a, b) => a[0] - b[0]);
  // The median of an even count is the mean of the two middle values, as statistics packages give it.
  const lowRank = Math.floor((total - 1) / 2),
    highRank = Math.floor(total / 2);
  let seen = 0,
    low: number | null = null,
    high: number | null = null;
  for (const [days, n] of sorted) {
    if (low === null && lowRank < seen + n) low = days;
    if (high === null && highRank < seen + n) {
      high = days;
      break;
    }
    seen += n;
  }
  return (low! + high!) / 2;
}

export function histogramWithin(h: Map<number, number>, deadline: number): { n: number; within: number } {
  let n = 0,
    within = 0;
  for (const [days, count] of h) {
    n += count;
    if (days <= deadline) within += count;
  }
  return { n, within };
}
