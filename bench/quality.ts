// Data quality at national volume: N fractures in the analytics table and M NPR episodes, then
//   1. the NPR linkage (coverage per hospital and year, both directions: quality/coverage.ts), and
//   2. every data-quality measure (completeness, validity, consistency, timeliness, units reporting:
//      quality/measures.ts, the counting pass the reports are judged from),
// each timed beside a plain one-pass `SELECT count(*) … GROUP BY` over the same table(s), the
// baseline the issue asks to stay within 3× of. Median of three runs each, after one warm-up, in
// wall time and in CPU time (this process and the benchmark's own PostgreSQL cluster, read from
// /proc): on a shared machine the CPU time and the ratios are the figures to read.
// `--explain` prints EXPLAIN (ANALYZE, BUFFERS) of the linkage and the measures' statements.
//
// Seeding (not measured): a sample captured through the real pipeline (registered within weeks of
// each injury, as hospitals' systems send them: sample.ts registeredNearTheInjury), multiplied in PostgreSQL
// (bench/seed-multiply.ts) and refreshed into the analytics table; the NPR episodes written with
// SQL from the cases' persons and hospitals — a planted share (default 90 %) of the cases gets an
// episode at its hospital on its injury date, and the rest of the M episodes are people's other
// contacts that link to no case (a later date) — because importing a million-row extract through
// `npr import` measures the import, not the linkage.
//   npm run bench:quality -- [--cases 1000000] [--episodes 1000000] [--fractures 2000] [--planted 0.9] [--explain] [--keep DIR]
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { loadConfig } from '../src/config.ts';
import { ensureDatabase, withDatabase } from '../src/db/database.ts';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { analyticsTable } from '../src/analytics/columns.ts';
import { startPlatform } from '../src/platform.ts';
import { hospitalMap, LINKAGE_SETTINGS, linkageSql } from '../src/quality/coverage.ts';
import { measure, measureSql, OSLO_SESSION, storedMeasureSql, timelinessSql } from '../src/quality/measures.ts';
import { storedOutcomes } from '../src/quality/stored.ts';
import { analyticsColumns } from '../src/analytics/columns.ts';
import type { Registry } from '../src/registry/load.ts';
import { osloDate } from '../src/time/oslo.ts';
import { keepFolder } from './keep.ts';
import { captureSample, registeredNearTheInjury } from './sample.ts';
import { multiplyCases } from './seed-multiply.ts';

const { values: args } = parseArgs({
  options: {
    cases: { type: 'string', default: '1000000' },
    episodes: { type: 'string', default: '1000000' },
    fractures: { type: 'string', default: '2000' },
    years: { type: 'string', default: '3' },
    planted: { type: 'string', default: '0.9' },
    explain: { type: 'boolean', default: false },
    // Keep the seeded cluster (cases and episodes) in this folder and use it again on the next run
    // with the same --keep and seeding arguments (bench/keep.ts): seeding 1,000,000 takes minutes.
    keep: { type: 'string', default: '' },
  },
});
const CASES = Number(args.cases),
  EPISODES = Number(args.episodes),
  N = Number(args.fractures),
  YEARS = Number(args.years),
  PLANTED = Number(args.planted);
const keep = keepFolder(args.keep ? path.resolve(args.keep) : null, {
  cases: CASES,
  episodes: EPISODES,
  fractures: N,
  years: YEARS,
  planted: PLANTED,
});
Object.assign(process.env, keep.keys);

const seconds = (since: number) => (Date.now() - since) / 1000;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The benchmark's cluster: its postmaster (first line of postmaster.pid), or none with an outside DATABASE_URL. */
let postmaster: number | null = null;
const stat = (pid: number) => {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  } catch {
    return null;
  }
};
let database = '';
/**
 * CPU seconds used so far by this process and the cluster's backends serving the benchmark's
 * database (children of the postmaster whose title names it): the statements' own work, without
 * the checkpointer, autovacuum or other background processes. Parallel query is off in the
 * benchmark's cluster, so no work is done in short-lived workers this would miss (on a shared
 * 2-core machine they add CPU time rather than save it).
 */
function cpuNow(): number {
  const own = process.cpuUsage();
  let s = (own.user + own.system) / 1e6;
  if (postmaster === null) return s;
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const f = stat(Number(d));
    if (!f || Number(f[1]) !== postmaster) continue;
    let title = '';
    try {
      title = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (title.includes(database)) s += (Number(f[11]) + Number(f[12])) / 100;
  }
  return s;
}
interface Timing {
  wall: number;
  cpu: number;
}
async function timed(runs: number, fn: () => Promise<unknown>): Promise<Timing> {
  await fn(); // warm-up: caches and plans, as a running server has them
  const wall: number[] = [],
    cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = Date.now(),
      c = cpuNow();
    await fn();
    wall.push((Date.now() - t) / 1000);
    cpu.push(cpuNow() - c);
  }
  return { wall: median(wall), cpu: median(cpu) };
}
const add = (a: Timing, b: Timing): Timing => ({ wall: a.wall + b.wall, cpu: a.cpu + b.cpu });
const show = (t: Timing) => `${t.wall.toFixed(2)} s wall, ${t.cpu.toFixed(2)} s CPU`;
const ratio = (t: Timing, base: Timing) => `ratio ${(t.wall / base.wall).toFixed(2)}× wall, ${(t.cpu / base.cpu).toFixed(2)}× CPU`;

