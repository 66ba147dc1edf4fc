// Computes indicators for every unit at every level (department, hospital, health trust, region,
// nation), every period of their grains, every stratum, and both datasets (fresh, and
// quality-assured = finalised cases only), from the registry's analytics table. Only counts leave
// the database; they are stored in indicator_result.
//
// A full computation reads the table once for every indicator together (one pass, not one scan per
// indicator), collapsing rows into cells with counts: per unit (the row's unit path), month and
// dataset for the totals, per unit, year and stratum for each stratifier (one GROUP BY per set). The cells
// are small, so the rest is cheap: cells → every unit level (unnesting the path), → every grain
// (years, quarters and months from the monthly sums; a 12-month window from the twelve months in
// it). Counting patients or events, a person (event) whose cases fall in no common period is counted
// exactly by adding their cases like any others; only those with two cases within twelve months
// (who could be counted twice in one year, quarter, month or window) are counted distinct, from
// their own rows, as a correction. Between full computations, incremental.ts moves the results
// with each batch of changed cases, with the same row-level definitions (rows.ts).
import type { PersonTx } from '../access/door.ts';
import { analyticsTable } from '../analytics/columns.ts';
import type { Registry } from '../registry/load.ts';
import type { UnitTree } from '../units/tree.ts';
import type { Indicator } from './load.ts';
import { computedGrains, dateColumn, flagRowsSql, indicatorRows, literal, unitPath, type IndicatorRows } from './rows.ts';
import type { Grain } from './schema.ts';
import { decideInto, KEY_ORDER, reasonOfCode } from './withheld.ts';

export { computedGrains, dateColumn };

export interface ComputeOptions {
  /** What `today()` means in the definitions (follow-up windows): YYYY-MM-DD. */
  asOf: string;
  /** The root of the unit tree: cases without a unit still count for the nation. */
  nation: string;
  /** The unit tree disclosure control protects the counts along (a unit is the sum of its sub-units). */
  units: UnitTree;
}

/** SQL giving the period label of date `d` for a grain; rolling windows give one label per window the date falls in. */
export function periodRows(grain: Grain, d: string, asOf: string): string {
  switch (grain) {
    case 'year':
      return `SELECT 'year'::text, to_char(${d}, 'YYYY')`;
    case 'quarter':
      return `SELECT 'quarter'::text, to_char(${d}, 'YYYY-"Q"Q')`;
    case 'month':
      return `SELECT 'month'::text, to_char(${d}, 'YYYY-MM')`;
    // The 12-month window ending with each month: a case counts in the 12 windows that contain it,
    // up to the window ending with the as-of month.
    case 'rolling-12-months':
      return `SELECT 'rolling-12-months'::text, to_char(${d} + make_interval(months => k), 'YYYY-MM')
      FROM generate_series(0, 11) k WHERE date_trunc('month', ${d} + make_interval(months => k)) <= date_trunc('month', ${asOf}::date)`;
  }
}

/** Which of the computation's indicators (by position k) have a grain. */
function withGrain(rows: IndicatorRows[], grain: Grain): string {
  const ks = rows.filter((r) => r.grains.includes(grain)).map((r) => r.k);
  return ks.length ? `ARRAY[${ks.join(', ')}]::int[]` : `'{}'::int[]`;
}

/**
 * The periods of a flag row `f` (k, m = month, stratifier): every grain of its indicator for the
 * totals, the year for a stratum.
 */
function periodsOf(rows: IndicatorRows[], asOf: string): string {
  return `SELECT 'year'::text, to_char(f.m, 'YYYY') WHERE f.k = ANY(${withGrain(rows, 'year')})
    UNION ALL SELECT 'quarter', to_char(f.m, 'YYYY-"Q"Q') WHERE f.stratifier = '' AND f.k = ANY(${withGrain(rows, 'quarter')})
    UNION ALL SELECT 'month', to_char(f.m, 'YYYY-MM') WHERE f.stratifier = '' AND f.k = ANY(${withGrain(rows, 'month')})
    UNION ALL SELECT 'rolling-12-months', to_char(f.m + make_interval(months => w), 'YYYY-MM') FROM generate_series(0, 11) w
      WHERE f.stratifier = '' AND f.k = ANY(${withGrain(rows, 'rolling-12-months')}) AND date_trunc('month', f.m + make_interval(months => w)) <= date_trunc('month', ${asOf}::date)`;
}

