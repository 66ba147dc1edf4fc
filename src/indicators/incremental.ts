// Keeps the stored indicator results in step with the analytics table between full computations:
// each batch of changed cases the analytics refresher writes moves only the result rows its cases
// leave and enter, in the batch's own transaction (so results and rows never disagree).
//
// Before the batch's rows change, the rows of every patient and event concerned (all their cases,
// not only the changed ones: a patient is counted once, so whether they count in a cell depends on
// all their cases) are turned into signed flag rows (rows.ts); after, the same rows again; the
// difference, expanded over datasets, unit levels, periods and strata (engine.ts), is added to the
// stored counts, and result rows whose denominator falls to 0 are removed. Exact for cases, patients
// and events alike, whatever the batch.
//
// Results move only when they are current: computed from the analytics version the batch starts
// from, with the same definition (signature). Otherwise, and for a batch too large to be worth it
// (a rebuild, a bulk load), they are left behind and the next read recomputes them in full. A case
// whose analytics row vanished without the refresher (an opt-out deletes the person and, by cascade,
// the row) cannot be subtracted: the results are then left for a full computation too.
import type { Logger } from 'pino';
import type { PersonTx } from '../access/door.ts';
import { analyticsTable } from '../analytics/columns.ts';
import type { AnalyticsObserver } from '../analytics/refresh.ts';
import type { Registry } from '../registry/load.ts';
import { expandedCountsSql } from './engine.ts';
import type { Indicator } from './load.ts';
import { flagRowsSql, indicatorRows, type IndicatorRows } from './rows.ts';
import { storeDisclosure, type ChangedYears } from './withheld.ts';
import type { UnitTree } from '../units/tree.ts';

/**
 * Takes out of the batch's flag rows what did not change, before they are expanded over datasets,
 * unit levels and periods (the expansion is most of a batch's cost, and most flag rows cancel: an
 * answer to a questionnaire moves the PROM indicators of its patient, not the other forty). Exact:
 * - a patient's or event's rows for an indicator count as a set (once per key, the largest
 *   numerator), so they go only when that set is the same before and after;
 * - rows counted each (no entity) count linearly, so a row before and an identical row after
 *   cancel pairwise.
 */
const CANCEL_UNCHANGED = `
  WITH entity_same AS (
    SELECT k, entity FROM ind_delta WHERE entity IS NOT NULL GROUP BY k, entity
    HAVING array_agg(ROW(part, path, m, fin, stratifier, stratum, n)::text ORDER BY ROW(part, path, m, fin, stratifier, stratum, n)::text) FILTER (WHERE state = -1)
         IS NOT DISTINCT FROM
           array_agg(ROW(part, path, m, fin, stratifier, stratum, n)::text ORDER BY ROW(part, path, m, fin, stratifier, stratum, n)::text) FILTER (WHERE state = 1)),
  pairs AS (
    SELECT ctid FROM (
      SELECT ctid, row_number() OVER (PARTITION BY k, part, path, m, fin, stratifier, stratum, n, state ORDER BY ctid) AS i,
             count(*) FILTER (WHERE state = -1) OVER w AS before, count(*) FILTER (WHERE state = 1) OVER w AS after
      FROM ind_delta WHERE entity IS NULL
      WINDOW w AS (PARTITION BY k, part, path, m, fin, stratifier, stratum, n)) x
    WHERE i <= least(before, after))
  DELETE FROM ind_delta d
  WHERE (d.entity IS NOT NULL AND (d.k, d.entity) IN (SELECT k, entity FROM entity_same)) OR d.ctid IN (SELECT ctid FROM pairs)`;

/** Above this many changed cases in one batch, the results are recomputed in full instead. */
export const DELTA_LIMIT = 2_000;

interface Pending {
  inds: Indicator[];
  asOf: string;
  persons: number[];
  events: string[];
  rows: IndicatorRows[];
  values: unknown[];
  from: string;
}

export interface MaintainerDeps {
  active: (registry: string) => Indicator[];
  signature: (registry: Registry, ind: Indicator) => string;
  nation: () => string;
  units: UnitTree;
  log: Logger;
}

