// Disclosure control of stored indicator results (src/disclosure/indicators.ts decides; this reads
// the counts and stores the decisions). A full computation decides every count of its indicators;
// an incremental batch (incremental.ts) only the years its changes touched — with the same outcome,
// for two reasons:
//   - every relation disclosure control knows (a unit and its sub-units, a total and its strata, a
//     year and its quarters and months) lies within one year and dataset, so each year of each
//     dataset is decided on its own (12-month windows are no relation but a rule over the months of
//     the two years they span: a window ending in year y is decided with the months of y − 1 and y);
//   - the decision of one such part depends only on the order of its own counts and relations, and
//     counts are always read in the same order (the result key), so a part decides alone as it does
//     among all the others.
// The check that it is so is test/indicators-incremental.test.ts (withheld flags after every batch
// equal to those of a full computation).
import type { Client } from 'pg';
import { indicatorDisclosure, type IndicatorCount } from '../disclosure/indicators.ts';
import type { UnitTree } from '../units/tree.ts';
import type { Indicator } from './load.ts';

/** Which years of which dataset changed, per indicator; absent: every year. */
export type ChangedYears = Map<string, Map<string, Set<number>>>;

const ROLLING = 'rolling-12-months';

export const KEY_ORDER =
  'dataset COLLATE "C", grain COLLATE "C", period COLLATE "C", unit_resh COLLATE "C", stratifier COLLATE "C", stratum COLLATE "C"';
const policy = (ind: Indicator) => ({
  threshold: ind.disclosure.threshold,
  minimumDenominator: ind.minimumDenominator,
  numerator: ind.disclosure.numerator,
});

/** The decisions as small numbers, to travel as one fixed-width array (int2[]): 0 shown. */
export const REASON_CODES = ['too-few', 'small', 'linked'] as const;
const codeOf = (w: string | null) => (w === null ? 0 : REASON_CODES.indexOf(w as (typeof REASON_CODES)[number]) + 1);
/** SQL turning such a code back into the stored reason (NULL: shown). */
export const reasonOfCode = (code: string) => `(CASE ${code} ${REASON_CODES.map((r, i) => `WHEN ${i + 1} THEN '${r}'`).join(' ')} END)`;

/**
 * Decides disclosure for freshly computed counts of `inds` in `table` (indicator, dataset, grain,
 * period, unit_resh, stratifier, stratum, numerator, denominator, and `ord`: 1, 2, … in the order
 * of indicator and result key, see engine.ts). Read in one go in that order, decided per
 * indicator; returns each row's decisions for its numerator and denominator by `ord` (index
 * ord − 1), as codes (REASON_CODES), for the counts to be written with their decisions in one
 * statement without a join (a full computation).
 */
export async function decideInto(
  db: Client,
  table: string,
  inds: Indicator[],
  units: UnitTree,
): Promise<{ numerator: number[]; denominator: number[]; withheld: number }> {
  const { rows } = await db.query({
    text: `SELECT indicator, dataset, grain, period, unit_resh, stratifier, stratum, numerator, denominator FROM ${table} ORDER BY ord`,
    rowMode: 'array',
  });
  const numerator = new Array<number>(rows.length).fill(0);
  const denominator = new Array<number>(rows.length).fill(0);
  const byId = new Map(inds.map((i) => [i.def.id, i]));
  let withheld = 0;
  for (let start = 0; start < rows.length;) {
    let end = start;
    while (end < rows.length && rows[end][0] === rows[start][0]) end++;
    const ind = byId.get(rows[start][0] as string);
    if (ind) {
      const counts: IndicatorCount[] = [];
      for (let i = start; i < end; i++) {
        const r = rows[i];
        counts.push({
          dataset: r[1],
          grain: r[2],
          period: r[3],
          unit_resh: r[4],
          stratifier: r[5],
          stratum: r[6],
          numerator: r[7],
          denominator: r[8],
        });
      }
      const decided = indicatorDisclosure(counts, policy(ind), units);
      for (let i = start; i < end; i++) {
        const w = decided[i - start];
        numerator[i] = codeOf(w.numerator);
        denominator[i] = codeOf(w.denominator);
        if (w.numerator !== null || w.denominator !== null) withheld++;
      }
    }
    start = end;
  }
  return { numerator, denominator, withheld };
}