async function main() {
  const dir = keep.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'kvalreg-bench-quality-'));
  const server = process.env.DATABASE_URL
    ? null
    : await startEmbeddedPostgres({
        dataDir: dir,
        port: 57000 + Math.floor(Math.random() * 1000),
        settings: { shared_buffers: '1GB', max_wal_size: '8GB', work_mem: '64MB', max_parallel_workers_per_gather: '0' },
      });
  const adminUrl = process.env.DATABASE_URL ?? server!.url('postgres');
  if (server) postmaster = Number(fs.readFileSync(path.join(dir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
  const name = keep.kept?.database ?? `kvalreg_bench_${crypto.randomBytes(4).toString('hex')}`;
  database = name;
  await ensureDatabase(adminUrl, name);
  const platform = await startPlatform(
    loadConfig({
      ...process.env,
      DATABASE_URL: withDatabase(adminUrl, name),
      KVALREG_DATA_DIR: dir,
      LOG_LEVEL: 'warn',
      KVALREG_ALLOW_TEST_IDENTITIES: '1',
    }),
    { log: pino({ level: 'warn' }), poolSize: 8 },
  );
  try {
    const registry = platform.registry('fracture')!;
    const table = analyticsTable(registry);
    const db = platform.db.pool;
    if (keep.kept) {
      // A table rebuilt for a new layout is filled again; otherwise there is nothing to do.
      const started = Date.now();
      await platform.analytics.refresh();
      await db.query(`VACUUM ANALYZE npr_episode, person, ${table}`);
      console.log(`reusing the cluster seeded in ${keep.dir} (${keep.kept.rows} cases); made ready in ${seconds(started).toFixed(0)} s`);
    } else await seed(platform, registry);
    const cases = Number((await db.query(`SELECT count(*) FROM ${table}`)).rows[0].count);
    const episodes = Number((await db.query('SELECT count(*) FROM npr_episode')).rows[0].count);
    const years = (
      await db.query(`SELECT array_agg(DISTINCT extract(year FROM injury_date)::int) AS y FROM ${table} WHERE injury_date IS NOT NULL`)
    ).rows[0].y as number[];
    console.log(
      `load while measuring: ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')} on ${os.cpus().length} cores`,
    );
    if (args.explain) await explainAll(platform, registry);

    // 1. Linkage against the plain passes over the two tables it reads.
    const linkage = await timed(3, () => platform.quality.computeCoverage(registry));
    const nprCount = await timed(3, () => db.query('SELECT hospital_resh, year, count(*) FROM npr_episode GROUP BY 1, 2'));
    const caseCount = await timed(3, () =>
      db.query(`SELECT unit_resh, extract(year FROM injury_date), count(*) FROM ${table} GROUP BY 1, 2`),
    );
    const rows = await platform.quality.coverageRows(registry);
    const nation = rows.filter((r) => r.unit === platform.units.all().find((u) => u.level === 'nation')!.resh);
    const linkBase = add(nprCount, caseCount);
    console.log(
      `\nlinkage of ${episodes} episodes with ${cases} cases: ${show(linkage)}; baseline count(*) GROUP BY: episodes ${show(nprCount)} + cases ${show(caseCount)} = ${show(linkBase)}; ${ratio(linkage, linkBase)}`,
    );
    console.log(
      `  national coverage by year: ${nation.map((r) => `${r.year} ${(r.coverage! * 100).toFixed(1)} %`).join(', ')} (planted ≈ ${(100 * PLANTED).toFixed(0)} % of the cases; episodes that link to no case lower it)`,
    );

    // 2. Every data-quality measure (one counting pass per unit and year, and the timeliness pass).
    const set = platform.quality.checks(registry.id)!;
    const version = Number(
      (await db.query('SELECT version FROM analytics_state WHERE registry = $1', [registry.id])).rows[0]?.version ?? 0,
    );
    const asOf = osloDate(new Date().toISOString());
    const PLATFORM = { kind: 'platform', task: 'bench' } as const;
    let checks = 0;
    let way = '';
    const measures = await timed(3, () =>
      platform.data.transaction(
        PLATFORM,
        'bench',
        async (tx) => {
          const r = await measure(tx, registry, set, platform.units, { dataset: 'fresh', asOf, analyticsVersion: version });
          checks = set.checks.length;
          way = r.way;
          return r;
        },
        { readOnly: true },
      ),
    );
    const stored = storedOutcomes(registry);
    const combinations = stored
      ? Number(
          (
            await db.query(
              `SELECT count(*) FROM (SELECT DISTINCT unit_resh, ${[stored.columns.year, ...stored.columns.masks].map((c) => `"${c}"`).join(', ')} FROM ${table}) x`,
            )
          ).rows[0].count,
        )
      : 0;
    const base = await timed(3, () =>
      db.query(`SELECT a.unit_resh, extract(year FROM ${set.periodSql}), count(*) FROM ${table} a GROUP BY 1, 2`),
    );
    console.log(
      `every data-quality measure (${checks} checks + timeliness + units reporting) over ${cases} cases: ${show(measures)}; baseline count(*) GROUP BY unit, year: ${show(base)}; ${ratio(measures, base)}`,
    );
    console.log(
      way === 'stored'
        ? `  counted from the outcomes stored in the rows: ${combinations} combinations of unit, year and outcomes (${((100 * combinations) / cases).toFixed(1)} % of the cases)`
        : '  counted by evaluating every check on every case (no stored outcomes in the table)',
    );
    if (way === 'stored') {
      // The way before the outcomes were stored, in the same run: every check evaluated on every case.
      const evaluated = await timed(3, () =>
        platform.data.transaction(
          PLATFORM,
          'bench',
          (tx) => measure(tx, registry, set, platform.units, { dataset: 'fresh', asOf, analyticsVersion: version, way: 'evaluated' }),
          { readOnly: true },
        ),
      );
      console.log(`  the same measures evaluating every check on every case: ${show(evaluated)}; ${ratio(evaluated, base)}`);
    }
    const judging = await timed(3, () => platform.quality.report(PLATFORM, registry, { unit: '1', year: years[years.length - 1] }));
    console.log(
      `  judging a report from the counts (thresholds applied on read): ${judging.wall.toFixed(3)} s wall, ${judging.cpu.toFixed(3)} s CPU`,
    );
  } finally {
    await platform.close();
    await server?.stop();
    if (!keep.dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Seeds the cases (a captured sample multiplied) and the NPR episodes (not measured). */
async function seed(platform: Awaited<ReturnType<typeof startPlatform>>, registry: Registry) {
  const table = analyticsTable(registry);
  const db = platform.db.pool;
  let started = Date.now();
  await captureSample(platform, { fractures: N, years: YEARS });
  await registeredNearTheInjury(platform);
  const m = await multiplyCases(platform, registry, { target: CASES, yearsPerCopy: YEARS, log: () => undefined });
  await platform.analytics.refresh();
  await db.query(`ANALYZE ${table}`);
  const cases = Number((await db.query(`SELECT count(*) FROM ${table}`)).rows[0].count);
  console.log(`seeded ${cases} cases (${m.copies} copies of a captured sample of ${N}) in ${seconds(started).toFixed(0)} s (not measured)`);

  // NPR episodes: the planted share of the cases at their hospital on their injury date, the rest unlinked contacts.
  started = Date.now();
  const map = platform.units
    .all()
    .filter((u) => u.level === 'department')
    .map((u) => [u.resh, platform.units.ancestorAt(u.resh, 'hospital')!.resh]);
  const years = (
    await db.query(`SELECT array_agg(DISTINCT extract(year FROM injury_date)::int) AS y FROM ${table} WHERE injury_date IS NOT NULL`)
  ).rows[0].y as number[];
  const extract = (
    await db.query(
      `INSERT INTO npr_extract (registry, source, imported_by, years, rows_read, episodes, selected, reserved, duplicates)
    VALUES ('fracture', 'bench', 'bench', $1, $2, $2, $2, 0, 0) RETURNING id`,
      [years, EPISODES],
    )
  ).rows[0].id;
  await db.query(`CREATE TEMP TABLE hmap AS SELECT * FROM unnest($1::text[], $2::text[]) AS t(unit, hospital)`, [
    map.map((x) => x[0]),
    map.map((x) => x[1]),
  ]);
  const insert = `INSERT INTO npr_episode (registry, extract_id, episode_id, nin_hash, nin_enc, hospital_resh, admission_date, discharge_date, contact_type, icd10, chain_start, year, person_id)`;
  const linked = await db.query(
    `${insert}
    SELECT 'fracture', $1, 'b' || a.case_id, p.nin_hash, '\\x00'::bytea, h.hospital, a.injury_date, a.injury_date + 1, 'outpatient', '{S52.5}', a.injury_date, extract(year FROM a.injury_date)::int, p.id
    FROM ${table} a JOIN person p ON p.id = a.person_id JOIN hmap h ON h.unit = a.unit_resh
    WHERE a.injury_date IS NOT NULL AND (hashtext(a.case_id::text) & 1023) < $2 LIMIT $3`,
    [extract, Math.round(PLANTED * 1024), EPISODES],
  );
  // The others: the same people at the same hospitals half a year later (no fracture registered then).
  const rest = Math.max(0, EPISODES - (linked.rowCount ?? 0));
  await db.query(
    `${insert}
    SELECT 'fracture', $1, 'o' || g, p.nin_hash, '\\x00'::bytea, h.hospital, d, d, 'outpatient', '{S62.3}', d, extract(year FROM d)::int, p.id
    FROM generate_series(1, $2::int) g
    JOIN LATERAL (SELECT a.person_id, a.unit_resh, (make_date(y, 1, 1) + (g % 360))::date AS d FROM ${table} a, (SELECT $3::int[] AS ys) q, LATERAL (SELECT q.ys[1 + g % array_length(q.ys, 1)] AS y) yy
                  WHERE a.case_id = (SELECT min(case_id) FROM ${table}) + (g * 7919) % $4 LIMIT 1) a ON true
    JOIN person p ON p.id = a.person_id JOIN hmap h ON h.unit = a.unit_resh
    WHERE NOT EXISTS (SELECT 1 FROM ${table} c WHERE c.person_id = a.person_id AND c.injury_date BETWEEN a.d - 17 AND a.d + 17)`,
    [extract, rest, years, cases],
  );
  // Vacuumed and analysed now, so that autovacuum does not run during the measurements.
  await db.query(`VACUUM ANALYZE npr_episode, person, ${table}`);
  const episodes = Number((await db.query('SELECT count(*) FROM npr_episode')).rows[0].count);
  keep.save({ database, rows: cases });
  console.log(
    `seeded ${episodes} NPR episodes (${linked.rowCount} planted on ${Math.round(PLANTED * 100)} % of the cases) in ${seconds(started).toFixed(0)} s (not measured)`,
  );
}

/** EXPLAIN (ANALYZE, BUFFERS) of the statements measured: where the time goes. */
async function explainAll(platform: Awaited<ReturnType<typeof startPlatform>>, registry: Registry) {
  const db = platform.db.pool;
  const columns = new Map(analyticsColumns(registry).map((c) => [c.name, c.type]));
  const npr = platform.quality.definition(registry.id)!.npr!;
  const map = hospitalMap(platform.units);
  const plan = async (title: string, text: string, params: unknown[]) => {
    const { rows } = await db.query(`EXPLAIN (ANALYZE, BUFFERS) ${text}`, params);
    console.log(`\n--- ${title}\n${rows.map((r) => r['QUERY PLAN']).join('\n')}`);
  };
  {
    // As computeCoverage runs it: in a transaction, with its planner setting.
    const client = await db.connect();
    try {
      await client.query('BEGIN');
      await client.query(LINKAGE_SETTINGS);
      const { rows } = await client.query(`EXPLAIN (ANALYZE, BUFFERS) ${linkageSql(registry, npr, columns)}`, [
        map.units,
        map.hospitals,
        npr.linkage.daysBefore,
        npr.linkage.daysAfter,
      ]);
      console.log(`\n--- linkage\n${rows.map((r) => r['QUERY PLAN']).join('\n')}`);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  }
  const set = platform.quality.checks(registry.id)!;
  const params = [...set.params, osloDate(new Date().toISOString())];
  // The measures run in a transaction with the session's time zone set to Oslo (measures.ts).
  const client = await db.connect();
  try {
    await client.query('BEGIN');
    await client.query(OSLO_SESSION);
    const { rows } = await client.query(
      `EXPLAIN (ANALYZE, BUFFERS) ${measureSql(registry, set, 'fresh', `$${params.length}`).text}`,
      params,
    );
    console.log(`\n--- measures, every check evaluated\n${rows.map((r) => r['QUERY PLAN']).join('\n')}`);
    const stored = storedOutcomes(registry);
    if (stored) {
      const s = storedMeasureSql(registry, stored, 'fresh', params[params.length - 1] as string);
      const explained = await client.query(`EXPLAIN (ANALYZE, BUFFERS) ${s.text}`, s.params);
      console.log(
        `\n--- measures and timeliness from the stored outcomes and days\n${explained.rows.map((r) => r['QUERY PLAN']).join('\n')}`,
      );
    }
    const t = timelinessSql(registry, set, 'fresh');
    // (the timeliness pass of the evaluating way)
    if (t)
      console.log(
        `\n--- timeliness\n${(await client.query(`EXPLAIN (ANALYZE, BUFFERS) ${t}`)).rows.map((r) => r['QUERY PLAN']).join('\n')}`,
      );
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
