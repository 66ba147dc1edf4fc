// Indicator engine: N synthetic fractures captured through the real pipeline (batch Bundles of 100)
// on a fresh embedded PostgreSQL, then
//   1. the analytics rebuild (every row recomputed from the registrations): rows/s;
//   2. one computation of every active indicator for every unit level, period, stratum and
//      dataset: time per indicator and in all, result rows;
//   3. reading results as the web app does (every department for a year; one indicator's view,
//      cached; one unit's explanation);
//   4. the same numbers computed the way an analyst does (bench/analyst-way.ts), timed and checked
//      equal to the engine's, cell by cell.
// With --cases above the captured sample, the sample is multiplied in PostgreSQL first
// (bench/seed-multiply.ts), as bench:web does, to reach national volume.
//   npm run bench:indicators -- [--fractures 50000] [--years 3] [--cases 1000000]
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
import { explainIndicator } from '../src/indicators/explain.ts';
import { startPlatform } from '../src/platform.ts';
import { analystWay, differences, engineCells } from './analyst-way.ts';
import { measured, peakText } from './memory.ts';
import { captureSample } from './sample.ts';
import { multiplyCases } from './seed-multiply.ts';

const { values: args } = parseArgs({ options: { fractures: { type: 'string', default: '50000' }, years: { type: 'string', default: '3' }, cases: { type: 'string' } } });
const N = Number(args.fractures), YEARS = Number(args.years), CASES = args.cases ? Number(args.cases) : 0;
Object.assign(process.env, { KVALREG_ENCRYPTION_KEY: crypto.randomBytes(32).toString('base64'), KVALREG_HASH_KEY: crypto.randomBytes(32).toString('base64') });

const seconds = (since: number) => (Date.now() - since) / 1000;

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvalreg-bench-ind-'));
  const server = process.env.DATABASE_URL ? null : await startEmbeddedPostgres({ dataDir: dir, port: 57000 + Math.floor(Math.random() * 1000), settings: { shared_buffers: '1GB', max_wal_size: '8GB' } });
  const adminUrl = process.env.DATABASE_URL ?? server!.url('postgres');
  const name = `kvalreg_bench_${crypto.randomBytes(4).toString('hex')}`;
  await ensureDatabase(adminUrl, name);
  const platform = await startPlatform(loadConfig({ ...process.env, DATABASE_URL: withDatabase(adminUrl, name), KVALREG_DATA_DIR: dir, LOG_LEVEL: 'warn', KVALREG_ALLOW_TEST_IDENTITIES: '1' }), { log: pino({ level: 'warn' }), poolSize: 8 });
  try {
    const registry = platform.registry('fracture')!;
    const units = platform.units.all().filter((u) => u.level === 'department' && u.kind !== 'emergency_department');

    let started = Date.now();
    const captured = await captureSample(platform, { fractures: N, years: YEARS });
    console.log(`captured ${captured} fractures (batch Bundles of 100, the analytics queue filled by trigger) in ${seconds(started).toFixed(1)} s`);

    if (CASES > 0) {
      started = Date.now();
      const m = await multiplyCases(platform, registry, { target: CASES, yearsPerCopy: YEARS, log: (x) => console.log(`  ${x}`) });
      console.log(`multiplied in PostgreSQL to ${m.cases} cases (${m.copies} copies) in ${seconds(started).toFixed(1)} s (seeding, not measured)`);
    }

    started = Date.now();
    const [refreshed] = await platform.analytics.refresh();
    console.log(`analytics refresh of the queued cases: ${refreshed.rows} rows in ${seconds(started).toFixed(1)} s = ${Math.round(refreshed.rows / seconds(started))} rows/s`);
    if (CASES === 0) {
      started = Date.now();
      const [rebuilt] = await platform.analytics.rebuild(registry);
      const rebuildS = seconds(started);
      console.log(`analytics rebuild from scratch: ${rebuilt.rows} rows in ${rebuildS.toFixed(1)} s = ${Math.round(rebuilt.rows / rebuildS)} rows/s`);
    }
    await platform.db.pool.query(`ANALYZE ${analyticsTable(registry)}`);
    const analyticsRows = Number((await platform.db.pool.query(`SELECT count(*) FROM ${analyticsTable(registry)}`)).rows[0].count);
    console.log(`analytics table: ${analyticsRows} rows`);

    // Cold: nothing computed yet for this data.
    const cold = await measured(() => platform.indicators.ensureFresh(registry, { force: true }));
    const all = cold.seconds;
    const runs = await platform.indicators.runs(registry);
    const rows = Number((await platform.db.pool.query('SELECT count(*) FROM indicator_result')).rows[0].count);
    console.log(`every active indicator (${runs.length}) for every unit level, period, stratum and dataset (cold): ${all.toFixed(2)} s, ${rows} result rows; ${peakText(cold.peak)}`);
    for (const r of runs) console.log(`  ${r.indicator.padEnd(36)} ${String(r.durationMs).padStart(6)} ms`);

    const year = String(new Date().getFullYear() - 1);
    started = Date.now();
    const deps = await platform.indicators.results(registry, { grain: 'year', period: year, level: 'department' });
    console.log(`results for every department, every indicator, ${year}: ${deps.length} results in ${(Date.now() - started)} ms (cached)`);
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
    console.log(`one indicator's view (every unit, every year), cached: median ${times[Math.floor(times.length / 2)].toFixed(1)} ms, max ${times[times.length - 1].toFixed(1)} ms over ${times.length} reads`);

    // The analyst's way, and the check that both give the same numbers.
    const analyst = await measured(() => analystWay(platform, registry));
    const diff = differences(await engineCells(platform, registry), analyst.value.cells);
    console.log(`the analyst's way (${analyst.value.rows} rows pulled into the program, filtered per unit): ${analyst.seconds.toFixed(2)} s for the yearly totals and strata alone; ${peakText(analyst.peak)}`);
    console.log(diff.length === 0
      ? `checked equal: ${analyst.value.cells.size} cells (indicator × unit × year, totals and strata, fresh data) agree with the engine's`
      : `NOT EQUAL in ${diff.length} of ${analyst.value.cells.size} cells, e.g.:\n  ${diff.slice(0, 10).join('\n  ')}`);
    if (diff.length) process.exitCode = 1;

    const unit = units[0].resh;
    const ind = platform.indicators.get(registry.id, 'nfr01_time_to_treatment')!;
    started = Date.now();
    const ex = await platform.data.transaction({ kind: 'platform', task: 'bench' }, 'bench', (tx) => explainIndicator(tx, registry, ind, { unit, grain: 'year', period: year, dataset: 'fresh', lang: 'nb', asOf: `${year}-12-31`, limit: 200, offset: 0 }));
    console.log(`explanation of indicator 1 for one department: ${ex.total} cases, first ${ex.cases.length} explained in ${Date.now() - started} ms`);
  } finally {
    await platform.close();
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => { console.error(err); process.exit(1); });
