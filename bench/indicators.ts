// Indicator engine: N synthetic fractures captured through the real pipeline (batch Bundles of 100)
// on a fresh embedded PostgreSQL, then
//   1. the analytics rebuild (every row recomputed from the registrations): rows/s;
//   2. one computation of every active indicator for every unit level, period, stratum and
//      dataset: time per indicator and in all, result rows;
//   3. reading results as the web app does (every department for a year; one indicator's view,
//      cached; one unit's explanation);
//   4. the same numbers computed the way an analyst does (bench/analyst-way.ts), timed and checked
//      equal to the engine's, cell by cell;
//   5. 100 new fractures posted one by one while the registry holds the rest, with the analytics
//      refresher running as the server runs it: the time from posting each until the indicator
//      results include it (p50/p95).
// Each figure is printed beside its baseline measured in the same run: the set-based refresh beside
// the JavaScript one, every indicator cold beside one plain GROUP BY pass over the same table
// computing every indicator's flags per unit path and month, a new case beside the cold figure
// (which a change waited for before results were kept incrementally).
// With --cases above the captured sample, the sample is multiplied in PostgreSQL first
// (bench/seed-multiply.ts), as bench:web does, to reach national volume.
//   npm run bench:indicators -- [--fractures 50000] [--years 3] [--cases 1000000] [--keep DIR]
//     [--no-analyst] [--new-cases 100]
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
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { DEFAULT_RATES, generateFractures } from '../demo/fracture/generate.ts';
import { indicatorRows, unitPath } from '../src/indicators/rows.ts';
import { explainIndicator } from '../src/indicators/explain.ts';
import { startPlatform } from '../src/platform.ts';
import { analystWay, differences, engineCells } from './analyst-way.ts';
import { cpuByPid, cpuUsed } from './cpu.ts';
import { measured, peakText } from './memory.ts';
import { captureSample } from './sample.ts';
import { multiplyCases } from './seed-multiply.ts';
import { keepFolder } from './keep.ts';

// --no-analyst and --new-cases 0 leave out the two slowest steps (for a quick look at the others).
const { values: args } = parseArgs({
  options: {
    fractures: { type: 'string', default: '50000' },
    years: { type: 'string', default: '3' },
    cases: { type: 'string' },
    'no-analyst': { type: 'boolean', default: false },
    'new-cases': { type: 'string', default: '100' },
    // Keep the seeded cluster in this folder and use it again on the next run with the same --keep
    // and seeding arguments: the analytics rows and indicator results are emptied first, so every
    // run measures the same steps; seeding 1,000,000 cases takes longer than the steps themselves.
    keep: { type: 'string', default: '' },
  },
});
const NEW_CASES = Number(args['new-cases']);
const N = Number(args.fractures),
  YEARS = Number(args.years),
  CASES = args.cases ? Number(args.cases) : 0;
const keep = keepFolder(args.keep ? path.resolve(args.keep) : null, { fractures: N, years: YEARS, cases: CASES });
Object.assign(process.env, keep.keys);

const seconds = (since: number) => (Date.now() - since) / 1000;

/** This benchmark's PostgreSQL processes (descendants of this process): other clusters on a shared machine are not ours. */
function ourPostgres(): number[] {
  const parentOf = new Map<number, number>();
  const postgres: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      parentOf.set(Number(d), Number(stat.split(') ')[1].split(' ')[1]));
      if (stat.slice(stat.indexOf('(') + 1).startsWith('postgres')) postgres.push(Number(d));
    } catch {
      /* gone */
    }
  }
  const ours = (pid: number) => {
    for (let p = parentOf.get(pid), depth = 0; p && depth < 6; p = parentOf.get(p), depth++) if (p === process.pid) return true;
    return false;
  };
  return postgres.filter(ours);
}

/**
 * CPU seconds a step takes, this process and its PostgreSQL apart: on a machine shared with other
 * work wall time says little, CPU time is what the step costs.
 */
async function cpuOf<T>(fn: () => Promise<T>): Promise<{ value: T; node: number; pg: number; text: string }> {
  const pids = ourPostgres();
  const pg0 = cpuByPid(pids);
  const node0 = process.cpuUsage();
  const value = await fn();
  const n = process.cpuUsage(node0);
  const node = (n.user + n.system) / 1e6;
  // The processes at the end: connections opened during the step (the workers') count too.
  const pg = cpuUsed(pg0, cpuByPid(ourPostgres()));
  return { value, node, pg, text: `CPU ${(node + pg).toFixed(2)} s (kvalreg ${node.toFixed(2)} s + PostgreSQL ${pg.toFixed(2)} s)` };
}
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
};