/**
 * Decides disclosure for the stored counts of `inds` (all of them, or the parts `changed` names)
 * and stores the decisions that differ from those stored. Returns how many rows it changed.
 */
export async function storeDisclosure(
  db: Client,
  registry: string,
  inds: Indicator[],
  units: UnitTree,
  changed?: ChangedYears,
): Promise<number> {
  let updated = 0;
  for (const ind of inds) {
    const scopes: Array<{ dataset: string | null; years: number[] | null; rollingYears: number[] | null }> = [];
    if (!changed) scopes.push({ dataset: null, years: null, rollingYears: null });
    else {
      for (const [dataset, years] of changed.get(ind.def.id) ?? []) {
        const rolling = ind.def.grains.includes(ROLLING);
        // Windows ending in a changed year or the next depend on the changed months; they are
        // decided with the months of their two years, each of those years decided in full.
        const decided = rolling ? [...new Set([...years].flatMap((y) => [y, y + 1]))] : [...years];
        const read = rolling ? [...new Set(decided.flatMap((y) => [y - 1, y]))] : decided;
        scopes.push({ dataset, years: read, rollingYears: rolling ? decided : [] });
      }
    }
    for (const scope of scopes) {
      // In the order of the result key: the order every decision of this indicator reads them in.
      const { rows } = await db.query(
        `SELECT dataset, grain, period, unit_resh, stratifier, stratum, numerator, denominator, numerator_withheld AS wk, denominator_withheld AS wn
        FROM indicator_result WHERE registry = $1 AND indicator = $2 AND ($3::text IS NULL OR dataset = $3)
          AND ($4::int[] IS NULL OR (grain <> '${ROLLING}' AND left(period, 4)::int = ANY($4)) OR (grain = '${ROLLING}' AND left(period, 4)::int = ANY($5)))
        ORDER BY ${KEY_ORDER}`,
        [registry, ind.def.id, scope.dataset, scope.years, scope.rollingYears],
      );
      if (rows.length === 0) continue;
      // Whether months are there decides how windows are judged: the same whichever years are read.
      if (scope.years && rows.some((r) => r.grain === ROLLING) && !rows.some((r) => r.grain === 'month')) {
        // No month in the years read (all their cases gone): decide the whole indicator instead.
        updated += await storeDisclosure(db, registry, [ind], units);
        continue;
      }
      const decided = indicatorDisclosure(rows as IndicatorCount[], policy(ind), units);
      const changedRows = rows.map((r, i) => ({ r, w: decided[i] })).filter(({ r, w }) => r.wk !== w.numerator || r.wn !== w.denominator);
      if (changedRows.length === 0) continue;
      const col = (f: (x: (typeof changedRows)[number]) => unknown) => changedRows.map(f);
      updated +=
        (
          await db.query(
            `UPDATE indicator_result r SET numerator_withheld = x.wk, denominator_withheld = x.wn
        FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[]) x(dataset, grain, period, unit_resh, stratifier, stratum, wk, wn)
        WHERE r.registry = $1 AND r.indicator = $2 AND (r.dataset, r.grain, r.period, r.unit_resh, r.stratifier, r.stratum) = (x.dataset, x.grain, x.period, x.unit_resh, x.stratifier, x.stratum)`,
            [
              registry,
              ind.def.id,
              col((x) => x.r.dataset),
              col((x) => x.r.grain),
              col((x) => x.r.period),
              col((x) => x.r.unit_resh),
              col((x) => x.r.stratifier),
              col((x) => x.r.stratum),
              col((x) => x.w.numerator),
              col((x) => x.w.denominator),
            ],
          )
        ).rowCount ?? 0;
    }
  }
  return updated;
}