export class IndicatorMaintainer implements AnalyticsObserver {
  /** Batches of more changed cases than this leave the results for a full computation. */
  limit = DELTA_LIMIT;

  constructor(private readonly deps: MaintainerDeps) {}

  async before(tx: PersonTx, registry: Registry, caseIds: number[], version: number): Promise<Pending | null> {
    const inds = this.deps.active(registry.id);
    if (inds.length === 0 || caseIds.length > this.limit) return null;
    const db = tx.client;
    // Serialised with full computations (service.ts takes the same lock), so that the results this
    // batch moves are not being replaced meanwhile.
    await db.query('SELECT pg_advisory_xact_lock(4243, hashtext($1))', [registry.id]);
    const runs = new Map(
      (
        await db.query('SELECT indicator, version, as_of::text AS as_of, signature FROM indicator_run WHERE registry = $1', [registry.id])
      ).rows.map((r) => [
        r.indicator as string,
        { version: Number(r.version), asOf: r.as_of as string, signature: r.signature as string | null },
      ]),
    );
    const current = inds.filter((i) => {
      const run = runs.get(i.def.id);
      return run && run.version === version && run.signature === this.deps.signature(registry, i);
    });
    if (current.length === 0) return null;
    // One as-of date for the batch (a computation gives every indicator the same).
    const asOf = current
      .map((i) => runs.get(i.def.id)!.asOf)
      .sort()
      .at(-1)!;
    const moving = current.filter((i) => runs.get(i.def.id)!.asOf === asOf);
    await db.query('SAVEPOINT indicators_before');
    try {
      const table = analyticsTable(registry);
      const {
        rows: [who],
      } = await db.query(
        `SELECT
          (SELECT count(*) FROM unnest($2::bigint[]) x(changed) WHERE NOT EXISTS (SELECT 1 FROM ${table} t WHERE t.case_id = x.changed)
             AND NOT EXISTS (SELECT 1 FROM registry_case c WHERE c.registry = $1 AND c.id = x.changed)) AS vanished,
          ARRAY(SELECT DISTINCT person_id FROM (SELECT person_id FROM ${table} WHERE case_id = ANY($2) UNION ALL
                SELECT person_id FROM registry_case WHERE registry = $1 AND id = ANY($2)) p) AS persons,
          ARRAY(SELECT DISTINCT event_key FROM (SELECT event_key FROM ${table} WHERE case_id = ANY($2) UNION ALL
                SELECT event_key FROM registry_case WHERE registry = $1 AND id = ANY($2)) e WHERE event_key IS NOT NULL) AS events`,
        [registry.id, caseIds],
      );
      if (Number(who.vanished) > 0) {
        // Gone with their person (an opt-out): what they added is unknown now.
        this.deps.log.info(
          { registry: registry.id, cases: Number(who.vanished) },
          'analytics rows removed outside the refresher; indicators will be recomputed in full',
        );
        await db.query('RELEASE SAVEPOINT indicators_before');
        return null;
      }
      const values: unknown[] = [asOf, this.deps.nation()];
      const param = (v: unknown) => {
        values.push(v);
        return `$${values.length}`;
      };
      const rows = moving.map((ind, k) => indicatorRows(registry, ind, k, param, '$1::date'));
      const persons = (who.persons as string[]).map(Number),
        events = who.events as string[];
      // Every row of the patients and events concerned (found by index: person_id, event_key).
      const from = `a.person_id = ANY(${param(persons)}::bigint[])${events.length ? ` OR a.event_key = ANY(${param(events)}::text[])` : ''}`;
      await db.query(
        `CREATE TEMP TABLE ind_delta ON COMMIT DROP AS
        SELECT -1 AS state, f.entity, f.k, f.part, f.path, f.m, f.fin, f.stratifier, f.stratum, f.n FROM (${flagRowsSql(rows, table, from, '$2', '$1')}) f`,
        values,
      );
      await db.query('RELEASE SAVEPOINT indicators_before');
      return { inds: moving, asOf, persons, events, rows, values, from };
    } catch (err) {
      await db.query('ROLLBACK TO SAVEPOINT indicators_before');
      this.deps.log.error({ err, registry: registry.id }, 'indicator results could not follow this batch; they will be recomputed in full');
      return null;
    }
  }