async function main() {
  const dir = keep.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'kvalreg-bench-ind-'));
  const kept = keep.kept;
  const server = process.env.DATABASE_URL
    ? null
    : await startEmbeddedPostgres({
        dataDir: dir,
        port: 57000 + Math.floor(Math.random() * 1000),
        settings: { shared_buffers: '1GB', max_wal_size: '8GB' },
      });
  const adminUrl = process.env.DATABASE_URL ?? server!.url('postgres');
  const name = kept?.database ?? `kvalreg_bench_${crypto.randomBytes(4).toString('hex')}`;
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
    const units = platform.units.all().filter((u) => u.level === 'department' && u.kind !== 'emergency_department');

    let started = Date.now();
    if (kept) {
      // Every analytics row and indicator result goes, every case is queued: the state a seeding leaves.
      await platform.db.pool.query(`TRUNCATE ${analyticsTable(registry)}, indicator_result, indicator_run, analytics_change`);
      await platform.db.pool.query(
        `INSERT INTO analytics_change (registry, case_id) SELECT registry, id FROM registry_case WHERE registry = $1`,
        [registry.id],
      );
      await platform.db.pool.query(`VACUUM ANALYZE ${analyticsTable(registry)}, analytics_change, indicator_result, indicator_run`);
      console.log(
        `reusing the cluster seeded in ${dir} (${kept.rows} cases); analytics rows and results emptied in ${seconds(started).toFixed(1)} s`,
      );
    } else {
      const captured = await captureSample(platform, { fractures: N, years: YEARS });
      console.log(
        `captured ${captured} fractures (batch Bundles of 100, the analytics queue filled by trigger) in ${seconds(started).toFixed(1)} s`,
      );
      if (CASES > 0) {
        started = Date.now();
        const m = await multiplyCases(platform, registry, { target: CASES, yearsPerCopy: YEARS, log: (x) => console.log(`  ${x}`) });
        console.log(
          `multiplied in PostgreSQL to ${m.cases} cases (${m.copies} copies) in ${seconds(started).toFixed(1)} s (seeding, not measured)`,
        );
      }
      const cases = Number(
        (await platform.db.pool.query(`SELECT count(*) FROM registry_case WHERE registry = $1`, [registry.id])).rows[0].count,
      );
      keep.save({ database: name, rows: cases });
    }

    console.log(
      `load average at the start of the measured steps: ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(', ')} (${os.cpus().length} cores)`,
    );
    started = Date.now();
    const refreshCpu = await cpuOf(() => platform.analytics.refresh());
    const [refreshed] = refreshCpu.value;
    const refreshS = seconds(started);
    console.log(
      `analytics refresh of the queued cases (${platform.analytics.way(registry.id) === 'sql' ? 'set-based' : 'the JavaScript way'}): ${refreshed.rows} rows in ${refreshS.toFixed(1)} s = ${Math.round(refreshed.rows / refreshS)} rows/s; ${refreshCpu.text} = ${Math.round(refreshed.rows / (refreshCpu.node + refreshCpu.pg))} rows per CPU second`,
    );
    if (CASES === 0) {
      started = Date.now();
      const [rebuilt] = await platform.analytics.rebuild(registry);
      const rebuildS = seconds(started);
      console.log(
        `analytics rebuild from scratch: ${rebuilt.rows} rows in ${rebuildS.toFixed(1)} s = ${Math.round(rebuilt.rows / rebuildS)} rows/s`,
      );
    }
    // Baseline: the same refresh the JavaScript way (every row evaluated in the program), on a sample.
    {
      const sample = Math.min(20_000, refreshed.rows);
      await platform.db.pool.query(
        `INSERT INTO analytics_change (registry, case_id) SELECT t.registry, t.case_id FROM ${analyticsTable(registry)} t ORDER BY t.case_id LIMIT $1`,
        [sample],
      );
      platform.analytics.javascriptOnly = true;
      started = Date.now();
      const jsCpu = await cpuOf(() => platform.analytics.refresh());
      const [js] = jsCpu.value;
      platform.analytics.javascriptOnly = false;
      const jsS = seconds(started);
      console.log(
        `  baseline, the same refresh the JavaScript way (${js.rows} rows rewritten): ${jsS.toFixed(1)} s = ${Math.round(js.rows / jsS)} rows/s; ${jsCpu.text} = ${Math.round(js.rows / (jsCpu.node + jsCpu.pg))} rows per CPU second`,
      );
    }
    await platform.db.pool.query(`ANALYZE ${analyticsTable(registry)}`);
    const analyticsRows = Number((await platform.db.pool.query(`SELECT count(*) FROM ${analyticsTable(registry)}`)).rows[0].count);
    console.log(`analytics table: ${analyticsRows} rows`);

    // Baseline: one plain GROUP BY pass over the table: every active indicator's denominator and
    // numerator flags summed per unit path (every level) and month of its period date(s).
    const plainS = await (async () => {
      const values: unknown[] = [`${new Date().getFullYear()}-06-01`, platform.indicators.nation()];
      const param = (v: unknown) => {
        values.push(v);
        return `$${values.length}`;
      };
      const rows = platform.indicators
        .list(registry.id)
        .filter((i) => i.def.status === 'active')
        .map((ind, k) => indicatorRows(registry, ind, k, param, '$1::date'));
      const dates = [...new Set(rows.map((r) => r.date))];
      const t0 = Date.now();
      const cpu = await cpuOf(() =>
        platform.db.pool.query(
          `SELECT ${unitPath('$2')} AS path, ${dates.map((d, j) => `date_trunc('month', ${d}) AS m${j}`).join(', ')},
          ${rows
            .flatMap((r) => [
              `sum(CASE WHEN ${r.inPopulation} THEN ${r.parts.map((p) => `${p.d}::int`).join(' + ')} ELSE 0 END) AS d${r.k}`,
              `sum(CASE WHEN ${r.inPopulation} THEN ${r.parts.map((p) => p.n).join(' + ')} ELSE 0 END) AS n${r.k}`,
            ])
            .join(', ')}
        FROM ${analyticsTable(registry)} a WHERE $1::date IS NOT NULL GROUP BY ${dates
          .map((_, j) => j + 2)
          .concat([1])
          .join(', ')}`,
          values,
        ),
      );
      const took = seconds(t0);
      console.log(
        `one plain GROUP BY pass over the table (every indicator's flags per unit path and month; the cold figure's baseline): ${took.toFixed(2)} s, ${cpu.value.rowCount} groups; ${cpu.text}`,
      );
      return { took, cpu: cpu.node + cpu.pg };
    })();

    // Cold: nothing computed yet for this data.
    const coldCpu = await cpuOf(() => measured(() => platform.indicators.ensureFresh(registry, { force: true })));
    const cold = coldCpu.value;
    const all = cold.seconds;
    const runs = await platform.indicators.runs(registry);
    const rows = Number((await platform.db.pool.query('SELECT count(*) FROM indicator_result')).rows[0].count);
    console.log(
      `every active indicator (${runs.length}) for every unit level, period, stratum and dataset (cold): ${all.toFixed(2)} s, ${rows} result rows; ${peakText(cold.peak)}`,
    );
    console.log(
      `  ${coldCpu.text}; = ${(all / plainS.took).toFixed(1)}× the plain GROUP BY pass in wall time, ${((coldCpu.node + coldCpu.pg) / plainS.cpu).toFixed(1)}× in CPU time; where the time went: ${Object.entries(
        platform.indicators.lastComputation.get(registry.id)?.phases ?? {},
      )
        .map(([k, v]) => `${k} ${(v / 1000).toFixed(2)} s`)
        .join(', ')}${(platform.indicators.lastComputation.get(registry.id)?.parts ?? [])
        .map((p, k) => `${k === 0 ? '; parts: ' : ', '}${p.indicators} indicators ${(p.ms / 1000).toFixed(2)} s`)
        .join('')}`,
    );

    const year = String(new Date().getFullYear() - 1);
    started = Date.now();
    const deps = await platform.indicators.results(registry, { grain: 'year', period: year, level: 'department' });
    console.log(`results for every department, every indicator, ${year}: ${deps.length} results in ${Date.now() - started} ms (cached)`);
    // One indicator's view, cached: every unit at every level, every year (what the indicator page reads).
    const times: number[] = [];
    for (const i of platform.indicators.list(registry.id).filter((x) => x.def.status === 'active')) {
      for (let k = 0; k < 5; k++) {
        const t0 = performance.now();
        await platform.indicators.results(registry, { indicator: i.def.id, grain: 'year' });
        times.push(performance.now() - t0);
      }
    }
    times.sort((a, b) => a - b);
    console.log(
      `one indicator's view (every unit, every year), cached: median ${times[Math.floor(times.length / 2)].toFixed(1)} ms, max ${times[times.length - 1].toFixed(1)} ms over ${times.length} reads`,
    );

    // The analyst's way, and the check that both give the same numbers.
    if (!args['no-analyst']) {
      const analyst = await measured(() => analystWay(platform, registry));
      const diff = differences(await engineCells(platform, registry), analyst.value.cells);
      console.log(
        `the analyst's way (${analyst.value.rows} rows pulled into the program, filtered per unit): ${analyst.seconds.toFixed(2)} s for the yearly totals and strata alone; ${peakText(analyst.peak)}`,
      );
      console.log(
        diff.length === 0
          ? `checked equal: ${analyst.value.cells.size} cells (indicator × unit × year, totals and strata, fresh data) agree with the engine's`
          : `NOT EQUAL in ${diff.length} of ${analyst.value.cells.size} cells, e.g.:\n  ${diff.slice(0, 10).join('\n  ')}`,
      );
      if (diff.length) process.exitCode = 1;
    }

    // A new case reaching the results: posted one by one, the refresher running as in the server.
    if (NEW_CASES > 0) {
      const list = registry.codelists.get('ao_ota_2018')!;
      const codes = [...list.properties.entries()].filter(([code, p]) => p.group === code).map(([code]) => code);
      const specs = generateFractures({
        years: 1,
        scale: 300 / 6700,
        seed: 99,
        rates: DEFAULT_RATES,
        units: units.map((u) => ({ resh: u.resh, weight: 1 })),
        lastYear: new Date().getFullYear(),
        codesByPrefix: (prefix) =>
          codes.filter((c) => {
            const x = list.properties.get(c)!;
            return x.segment === prefix || x.bone === prefix;
          }),
      });
      const ehr = { kind: 'system', sender: 'bench-ehr', name: 'bench' } as const;
      const db = platform.db.pool;
      const nationCounts = async () =>
        (
          await db.query(
            `SELECT coalesce(sum(denominator), 0)::bigint AS d FROM indicator_result WHERE registry = $1 AND unit_resh = $2 AND dataset = 'fresh' AND grain = 'year' AND stratifier = ''`,
            [registry.id, platform.indicators.nation()],
          )
        ).rows[0].d as string;
      const computedBefore = platform.indicators.lastComputation.get(registry.id);
      platform.analytics.start(platform.config.analyticsIntervalMs);
      const waits: number[] = [];
      let moved = 0,
        referred = 0;
      for (const f of specs) {
        if (waits.length === NEW_CASES) break;
        const before = await nationCounts();
        const t0 = performance.now();
        await platform.inbox.process(await platform.inbox.receive(ehr, 'fhir', JSON.stringify(ehrBundle(f))));
        const c = (await db.query(`SELECT id FROM registry_case WHERE registry = $1 AND anchor_key LIKE '%|' || $2`, [registry.id, f.id]))
          .rows[0];
        if (!c) {
          referred++;
          continue;
        } // referred to another registry (hip fractures): no case here
        for (;;) {
          // What a reader does: read results (which starts a recomputation if they are not current).
          await platform.indicators.results(registry, {
            indicator: 'nfr01_time_to_treatment',
            grain: 'year',
            units: [platform.indicators.nation()],
          });
          const {
            rows: [v],
          } = await db.query(
            `SELECT NOT EXISTS (SELECT 1 FROM analytics_change WHERE registry = $1 AND case_id = $2) AND EXISTS (SELECT 1 FROM ${analyticsTable(registry)} WHERE case_id = $2)
              AND (SELECT bool_and(r.version >= s.version) FROM indicator_run r JOIN analytics_state s USING (registry) WHERE r.registry = $1) AS visible`,
            [registry.id, c.id],
          );
          if (v.visible) break;
          await new Promise((r) => setTimeout(r, 20));
        }
        waits.push(performance.now() - t0);
        if ((await nationCounts()) !== before) moved++;
      }
      await platform.analytics.stop();
      const full = platform.indicators.lastComputation.get(registry.id) !== computedBefore;
      console.log(
        `a newly captured case in the indicator results (${waits.length} cases posted one by one, refresher every ${platform.config.analyticsIntervalMs} ms; ${referred} referred elsewhere skipped): ` +
          `p50 ${(quantile(waits, 0.5) / 1000).toFixed(2)} s, p95 ${(quantile(waits, 0.95) / 1000).toFixed(2)} s, max ${(Math.max(...waits) / 1000).toFixed(2)} s; ` +
          `${moved} of them changed the nation's yearly counts; ${full ? 'a full computation ran meanwhile' : 'no full computation ran (every one moved incrementally)'}; baseline: a full computation, ${all.toFixed(2)} s`,
      );
    }

    const unit = units[0].resh;
    const ind = platform.indicators.get(registry.id, 'nfr01_time_to_treatment')!;
    started = Date.now();
    const ex = await platform.data.transaction({ kind: 'platform', task: 'bench' }, 'bench', (tx) =>
      explainIndicator(tx, registry, ind, {
        unit,
        grain: 'year',
        period: year,
        dataset: 'fresh',
        lang: 'nb',
        asOf: `${year}-12-31`,
        limit: 200,
        offset: 0,
      }),
    );
    console.log(
      `explanation of indicator 1 for one department: ${ex.total} cases, first ${ex.cases.length} explained in ${Date.now() - started} ms`,
    );
    console.log(
      `load average at the end: ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(', ')}`,
    );
  } finally {
    await platform.close();
    await server?.stop();
    if (!keep.dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
