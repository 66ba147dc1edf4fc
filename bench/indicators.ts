// Indicator engine: N synthetic fractures captured through the real pipeline (batch Bundles of 100)
// on a fresh embedded PostgreSQL, then
//   1. the analytics rebuild (every row recomputed from the registrations): rows/s;
//   2. one computation of every active indicator for every unit level, period, stratum and
//      dataset: time per indicator and in all, result rows;
//   3. reading results as the web app does (every department for a year; one unit's explanation).
//   npm run bench:indicators -- [--fractures 50000] [--years 3]
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { loadConfig } from '../src/config.ts';
import { ensureDatabase, withDatabase } from '../src/db/database.ts';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { ehrBundle, plannerBundle } from '../registries/fracture/bundles.ts';
import { DEFAULT_RATES, generateFractures } from '../demo/fracture/generate.ts';
import { explainIndicator } from '../src/indicators/explain.ts';
import { startPlatform } from '../src/platform.ts';

const { values: args } = parseArgs({ options: { fractures: { type: 'string', default: '50000' }, years: { type: 'string', default: '3' } } });
const N = Number(args.fractures), YEARS = Number(args.years);
Object.assign(process.env, { KVALREG_ENCRYPTION_KEY: crypto.randomBytes(32).toString('base64'), KVALREG_HASH_KEY: crypto.randomBytes(32).toString('base64') });

const seconds = (since: number) => (Date.now() - since) / 1000;

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvalreg-bench-ind-'));
  const server = process.env.DATABASE_URL ? null : await startEmbeddedPostgres({ dataDir: dir, port: 57000 + Math.floor(Math.random() * 1000), settings: { shared_buffers: '1GB', max_wal_size: '8GB' } });
  const adminUrl = process.env.DATABASE_URL ?? server!.url('postgres');
  const name = `kvalreg_bench_${crypto.randomBytes(4).toString('hex')}`;
  await ensureDatabase(adminUrl, name);
  const platform = await startPlatform(loadConfig({ ...process.env, DATABASE_URL: withDatabase(adminUrl, name), KVALREG_DATA_DIR: dir, LOG_LEVEL: 'warn' }), { log: pino({ level: 'warn' }), poolSize: 8 });
  try {
    const registry = platform.registry('fracture')!;
    const list = registry.codelists.get('ao_ota_2018')!;
    const codes = [...list.properties.entries()].filter(([code, p]) => p.group === code).map(([code]) => code);
    const units = platform.units.all().filter((u) => u.level === 'department' && u.kind !== 'emergency_department').map((u) => ({ resh: u.resh, weight: 1 }));
    const specs = generateFractures({ years: YEARS, scale: N / YEARS / 6700, seed: 1, rates: DEFAULT_RATES, units, lastYear: new Date().getFullYear() - 1,
      codesByPrefix: (prefix) => codes.filter((c) => { const x = list.properties.get(c)!; return x.segment === prefix || x.bone === prefix; }) });

    let started = Date.now();
    const ehr = { kind: 'system', sender: 'bench-ehr', name: 'bench' } as const;
    const planner = { kind: 'system', sender: 'bench-planner', name: 'bench' } as const;
    const batches: Array<{ caller: typeof ehr | typeof planner; body: string }> = [];
    for (let i = 0; i < specs.length; i += 100) {
      const chunk = specs.slice(i, i + 100);
      batches.push({ caller: ehr, body: JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: chunk.flatMap((f) => ehrBundle(f, 'batch').entry) }) });
      const ops = chunk.map((f) => plannerBundle(f)).filter((b) => b !== null).flatMap((b) => b!.entry);
      if (ops.length) batches.push({ caller: planner, body: JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: ops }) });
    }
    let next = 0;
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (next < batches.length) {
        const b = batches[next++];
        await platform.inbox.process(await platform.inbox.receive(b.caller, 'fhir', b.body));
        if (process.stdout.isTTY) process.stdout.write(`  captured ${Math.min(specs.length, Math.round(next / batches.length * specs.length))} fractures\r`);
      }
    }));
    console.log(`captured ${specs.length} fractures (batch Bundles of 100, the analytics queue filled by trigger) in ${seconds(started).toFixed(1)} s`);

    started = Date.now();
    const [refreshed] = await platform.analytics.refresh();
    console.log(`analytics refresh of the queued cases: ${refreshed.rows} rows in ${seconds(started).toFixed(1)} s = ${Math.round(refreshed.rows / seconds(started))} rows/s`);
    started = Date.now();
    const [rebuilt] = await platform.analytics.rebuild(registry);
    const rebuildS = seconds(started);
    console.log(`analytics rebuild from scratch: ${rebuilt.rows} rows in ${rebuildS.toFixed(1)} s = ${Math.round(rebuilt.rows / rebuildS)} rows/s`);

    started = Date.now();
    await platform.indicators.ensureFresh(registry, { force: true });
    const all = seconds(started);
    const runs = await platform.indicators.runs(registry);
    const rows = Number((await platform.db.pool.query('SELECT count(*) FROM indicator_result')).rows[0].count);
    console.log(`every active indicator (${runs.length}) for every unit level, period, stratum and dataset: ${all.toFixed(2)} s, ${rows} result rows`);
    for (const r of runs) console.log(`  ${r.indicator.padEnd(36)} ${String(r.durationMs).padStart(6)} ms`);

    const year = String(new Date().getFullYear() - 1);
    started = Date.now();
    const deps = await platform.indicators.results(registry, { grain: 'year', period: year, level: 'department' });
    console.log(`results for every department, every indicator, ${year}: ${deps.length} results in ${(Date.now() - started)} ms (cached)`);
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
