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

const KEY_ORDER =
  'dataset COLLATE "C", grain COLLATE "C", period COLLATE "C", unit_resh COLLATE "C", stratifier COLLATE "C", stratum COLLATE "C"';
const policy = (ind: Indicator) => ({
  threshold: ind.disclosure.threshold,
  minimumDenominator: ind.minimumDenominator,
  numerator: ind.disclosure.numerator,
});

/**
 * Decides disclosure for freshly computed counts of `inds` in `table` (registry, indicator, dataset,
 * grain, period, unit_resh, stratifier, stratum, numerator, denominator) and leaves the withheld
 * ones in the temporary table `ind_withheld` (same key, wk, wn), for the counts to be written with
 * their decisions in one statement (a full computation).
 */
export async function decideInto(db: Client, table: string, inds: Indicator[], units: UnitTree): Promise<number> {
  const cols: unknown[][] = Array.from({ length: 9 }, () => []);
  for (const ind of inds) {
    const { rows } = await db.query(
      `SELECT dataset, grain, period, unit_resh, stratifier, stratum, numerator, denominator FROM ${table} WHERE indicator = $1 ORDER BY ${KEY_ORDER}`,
      [ind.def.id],
    );
    const decided = indicatorDisclosure(rows as IndicatorCount[], policy(ind), units);
    rows.forEach((r, i) => {
      const w = decided[i];
      if (w.numerator === null && w.denominator === null) return;
      [ind.def.id, r.dataset, r.grain, r.period, r.unit_resh, r.stratifier, r.stratum, w.numerator, w.denominator].forEach((v, j) =>
        cols[j].push(v),
      );
    });
  }
  await db.query(
    `CREATE TEMP TABLE ind_withheld ON COMMIT DROP AS
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
      AS x(indicator, dataset, grain, period, unit_resh, stratifier, stratum, wk, wn)`,
    cols,
  );
  return cols[0].length;
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
