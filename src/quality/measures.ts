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
import { checkKey, yearOf, type Check, type CheckSet } from './checks.ts';
import { BITS_PER_COLUMN, storedOutcomes, type StoredOutcomes } from './stored.ts';

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
  /** How the checks were counted: from the outcomes stored in the rows, or by evaluating every check (stored.ts). */
  way: 'stored' | 'evaluated';
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

/**
 * Each check's counts as aggregates over alias `a` (run under OSLO_SESSION): for completeness
 * eligible, present and unknown; otherwise checked and failing.
 */
function checkAggregates(c: Check): string[] {
  if (c.kind === 'completeness') {
    // A requirement evaluated once per case, not once per count: one sum tallies the eligible
    // cases (1 each) and those with the value (2^32 more each), split when the group is done.
    // A check every case is eligible for needs none of it: count(*) and count(value).
    const tally = `sum(CASE WHEN ${c.eligible} THEN CASE WHEN ${c.present} THEN ${TALLY_BOTH} ELSE 1 END END)`;
    const [eligible, present] =
      c.eligible === 'TRUE' ? [countWhere(c.eligible), countWhere(c.eligible, c.present)] : [low(tally), high(tally)];
    return [eligible, present, c.unknown ? countWhere(c.eligible, c.unknown) : '0'];
  }
  if (c.kind === 'consistency') {
    // A rule's assertion evaluated once per case, not once per count (a rule comparing a time's
    // date in Oslo converts the time each time): one sum tallies where it holds (1 each) and where
    // it fails (2^32 each), split when the group is done.
    const tally = `sum(CASE ${c.outcome} WHEN TRUE THEN 1 WHEN FALSE THEN ${TALLY} END)`;
    return [`${low(tally)} + ${high(tally)}`, high(tally)];
  }
  // A validity check's `failing` holds only where `checked` does (checks.ts: it is unknown for a
  // missing value), so it is counted alone.
  return [countWhere(c.checked), countWhere(c.failing)];
}

/**
 * The one-pass statement evaluating every check on every case (run under OSLO_SESSION): per unit
 * and year, the case count and each check's counts. Used where the outcomes are not stored in the
 * table (stored.ts), and as the reference the stored way is tested against.
 */
