// Each case's outcome of every data-quality check, kept in its own analytics row: generated
// columns that PostgreSQL computes whenever the row is written (by either way of the refresh).
// Measuring then counts cases per unit, year and combination of outcomes — a few integers per
// case — instead of evaluating some 60 predicates and aggregates per case on every measurement
// (measures.ts), and the counts of each check are added up from the combinations.
//
// Only what does not depend on the day of the computation is stored. A date after the computation
// date is judged when read: each row stores the latest of its dates, so the rows that could hold
// one are found with a single comparison. A rule or requirement that uses `today()` is counted
// when read, as before. The layout is named by a hash of its definitions (`dq_<tag>_…`), so a
// table built for another codebook is never read with this one's layout; a changed layout changes
// the table's signature, and the table is rebuilt.
import crypto from 'node:crypto';
import { analyticsColumns } from '../analytics/columns.ts';
import type { Registry } from '../registry/load.ts';
import { buildChecks, checkKey, dateOf, yearOf, type Check } from './checks.ts';
import { loadQualityDef } from './declaration.ts';

/** Outcomes per integer column: 31 bits keep the column positive. */
export const BITS_PER_COLUMN = 31;

export interface StoredOutcomes {
  /** Names this layout in the columns' names. */
  tag: string;
  /** One bit per predicate, in order: `present:<variable>`, `eligible:<key>`, `unknown:<key>`, `failing:<key>`, `known:<key>`, `fails:<key>`. */
  bits: Array<{ id: string; sql: string }>;
  /** Future-date checks: judged against the as-of date when read, from the variable's date (over alias `a`). */
  future: Array<{ key: string; variable: string; date: string }>;
  /** Checks whose outcome depends on the as-of date in another way (`today()`): counted when read (over the table's bare column names). */
  direct: Check[];
  /** Every check the layout covers, by key. */
  keys: Set<string>;
  columns: { masks: string[]; year: string; latest: string | null; registration: string | null; finalisation: string | null };
  /** The generated columns, for CREATE TABLE. */
  ddl: string[];
}

const cache = new WeakMap<Registry, StoredOutcomes | null>();

/** The stored layout of a registry's checks; null when it declares no data quality. */
export function storedOutcomes(registry: Registry): StoredOutcomes | null {
  if (cache.has(registry)) return cache.get(registry)!;
  const built = build(registry);
  cache.set(registry, built);
  return built;
}

/** Whether any of the check's predicates depends on the computation date. */
const usesAsOf = (c: Check) =>
  (c.kind === 'completeness'
    ? [c.eligible, c.present, c.unknown]
    : c.kind === 'validity'
      ? [c.checked, c.failing]
      : [c.checked, c.failing, c.outcome]
  ).some((p) => p?.includes('$AS_OF'));

function build(registry: Registry): StoredOutcomes | null {
  const types = new Map(analyticsColumns(registry).map((c) => [c.name, c.type]));
  const def = loadQualityDef(registry, new Map([...types].map(([k, v]) => [k, v as string])));
  if (!def) return null;
  // The same checks as those read (the roles, which need the indicators, do not matter here).
  const set = buildChecks(registry, def, [], 'stored');
  const bits: StoredOutcomes['bits'] = [];
  const bit = (id: string, sql: string) => {
    if (!bits.some((b) => b.id === id)) bits.push({ id, sql });
  };
  const present = (variable: string) => bit(`present:${variable}`, `"${variable}" IS NOT NULL`);
  const future: StoredOutcomes['future'] = [];
  const direct: Check[] = [];
  // In the order of their keys: the order the report shows them in (roles, which an edit of the
  // adjustment variables changes) must not move the bits, which would rebuild the columns.
  for (const c of [...set.checks].sort((x, y) => (checkKey(x) < checkKey(y) ? -1 : 1))) {
    const key = checkKey(c);
    if (c.kind === 'validity' && c.rule === 'future-date') {
      present(c.variable);
      future.push({ key, variable: c.variable, date: dateOf(c.variable, types.get(c.variable)) });
    } else if (usesAsOf(c)) direct.push(c);
    else if (c.kind === 'completeness') {
      present(c.variable);
      if (c.eligible !== 'TRUE') bit(`eligible:${key}`, c.eligible);
      if (c.unknown) bit(`unknown:${key}`, `(${c.unknown}) IS TRUE`);
    } else if (c.kind === 'validity') {
      present(c.variable);
      bit(`failing:${key}`, `(${c.failing}) IS TRUE`);
    } else {
      bit(`known:${key}`, `(${c.outcome}) IS NOT NULL`);
      bit(`fails:${key}`, `(${c.outcome}) IS FALSE`);
    }
  }
  const masks: string[] = [];
  for (let i = 0; i < bits.length; i += BITS_PER_COLUMN)
    masks.push(
      bits
        .slice(i, i + BITS_PER_COLUMN)
        .map((b, k) => `(CASE WHEN ${b.sql} THEN ${2 ** k} ELSE 0 END)`)
        .join(' | '),
    );
  const defs: Array<[string, string, string]> = masks.map((m, i) => [`m${i}`, 'integer', m]);
  // A date PostgreSQL holds as infinite has no year: without the guard, storing its row would fail
  // the refresh (the year as an integer overflows) for good.
  defs.push(['year', 'integer', `CASE WHEN isfinite(${set.periodSql}) THEN ${yearOf(set.periodSql)} END`]);
  // The latest of the dates checked against the computation date (their dates in Oslo).
  if (future.length)
    defs.push(['latest', 'date', `greatest(${future.map((f) => dateOf(f.variable, types.get(f.variable), (n) => `"${n}"`)).join(', ')})`]);
  if (set.timeliness && def.timeliness) {
    // Days from an infinite date cannot be counted (PostgreSQL refuses the subtraction), which
    // would fail the refresh of the row for good: no days then.
    const event = dateOf(def.timeliness.eventDate, types.get(def.timeliness.eventDate), (n) => `"${n}"`);
    defs.push(['registration', 'integer', `CASE WHEN isfinite(${event}) THEN ${set.timeliness.registration} END`]);
    defs.push(['finalisation', 'integer', `CASE WHEN isfinite(${event}) THEN ${set.timeliness.finalisation} END`]);
  }
  const tag = crypto
    .createHash('sha256')
    .update(defs.map((d) => d.join(' ')).join('\n'))
    .digest('hex')
    .slice(0, 10);
  const name = (suffix: string) => `dq_${tag}_${suffix}`;
  const has = (suffix: string) => defs.some((d) => d[0] === suffix);
  return {
    tag,
    bits,
    future,
    direct,
    keys: new Set(set.checks.map(checkKey)),
    columns: {
      masks: masks.map((_, i) => name(`m${i}`)),
      year: name('year'),
      latest: has('latest') ? name('latest') : null,
      registration: has('registration') ? name('registration') : null,
      finalisation: has('finalisation') ? name('finalisation') : null,
    },
    ddl: defs.map(([suffix, type, sql]) => `"${name(suffix)}" ${type} GENERATED ALWAYS AS (${sql}) STORED`),
  };
}