  async after(tx: PersonTx, registry: Registry, state: unknown, version: number): Promise<void> {
    const pending = state as Pending | null;
    if (!pending) return;
    const db = tx.client;
    await db.query('SAVEPOINT indicators_after');
    try {
      await db.query(
        `INSERT INTO ind_delta SELECT 1, f.entity, f.k, f.part, f.path, f.m, f.fin, f.stratifier, f.stratum, f.n FROM (${flagRowsSql(pending.rows, analyticsTable(registry), pending.from, '$2', '$1')}) f`,
        pending.values,
      );
      await db.query(CANCEL_UNCHANGED);
      const ids = pending.inds.map((i) => i.def.id);
      await db.query(
        `CREATE TEMP TABLE ind_moved ON COMMIT DROP AS
        SELECT $2::text AS registry, ($3::text[])[k + 1] AS indicator, ds AS dataset, grain, period, resh AS unit_resh, stratifier, stratum, n, d
        FROM (${expandedCountsSql('ind_delta', pending.rows, '$1')}) c WHERE c.n <> 0 OR c.d <> 0`,
        [pending.asOf, registry.id, ids],
      );
      await db.query(`INSERT INTO indicator_result AS r (registry, indicator, dataset, grain, period, unit_resh, stratifier, stratum, numerator, denominator)
        SELECT registry, indicator, dataset, grain, period, unit_resh, stratifier, stratum, n, d FROM ind_moved
        ON CONFLICT (registry, indicator, dataset, grain, period, unit_resh, stratifier, stratum)
        DO UPDATE SET numerator = r.numerator + EXCLUDED.numerator, denominator = r.denominator + EXCLUDED.denominator`);
      const {
        rows: [check],
      } = await db.query(`WITH moved AS (
          SELECT r.ctid, r.numerator, r.denominator FROM indicator_result r JOIN ind_moved m ON (m.registry, m.indicator, m.dataset, m.grain, m.period, m.unit_resh, m.stratifier, m.stratum)
            = (r.registry, r.indicator, r.dataset, r.grain, r.period, r.unit_resh, r.stratifier, r.stratum)),
        gone AS (DELETE FROM indicator_result r USING moved WHERE r.ctid = moved.ctid AND moved.denominator = 0 AND moved.numerator = 0 RETURNING 1)
        SELECT (SELECT count(*) FROM moved WHERE denominator < 0 OR numerator < 0 OR (denominator = 0 AND numerator <> 0)) AS wrong, (SELECT count(*) FROM gone) AS gone,
               (SELECT count(*) FROM ind_moved) AS moved`);
      // Counts that went below zero mean the results did not hold what the rows said: start over.
      if (Number(check.wrong) > 0) throw new Error(`${check.wrong} indicator result rows would have gone negative`);
      // Disclosure control again where counts moved: the years they are in (withheld.ts).
      const changed: ChangedYears = new Map();
      for (const r of (await db.query(`SELECT DISTINCT indicator, dataset, left(period, 4)::int AS y FROM ind_moved`)).rows) {
        let byDataset = changed.get(r.indicator);
        if (!byDataset) changed.set(r.indicator, (byDataset = new Map()));
        let years = byDataset.get(r.dataset);
        if (!years) byDataset.set(r.dataset, (years = new Set()));
        years.add(Number(r.y));
      }
      await storeDisclosure(db, registry.id, pending.inds, this.deps.units, changed);
      await db.query('UPDATE indicator_run SET version = $3 WHERE registry = $1 AND indicator = ANY($2)', [registry.id, ids, version]);
      await db.query('DROP TABLE ind_delta, ind_moved');
      await db.query('RELEASE SAVEPOINT indicators_after');
    } catch (err) {
      await db.query('ROLLBACK TO SAVEPOINT indicators_after');
      this.deps.log.error({ err, registry: registry.id }, 'indicator results could not follow this batch; they will be recomputed in full');
    }
  }
}