export function measureSql(
  registry: Registry,
  set: CheckSet,
  dataset: 'fresh' | 'qa',
  asOfParam: string,
): { text: string; columns: Array<{ key: string; parts: number }> } {
  const cols: string[] = [];
  const columns: Array<{ key: string; parts: number }> = [];
  for (const c of set.checks) {
    const parts = checkAggregates(c);
    cols.push(...parts);
    columns.push({ key: checkKey(c), parts: parts.length });
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

const NOT_NULL = /^((?:a\.)?"[a-z][a-z0-9_]*") IS NOT NULL$/;

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

/** The counts of one registering unit (null: none) and year, before they are added up the levels. */
interface Leaf {
  unit: string | null;
  year: number;
  cases: number;
  /** Every check's counts, one after another in the order of the set's checks. */
  counts: Float64Array;
  registration: Map<number, number>;
  finalisation: Map<number, number>;
}

/** Where each check's counts start in a leaf's `counts`, how many there are, and how many in all. */
function layoutOf(set: CheckSet): { offsets: number[]; parts: number[]; size: number } {
  const offsets: number[] = [];
  const parts = set.checks.map((c) => (c.kind === 'completeness' ? 3 : 2));
  let size = 0;
  for (const p of parts) {
    offsets.push(size);
    size += p;
  }
  return { offsets, parts, size };
}

export async function measure(
  tx: PersonTx,
  registry: Registry,
  set: CheckSet,
  units: UnitTree,
  o: { dataset: 'fresh' | 'qa'; asOf: string; analyticsVersion: number; way?: 'evaluated' },
): Promise<Measured> {
  const started = Date.now();
  await tx.client.query(OSLO_SESSION);
  // SET LOCAL outside a transaction lasts one statement: the dates would then be the server's.
  const zone = (await tx.client.query(`SELECT current_setting('TimeZone') AS z`)).rows[0].z;
  if (zone !== 'Europe/Oslo') throw new Error(`the measures must run in a transaction (the time zone is ${zone}, not Europe/Oslo)`);
  const layout = layoutOf(set);
  const leafMap = new Map<string, Leaf>();
  const leafAt = (unit: string | null, year: number) => {
    const k = `${unit}|${year}`;
    let l = leafMap.get(k);
    if (!l)
      leafMap.set(
        k,
        (l = { unit, year, cases: 0, counts: new Float64Array(layout.size), registration: new Map(), finalisation: new Map() }),
      );
    return l;
  };
  // Counted per registering unit and year (the leaves) first, then added up the levels once.
  const stored = o.way === 'evaluated' ? null : await storedInTable(tx, registry, set);
  if (stored) await countStored(tx, registry, set, stored, layout, leafAt, o);
  else await countEvaluated(tx, registry, set, layout, leafAt, o);

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
  const keys = set.checks.map(checkKey);
  for (const l of leafMap.values()) {
    years.add(l.year);
    if (l.unit) {
      if (!leaves.has(l.unit)) leaves.set(l.unit, new Set());
      leaves.get(l.unit)!.add(l.year);
    }
    for (const unit of pathOf(l.unit)) {
      const u = at(unit, l.year);
      u.cases += l.cases;
      keys.forEach((key, i) => {
        const from = layout.offsets[i],
          to = from + layout.parts[i];
        const have = u.checks.get(key);
        if (!have) u.checks.set(key, Array.from(l.counts.subarray(from, to)));
        else for (let k = from; k < to; k++) have[k - from] += l.counts[k];
      });
      for (const [days, n] of l.registration) add(u.registration, days, n);
      for (const [days, n] of l.finalisation) add(u.finalisation, days, n);
    }
  }
  return {
    registry: registry.id,
    dataset: o.dataset,
    asOf: o.asOf,
    analyticsVersion: o.analyticsVersion,
    computedAt: new Date().toISOString(),
    durationMs: Date.now() - started,
    way: stored ? 'stored' : 'evaluated',
    years: [...years].sort((a, b) => a - b),
    byUnit,
    leaves,
  };
}

type LeafAt = (unit: string | null, year: number) => Leaf;

const add = (h: Map<number, number>, days: number, n: number) => h.set(days, (h.get(days) ?? 0) + n);
/** n cases registered `reg` days after their event and finalised `fin` days after it (null: not finalised). */
function addDays(l: Leaf, reg: unknown, fin: unknown, n: number) {
  if (reg !== null) add(l.registration, Number(reg), n);
  if (fin !== null) add(l.finalisation, Number(fin), n);
}

/**
 * Every check evaluated on every case, one aggregate per count (the table holds no stored
 * outcomes for this codebook), and the timeliness histograms in a second pass.
 */
async function countEvaluated(
  tx: PersonTx,
  registry: Registry,
  set: CheckSet,
  layout: { size: number },
  leafAt: LeafAt,
  o: { dataset: 'fresh' | 'qa'; asOf: string },
): Promise<void> {
  const params = [...set.params, o.asOf];
  const { text } = measureSql(registry, set, o.dataset, `$${params.length}`);
  for (const r of (await tx.client.query(text, params)).rows) {
    const l = leafAt(r.unit, Number(r.year));
    l.cases += Number(r.n);
    for (let i = 0; i < layout.size; i++) l.counts[i] += Number(r[`c${i}`]);
  }
  const timeliness = timelinessSql(registry, set, o.dataset);
  if (timeliness)
    for (const r of (await tx.client.query(timeliness)).rows) addDays(leafAt(r.unit, Number(r.year)), r.reg, r.fin, Number(r.n));
}

/** The stored layout, when the registry's table holds it (built with this codebook) and it covers every check of the set. */
async function storedInTable(tx: PersonTx, registry: Registry, set: CheckSet): Promise<StoredOutcomes | null> {
  const stored = storedOutcomes(registry);
  if (!stored) return null;
  if (!set.checks.every((c) => stored.keys.has(checkKey(c)))) return null;
  const names = [
    ...stored.columns.masks,
    stored.columns.year,
    stored.columns.latest,
    stored.columns.registration,
    stored.columns.finalisation,
  ].filter((n): n is string => n !== null);
  const { rows } = await tx.client.query(
    `SELECT count(*)::int AS n FROM pg_attribute WHERE attrelid = $1::regclass AND attname = ANY($2::text[]) AND NOT attisdropped`,
    [analyticsTable(registry), names],
  );
  return rows[0].n === names.length ? stored : null;
}

/**
 * Cases counted per unit, year and combination of stored outcomes (stored.ts), and each check's
 * counts added up from the combinations here: a few integers per case instead of every predicate
 * and aggregate. Future dates are judged against the as-of date on the rows whose latest date is
 * after it; checks using `today()` otherwise are counted by aggregates as before. The timeliness
 * histograms come in the same pass (storedMeasureSql).
 */
async function countStored(
  tx: PersonTx,
  registry: Registry,
  set: CheckSet,
  stored: StoredOutcomes,
  layout: { offsets: number[] },
  leafAt: LeafAt,
  o: { dataset: 'fresh' | 'qa'; asOf: string },
): Promise<void> {
  const bitOf = (id: string) => {
    const i = stored.bits.findIndex((b) => b.id === id);
    return i < 0 ? null : { word: Math.floor(i / BITS_PER_COLUMN), mask: 2 ** (i % BITS_PER_COLUMN) };
  };
  const { text, params, words: wordCount } = storedMeasureSql(registry, stored, o.dataset, o.asOf);
  // One small function per check: adds a combination's cases to the check's counts.
  type Add = (words: number[], n: number, counts: Float64Array, row: Record<string, unknown>) => void;
  const futureWord = stored.columns.masks.length; // the future dates' words follow the stored ones
  const adders: Add[] = set.checks.map((c, i): Add => {
    const at = layout.offsets[i];
    const key = checkKey(c);
    const d = stored.direct.findIndex((x) => checkKey(x) === key);
    if (d >= 0) {
      const first = stored.direct.slice(0, d).reduce((s, x) => s + checkAggregates(x).length, 0);
      const parts = checkAggregates(stored.direct[d]).length;
      return (_w, _n, counts, row) => {
        for (let k = 0; k < parts; k++) counts[at + k] += Number(row[`d${first + k}`]);
      };
    }
    if (c.kind === 'completeness') {
      const eligible = bitOf(`eligible:${key}`),
        present = bitOf(`present:${c.variable}`)!,
        unknown = bitOf(`unknown:${key}`);
      return (w, n, counts) => {
        if (eligible && !(w[eligible.word] & eligible.mask)) return;
        counts[at] += n;
        if (w[present.word] & present.mask) counts[at + 1] += n;
        if (unknown && w[unknown.word] & unknown.mask) counts[at + 2] += n;
      };
    }
    if (c.kind === 'validity') {
      const present = bitOf(`present:${c.variable}`)!;
      const f = stored.future.findIndex((x) => x.key === key);
      const failing =
        f >= 0 ? { word: futureWord + Math.floor(f / BITS_PER_COLUMN), mask: 2 ** (f % BITS_PER_COLUMN) } : bitOf(`failing:${key}`)!;
      return (w, n, counts) => {
        if (w[present.word] & present.mask) counts[at] += n;
        if (w[failing.word] & failing.mask) counts[at + 1] += n;
      };
    }
    const known = bitOf(`known:${key}`)!,
      fails = bitOf(`fails:${key}`)!;
    return (w, n, counts) => {
      if (w[known.word] & known.mask) counts[at] += n;
      if (w[fails.word] & fails.mask) counts[at + 1] += n;
    };
  });
  const words = new Array<number>(wordCount);
  for (const r of (await tx.client.query(text, params)).rows) {
    const l = leafAt(r.unit, Number(r.year));
    const n = Number(r.n);
    if (r.timeliness === 1 || r.timeliness === 2) {
      // The other histogram's days are null in this grouping set.
      addDays(l, r.timeliness === 1 ? r.reg : null, r.timeliness === 2 ? r.fin : null, n);
      continue;
    }
    l.cases += n;
    for (let i = 0; i < wordCount; i++) words[i] = Number(r[`w${i}`]);
    for (const add of adders) add(words, n, l.counts, r);
  }
}

/**
 * The stored way's statement (run under OSLO_SESSION), one pass over the table with two grouping
 * sets: cases per unit, year and combination of outcomes — the stored words, then the words of
 * future dates worked out against the as-of date (`$1`) on the rows whose latest date is after
 * it — with the checks counted when read (`timeliness` 3); cases per unit, year and days to
 * registration (`timeliness` 1); and per unit, year and days to finalisation (`timeliness` 2).
 * Each histogram apart: counted together, the pairs of days came to four times the rows.
 */
export function storedMeasureSql(
  registry: Registry,
  stored: StoredOutcomes,
  dataset: 'fresh' | 'qa',
  asOf: string,
): { text: string; params: string[]; words: number } {
  const col = (name: string) => `a."${name}"`;
  const futureWords: string[] = [];
  for (let i = 0; i < stored.future.length; i += BITS_PER_COLUMN)
    futureWords.push(
      `CASE WHEN ${col(stored.columns.latest!)} > $AS_OF::date THEN ${stored.future
        .slice(i, i + BITS_PER_COLUMN)
        .map((f, k) => `(CASE WHEN ${f.date} > $AS_OF::date THEN ${2 ** k} ELSE 0 END)`)
        .join(' | ')} ELSE 0 END`,
    );
  const direct = stored.direct.flatMap((c) => checkAggregates(c));
  const words = [...stored.columns.masks.map(col), ...futureWords];
  const unitYear = ['a.unit_resh', col(stored.columns.year)];
  const { registration, finalisation } = stored.columns;
  const days = registration && finalisation ? [col(registration), col(finalisation)] : null;
  const text = inOsloSession(
    `SELECT a.unit_resh AS unit, ${col(stored.columns.year)} AS year, ${words.map((g, i) => `${g} AS w${i}, `).join('')}${
      days ? `${days[0]} AS reg, ${days[1]} AS fin, GROUPING(${days[0]}, ${days[1]}) AS timeliness, ` : ''
    }count(*)::int AS n${direct.map((d, i) => `, ${d} AS d${i}`).join('')}
    FROM ${analyticsTable(registry)} a WHERE ${col(stored.columns.year)} IS NOT NULL${dataset === 'qa' ? ' AND a.finalised' : ''}
    GROUP BY ${
      days
        ? `GROUPING SETS ((${[...unitYear, ...words].join(', ')}), (${[...unitYear, days[0]].join(', ')}), (${[...unitYear, days[1]].join(', ')}))`
        : [...unitYear, ...words].join(', ')
    }`.replace(/\$AS_OF/g, '$1'),
  );
  // The as-of date is a parameter exactly when something judges against it: a future date, or a check using today().
  return { text, params: futureWords.length || direct.length ? [asOf] : [], words: words.length };
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