/**
 * Counts from a table of signed flag rows (state ±1, k, entity, part, path, m, fin, stratifier,
 * stratum, n; see rows.ts `flagRowsSql`), expanded over datasets, unit levels and periods: per
 * result key, the numerator and denominator, with rows of one entity (patient or event) counted
 * once per key and part, and rows without an entity each. Gives k, ds, grain, period, resh,
 * stratifier, stratum, n, d (the signed sums).
 */
export function expandedCountsSql(table: string, rows: IndicatorRows[], asOf: string): string {
  return `
    WITH x AS (
      SELECT f.state, f.k, f.entity, f.part, ds.ds, g.grain, g.period, u.resh, f.stratifier, f.stratum, f.n
      FROM ${table} f
      CROSS JOIN LATERAL (VALUES ('fresh'), ('qa')) ds(ds)
      CROSS JOIN LATERAL unnest(f.path) u(resh)
      CROSS JOIN LATERAL (${periodsOf(rows, asOf)}) g(grain, period)
      WHERE ds.ds = 'fresh' OR f.fin
    ), e AS (
      SELECT state, k, ds, grain, period, resh, stratifier, stratum,
             CASE WHEN entity IS NULL THEN count(*) ELSE 1 END AS d,
             CASE WHEN entity IS NULL THEN sum(n) ELSE max(n) END AS n
      FROM x GROUP BY state, k, ds, grain, period, resh, stratifier, stratum, entity, part
    )
    SELECT k, ds, grain, period, resh, stratifier, stratum, sum(state * n)::bigint AS n, sum(state * d)::bigint AS d
    FROM e GROUP BY 1, 2, 3, 4, 5, 6, 7`;
}

export interface ComputeResult {
  rows: number;
  ms: number;
  phases: Record<string, number>;
  /** A computation shared out in parts: each part's indicators and milliseconds, to see how evenly they were shared. */
  parts?: Array<{ indicators: number; ms: number }>;
}

/**
 * Computes `inds` for the whole table in one shared pass and replaces their stored results (only
 * rows whose counts changed are written). Returns the result rows and where the time went.
 */
export async function computeIndicators(
  tx: PersonTx,
  registry: Registry,
  inds: Indicator[],
  opts: ComputeOptions & { version: number; signature: (ind: Indicator) => string },
): Promise<ComputeResult> {
  const db = tx.client;
  const started = performance.now();
  const phases: Record<string, number> = {};
  let mark = started;
  const phase = (name: string) => {
    const now = performance.now();
    phases[name] = Math.round(now - mark);
    mark = now;
  };
  const values: unknown[] = [opts.asOf, opts.nation];
  const param = (v: unknown) => {
    values.push(v);
    return `$${values.length}`;
  };
  const rows = inds.map((ind, k) => indicatorRows(registry, ind, k, param, '$1::date'));
  const table = analyticsTable(registry);
  // Hash tables of the passes below stay in memory (the cells are small; the persons looked at once are not).
  await db.query(`SET LOCAL work_mem = '256MB'`);

  // 1. One pass: every row into cells per unit path, dataset and month (totals) and per unit path,
  //    dataset, year and stratum (each stratifier's strata), with every indicator's counts.
  const dates = [...new Set(rows.map((r) => r.date))];
  const strata = [...new Set(rows.filter((r) => r.byYear).flatMap((r) => r.caseStrata))];
  const grouping = [...dates.flatMap((_, j) => [`m${j}`, `y${j}`]), ...strata.map((_, i) => `s${i}`)];
  if (grouping.length > 31) throw new Error(`${registry.id}: too many period dates and stratifiers for one pass (${grouping.length})`);
  const mask = (set: string[]) => grouping.reduce((m, g, i) => (set.includes(g) ? m : m | (1 << (grouping.length - 1 - i))), 0);
  const sets: Array<{ cols: string[]; mask: number }> = [];
  for (let j = 0; j < dates.length; j++) {
    sets.push({ cols: [`m${j}`], mask: mask([`m${j}`]) });
    const used = new Set(rows.filter((r) => r.byYear && r.date === dates[j]).flatMap((r) => r.caseStrata));
    for (const s of used) {
      const c = [`y${j}`, `s${strata.indexOf(s)}`];
      sets.push({ cols: c, mask: mask(c) });
    }
  }
  const totalsMask = (r: IndicatorRows) => mask([`m${dates.indexOf(r.date)}`]);
  const strataMask = (r: IndicatorRows, s: string) => mask([`y${dates.indexOf(r.date)}`, `s${strata.indexOf(s)}`]);
  const sums = rows.flatMap((r) => [
    `CASE WHEN ${r.inPopulation} THEN ${r.parts.map((p) => `${p.d}::int`).join(' + ')} ELSE 0 END AS d${r.k}`,
    `CASE WHEN ${r.inPopulation} THEN ${r.parts.map((p) => p.n).join(' + ')} ELSE 0 END AS n${r.k}`,
    ...(r.byYear
      ? r.countStrata.flatMap((c, j) => c.strata.map((st, i) => `CASE WHEN ${r.inPopulation} THEN ${st.n} ELSE 0 END AS c${r.k}_${j}_${i}`))
      : []),
  ]);
  const sumNames = rows.flatMap((r) => [
    `d${r.k}`,
    `n${r.k}`,
    ...(r.byYear ? r.countStrata.flatMap((c, j) => c.strata.map((_, i) => `c${r.k}_${j}_${i}`)) : []),
  ]);
  // Each grouping set sums only what its cells are read for: the totals every indicator's counts,
  // a stratifier's cells only the indicators stratified by it. (One GROUP BY GROUPING SETS summed
  // every count in every set: 5 sets × 50 sums per row for the first registry, four fifths of it
  // never read, and most of the cold computation's time at 1,000,000 cases.) The rows are read and
  // their flags evaluated once, into a materialised CTE that each set's GROUP BY reads.
  const needed = (set: { cols: string[] }): Set<string> => {
    if (set.cols[0].startsWith('m')) return new Set(sumNames);
    const j = Number(set.cols[0].slice(1)),
      st = strata[Number(set.cols[1].slice(1))];
    return new Set(rows.filter((r) => r.byYear && r.date === dates[j] && r.caseStrata.includes(st)).flatMap((r) => [`d${r.k}`, `n${r.k}`]));
  };
  const perSet = sets.map((set) => {
    const sums = needed(set);
    const [period, stratum] = set.cols;
    return `SELECT ${set.mask}::int AS gs, b.path, b.fin, b.${period} AS m, ${stratum ? `b.${stratum}` : 'NULL::text'} AS sv,
           ${sumNames.map((n) => (sums.has(n) ? `sum(b.${n})::bigint AS ${n}` : `0::bigint AS ${n}`)).join(', ')}
    FROM b GROUP BY b.path, b.fin, b.${period}${stratum ? `, b.${stratum}` : ''}`;
  });
  await db.query(
    `CREATE TEMP TABLE ind_cell ON COMMIT DROP AS
    WITH b AS MATERIALIZED (
      SELECT ${unitPath('$2')} AS path, a.finalised AS fin,
            ${dates.map((d, j) => `date_trunc('month', ${d})::date AS m${j}, date_trunc('year', ${d})::date AS y${j}`).join(', ')},
            ${strata
              .map((s, i) => `coalesce(a."${s}"::text, 'unknown') AS s${i}`)
              .concat(sums)
              .join(',\n            ')}
          -- the as-of date may be unused by the definitions, but names its placeholder's type
          FROM ${table} a WHERE $1::date IS NOT NULL)
    ${perSet.join('\n    UNION ALL\n    ')}`,
    values,
  );
  phase('pass');

  // 2. The cells of each indicator (its totals, its strata), in a denominator.
  // Each cell row belongs to one grouping set: it is expanded only into the entries of its own set
  // (expanding every row into every indicator's entries and dropping the others cost more than the pass).
  const entries = new Map<number, string[]>();
  const entry = (gs: number, x: string) => {
    let list = entries.get(gs);
    if (!list) entries.set(gs, (list = []));
    list.push(x);
  };
  for (const r of rows) {
    entry(totalsMask(r), `(${r.k}, '', '', c.d${r.k}, c.n${r.k})`);
    if (!r.byYear) continue;
    r.countStrata.forEach((cs, j) =>
      cs.strata.forEach((st, i) =>
        entry(totalsMask(r), `(${r.k}, ${literal(cs.name)}, ${literal(st.stratum)}, c.d${r.k}, c.c${r.k}_${j}_${i})`),
      ),
    );
    for (const st of r.caseStrata) entry(strataMask(r, st), `(${r.k}, ${literal(st)}, c.sv, c.d${r.k}, c.n${r.k})`);
  }
  await db.query(`CREATE TEMP TABLE ind_add ON COMMIT DROP AS
    ${[...entries]
      .map(
        ([gs, list]) => `SELECT x.k, c.path, c.fin, c.m, x.stratifier, x.stratum, x.d, x.n
    FROM ind_cell c CROSS JOIN LATERAL (VALUES ${list.join(', ')}) x(k, stratifier, stratum, d, n)
    WHERE c.gs = ${gs} AND x.d > 0`,
      )
      .join('\n    UNION ALL\n    ')}`);
  phase('cells');

  // 3. Every unit level and dataset, per month (totals) or year (strata).
  await db.query(`CREATE TEMP TABLE ind_unit ON COMMIT DROP AS
    SELECT a.k, ds.ds, u.resh, a.m, a.stratifier, a.stratum, sum(a.d)::bigint AS d, sum(a.n)::bigint AS n
    FROM ind_add a CROSS JOIN LATERAL (VALUES ('fresh'), ('qa')) ds(ds) CROSS JOIN LATERAL unnest(a.path) u(resh)
    WHERE ds.ds = 'fresh' OR a.fin
    GROUP BY 1, 2, 3, 4, 5, 6`);
  phase('units');

  // 4. Every grain: years, quarters and months from the monthly sums, each 12-month window from its months.
  await db.query(
    `CREATE TEMP TABLE ind_final ON COMMIT DROP AS
    SELECT k, ds, 'year'::text AS grain, to_char(m, 'YYYY') AS period, resh, stratifier, stratum, sum(n)::bigint AS n, sum(d)::bigint AS d
      FROM ind_unit WHERE k = ANY(${withGrain(rows, 'year')}) GROUP BY 1, 2, 3, 4, 5, 6, 7
    UNION ALL
    SELECT k, ds, 'quarter', to_char(m, 'YYYY-"Q"Q'), resh, '', '', sum(n), sum(d)
      FROM ind_unit WHERE stratifier = '' AND k = ANY(${withGrain(rows, 'quarter')}) GROUP BY 1, 2, 3, 4, 5
    UNION ALL
    SELECT k, ds, 'month', to_char(m, 'YYYY-MM'), resh, '', '', n, d
      FROM ind_unit WHERE stratifier = '' AND k = ANY(${withGrain(rows, 'month')})
    UNION ALL
    SELECT k, ds, 'rolling-12-months', to_char(m + make_interval(months => w), 'YYYY-MM'), resh, '', '', sum(n), sum(d)
      FROM ind_unit CROSS JOIN generate_series(0, 11) w
      WHERE stratifier = '' AND k = ANY(${withGrain(rows, 'rolling-12-months')}) AND date_trunc('month', m + make_interval(months => w)) <= date_trunc('month', $1::date)
      GROUP BY 1, 2, 3, 4, 5`,
    [opts.asOf],
  );
  phase('grains');

  // 5. Patients (events) with two cases within twelve months: counted once, from their own rows,
  //    in place of the cases added above.
  const distinct = rows.filter((r) => r.entity !== null);
  if (distinct.length) {
    const kinds = [
      { entity: 'a.person_id', rows: distinct.filter((r) => r.ind.def.countBy === 'patient') },
      { entity: 'a.event_key', rows: distinct.filter((r) => r.ind.def.countBy === 'event') },
    ].filter((x) => x.rows.length);
    const sources: string[] = [];
    // The definitions again, with only these indicators' parameters.
    const flagValues: unknown[] = [opts.asOf, opts.nation];
    const flagParam = (v: unknown) => {
      flagValues.push(v);
      return `$${flagValues.length}`;
    };
    for (const [i, kind] of kinds.entries()) {
      const ds = [...new Set(kind.rows.map((r) => r.date))];
      const close = ds.map(
        (d) =>
          `(count(${d}) > 1 AND (count(${d}) > 2 OR max(date_trunc('month', ${d})) < min(date_trunc('month', ${d})) + interval '12 months'))`,
      );
      await db.query(`CREATE TEMP TABLE ind_multi${i} ON COMMIT DROP AS
        SELECT ${kind.entity} AS id FROM ${table} a WHERE ${kind.entity} IS NOT NULL GROUP BY 1 HAVING ${close.join(' OR ')}`);
      await db.query(`ANALYZE ind_multi${i}`);
      sources.push(
        flagRowsSql(
          kind.rows.map((r) => indicatorRows(registry, r.ind, r.k, flagParam, '$1::date')),
          table,
          `${kind.entity} IN (SELECT id FROM ind_multi${i})`,
          '$2',
          '$1',
        ),
      );
    }
    phase('multi');
    await db.query(
      `CREATE TEMP TABLE ind_flag ON COMMIT DROP AS
      SELECT s.state, CASE WHEN s.state = 1 THEN f.entity END AS entity, f.k, f.part, f.path, f.m, f.fin, f.stratifier, f.stratum, f.n
      FROM (${sources.join('\nUNION ALL\n')}) f CROSS JOIN (VALUES (1), (-1)) s(state)`,
      flagValues,
    );
    await db.query(`INSERT INTO ind_final SELECT * FROM (${expandedCountsSql('ind_flag', rows, '$1')}) c WHERE c.n <> 0 OR c.d <> 0`, [
      opts.asOf,
    ]);
    phase('distinct');
  }

  // 6. Stored: rows whose counts changed, new rows, and rows no longer there.
  const ids = inds.map((i) => i.def.id);
  const key = (x: string) => `${x}.dataset, ${x}.grain, ${x}.period, ${x}.unit_resh, ${x}.stratifier, ${x}.stratum`;
  const final = `(SELECT $2::text AS registry, ($1::text[])[k + 1] AS indicator, ds AS dataset, grain, period, resh AS unit_resh, stratifier, stratum,
      sum(n)::integer AS numerator, sum(d)::integer AS denominator FROM ind_final GROUP BY 2, 3, 4, 5, 6, 7, 8 HAVING sum(d) > 0)`;
  // Numbered in the order of indicator and result key (the order disclosure control reads each
  // indicator's counts in, and the primary key's): read once in that order, the decisions come back
  // as arrays by number, and the rows are written in key order.
  await db.query(
    `CREATE TEMP TABLE ind_new ON COMMIT DROP AS SELECT f.*, row_number() OVER (ORDER BY f.indicator COLLATE "C", ${KEY_ORDER})::int AS ord FROM ${final} f`,
    [ids, registry.id],
  );
  phase('write');
  // 7. Disclosure control over each indicator's counts together, stored with them.
  const decided = await decideInto(db, 'ind_new', inds, opts.units);
  phase('disclosure');
  // int2[] of codes: fixed width, so each row's code is read by position ($1[ord]) without a join.
  const withFlags = `SELECT n.registry, n.indicator, n.dataset, n.grain, n.period, n.unit_resh, n.stratifier, n.stratum, n.numerator, n.denominator,
      ${reasonOfCode('($1::int2[])[n.ord]')}, ${reasonOfCode('($2::int2[])[n.ord]')} FROM ind_new n ORDER BY n.ord`;
  const flags = [decided.numerator, decided.denominator];
  const columns =
    'registry, indicator, dataset, grain, period, unit_resh, stratifier, stratum, numerator, denominator, numerator_withheld, denominator_withheld';
  const existing = (
    await db.query('SELECT EXISTS (SELECT 1 FROM indicator_result WHERE registry = $1 AND indicator = ANY($2)) AS e', [registry.id, ids])
  ).rows[0].e;
  if (!existing) {
    await db.query(`INSERT INTO indicator_result (${columns}) ${withFlags}`, flags);
  } else {
    await db.query(
      `DELETE FROM indicator_result r WHERE r.registry = $1 AND r.indicator = ANY($2)
      AND NOT EXISTS (SELECT 1 FROM ind_new f WHERE f.indicator = r.indicator AND (${key('f')}) = (${key('r')}))`,
      [registry.id, ids],
    );
    await db.query(
      `INSERT INTO indicator_result (${columns}) ${withFlags}
      ON CONFLICT (registry, indicator, dataset, grain, period, unit_resh, stratifier, stratum)
      DO UPDATE SET numerator = EXCLUDED.numerator, denominator = EXCLUDED.denominator, numerator_withheld = EXCLUDED.numerator_withheld, denominator_withheld = EXCLUDED.denominator_withheld
      WHERE (indicator_result.numerator, indicator_result.denominator, indicator_result.numerator_withheld, indicator_result.denominator_withheld)
        IS DISTINCT FROM (EXCLUDED.numerator, EXCLUDED.denominator, EXCLUDED.numerator_withheld, EXCLUDED.denominator_withheld)`,
      flags,
    );
  }
  const written = Number((await db.query('SELECT count(*) FROM ind_new')).rows[0].count);
  phase('store');
  const ms = Math.round(performance.now() - started);
  await db.query(
    `INSERT INTO indicator_run (registry, indicator, version, as_of, duration_ms, signature)
    SELECT $1, unnest($2::text[]), $3, $4, $5, unnest($6::text[])
    ON CONFLICT (registry, indicator) DO UPDATE SET version = EXCLUDED.version, as_of = EXCLUDED.as_of, computed_at = now(),
      duration_ms = EXCLUDED.duration_ms, signature = EXCLUDED.signature`,
    [registry.id, ids, opts.version, opts.asOf, ms, inds.map(opts.signature)],
  );
  await db.query('DROP TABLE IF EXISTS ind_cell, ind_add, ind_unit, ind_final, ind_flag, ind_new, ind_multi0, ind_multi1');
  return { rows: written, ms, phases };
}
