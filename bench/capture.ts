// Capture throughput: N fractures through POST /fhir to a real server process on the embedded
// PostgreSQL (default durability settings), once as one transaction Bundle per fracture (and one
// per operation), once as batch Bundles; then the same rows loaded with COPY as the physical limit.
// Prints fractures/s, bundles/s, resources/s, the ratio to COPY, and CPU per process (where the time goes).
//   npm run bench:capture -- [--fractures 100000] [--concurrency 16] [--batch 100] [--modes single,batch]
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import pino from 'pino';
import { createToken } from '../src/access/tokens.ts';
import { loadConfig } from '../src/config.ts';
import { ensureDatabase, withDatabase } from '../src/db/database.ts';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { ehrBundle, plannerBundle, type FractureSpec } from '../registries/fracture/bundles.ts';
import { DEFAULT_RATES, generateFractures } from '../demo/fracture/generate.ts';
import { sendBundles } from '../demo/send.ts';
import { startPlatform } from '../src/platform.ts';

const { values: args } = parseArgs({ options: {
  fractures: { type: 'string', default: '100000' }, concurrency: { type: 'string', default: '16' },
  batch: { type: 'string', default: '100' }, modes: { type: 'string', default: 'single,batch' },
  audit: { type: 'string', default: 'on' },
} });
const N = Number(args.fractures), C = Number(args.concurrency), B = Number(args.batch);
const TABLES = ['org_unit', 'registry_version', 'registry', 'api_token', 'person', 'inbox_message', 'source_resource', 'registry_case', 'case_form', 'value_history', 'routing_decision'];

const keysEnv = { KVALREG_ENCRYPTION_KEY: crypto.randomBytes(32).toString('base64'), KVALREG_HASH_KEY: crypto.randomBytes(32).toString('base64') };
Object.assign(process.env, keysEnv);

function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try { const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]); } catch { /* gone */ }
  }
  return ticks / 100;
}
function cpuByProcess(pids: number[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of pids) {
    try {
      const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      const name = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').replace(/postgres: /, '').replace(/\d+\.\d+\.\d+\.\d+\(\d+\)/, '').replace(/kvalreg_bench_\w+/, 'db').trim().split(' ').slice(0, 3).join(' ');
      out.set(name, (out.get(name) ?? 0) + (Number(f[11]) + Number(f[12])) / 100);
    } catch { /* gone */ }
  }
  return out;
}
function postgresPids(): number[] {
  return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => {
    try { return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim().startsWith('postgres'); } catch { return false; }
  });
}

async function main() {
  let adminUrl = process.env.DATABASE_URL;
  let stopPg: (() => Promise<void>) | undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvalreg-bench-'));
  if (!adminUrl) {
    const server = await startEmbeddedPostgres({ dataDir: dir, port: 56000 + Math.floor(Math.random() * 1000), settings: { max_connections: '100', shared_buffers: '1GB', max_wal_size: '8GB', shared_preload_libraries: 'pg_stat_statements', ...JSON.parse(process.env.BENCH_PG_SETTINGS ?? '{}') } });
    adminUrl = server.url('postgres');
    stopPg = server.stop;
  }
  const dbUrl = (name: string) => withDatabase(adminUrl!, name);
  console.log(`kvalreg capture benchmark: ${N.toLocaleString('en')} fractures, concurrency ${C}, batch size ${B}, audit trail ${args.audit}, ${os.cpus().length} cores, PostgreSQL with default durability (fsync and synchronous_commit on)`);
  const results: Record<string, { seconds: number; fractures: number; bundles: number; resources: number }> = {};
  let copySource: string | undefined;
  for (const mode of args.modes!.split(',')) {
    const name = `kvalreg_bench_${mode}_${process.pid}`;
    await ensureDatabase(adminUrl, name);
    const config = loadConfig({ ...process.env, DATABASE_URL: dbUrl(name), KVALREG_DATA_DIR: dir, LOG_LEVEL: 'warn', KVALREG_ALLOW_TEST_IDENTITIES: '1' });
    const platform = await startPlatform(config, { log: pino({ level: 'warn' }) });
    // `--audit off` (for bench/audit only): this throwaway database discards audit events, so the
    // difference to a normal run is what the audit trail costs. The product has no such switch.
    if (args.audit === 'off') await platform.db.pool.query('CREATE RULE bench_audit_off AS ON INSERT TO audit_event DO INSTEAD NOTHING');
    const ehr = await createToken(platform.db.pool, { name: 'bench-ehr', kind: 'system', sender: 'bench-ehr' });
    const planner = await createToken(platform.db.pool, { name: 'bench-planner', kind: 'system', sender: 'bench-planner' });
    const registry = platform.registry('fracture')!;
    const list = registry.codelists.get('ao_ota_2018')!;
      const codes = [...list.properties.entries()].filter(([c, p]) => p.group === c).map(([c]) => c);
    const units = platform.units.all().filter((u) => u.level === 'department' && u.kind === 'orthopaedic').map((u) => ({ resh: u.resh, weight: 1 }));
    await platform.close();
    const fractures: FractureSpec[] = generateFractures({ years: 1, scale: N / 6700, seed: 11, rates: DEFAULT_RATES, units, lastYear: 2024, codesByPrefix: (p) => codes.filter((c) => { const x = list.properties.get(c)!; return x.segment === p || x.bone === p; }) }).slice(0, N);
    const items: Array<{ token: string; bundle: unknown }> = [];
    let resources = 0;
    if (mode === 'single') {
      // The operation planner reports an operation some time after the record: its bundle is
      // sent 200 fractures later, as in real traffic, not at the same instant.
      const LAG = 200;
      const pending: Array<{ due: number; bundle: unknown }> = [];
      fractures.forEach((f, i) => {
        const e = ehrBundle(f); items.push({ token: ehr, bundle: e }); resources += e.entry.length;
        const p = plannerBundle(f); if (p) { pending.push({ due: i + LAG, bundle: p }); resources += p.entry.length; }
        while (pending.length && pending[0].due <= i) items.push({ token: planner, bundle: pending.shift()!.bundle });
      });
      for (const p of pending) items.push({ token: planner, bundle: p.bundle });
    } else {
      // The planner's batch for a set of fractures follows two record batches later.
      const pending: unknown[] = [];
      for (let i = 0; i < fractures.length; i += B) {
        const chunk = fractures.slice(i, i + B);
        const e = { resourceType: 'Bundle', type: 'batch', entry: chunk.flatMap((f) => ehrBundle(f, 'batch').entry) };
        items.push({ token: ehr, bundle: e }); resources += e.entry.length;
        const p = chunk.map((f) => plannerBundle(f)).filter(Boolean).flatMap((b) => b!.entry);
        if (p.length) { pending.push({ resourceType: 'Bundle', type: 'batch', entry: p }); resources += p.length; }
        if (pending.length > 2) items.push({ token: planner, bundle: pending.shift() });
      }
      for (const p of pending) items.push({ token: planner, bundle: p });
    }
    const port = 57000 + Math.floor(Math.random() * 1000);
    const profile = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [];
    const server: ChildProcess = spawn(process.execPath, [...profile, path.resolve('bin/kvalreg.js'), 'serve', '--port', String(port)], {
      env: { ...process.env, ...keysEnv, DATABASE_URL: dbUrl(name), KVALREG_DATA_DIR: dir, LOG_LEVEL: 'warn', KVALREG_ALLOW_TEST_IDENTITIES: '1' }, stdio: ['ignore', 'inherit', 'inherit'] });
    for (let i = 0; i < 300; i++) { try { if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) break; } catch { /* starting */ } await new Promise((r) => setTimeout(r, 100)); }
    const stat = new pg.Client({ connectionString: dbUrl(name) });
    await stat.connect();
    const statements = await stat.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements').then(() => stat.query('SELECT pg_stat_statements_reset()')).then(() => true, () => false);
    const pgPids = postgresPids();
    const cpu0 = { server: cpuSeconds([server.pid!]), pg: cpuSeconds(pgPids), client: process.cpuUsage() };
    const t0 = performance.now();
    let last = 0;
    const stats = await sendBundles(`http://127.0.0.1:${port}`, items, { concurrency: C, onProgress: (n) => {
      if (n - last >= Math.max(1, Math.floor(items.length / 10))) { last = n; process.stdout.write(`  ${mode}: ${n}/${items.length} bundles\r`); } } });
    const seconds = (performance.now() - t0) / 1000;
    const cpuServer = cpuSeconds([server.pid!]) - cpu0.server, cpuPg = cpuSeconds(postgresPids()) - cpu0.pg;
    const byProcess = [...cpuByProcess(postgresPids()).entries()].sort((a, b) => b[1] - a[1]).slice(0, 6);
    const cu = process.cpuUsage(cpu0.client);
    server.kill('SIGTERM');
    await new Promise((r) => server.on('exit', r));
    if (stats.failed) console.log(`\n  ${stats.failed} bundles refused, e.g. ${JSON.stringify(stats.failures[0])}`);
    results[mode] = { seconds, fractures: fractures.length, bundles: items.length, resources };
    console.log(`  PostgreSQL CPU by process (since start): ${byProcess.map(([n, c]) => `${n} ${c.toFixed(1)} s`).join(', ')}`);
    if (statements) {
      const top = (await stat.query(`SELECT calls, total_exec_time, mean_exec_time, shared_blks_hit / greatest(calls, 1) AS blocks, query FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY shared_blks_hit DESC LIMIT 10`)).rows;
      console.log('  PostgreSQL time by statement (pg_stat_statements):');
      for (const r of top) console.log(`    ${(r.total_exec_time / 1000).toFixed(1)} s in ${r.calls} calls (${r.mean_exec_time.toFixed(2)} ms, ${r.blocks} buffers each): ${r.query.replace(/\s+/g, ' ').slice(0, 110)}`);
    }
    await stat.end();
    console.log(`\n${mode === 'single' ? 'one transaction Bundle per fracture/operation' : `batch Bundles of ${B} fractures`}:`);
    console.log(`  ${fractures.length.toLocaleString('en')} fractures, ${items.length.toLocaleString('en')} bundles, ${resources.toLocaleString('en')} resources in ${seconds.toFixed(1)} s`);
    console.log(`  => ${(fractures.length / seconds).toFixed(0)} fractures/s, ${(items.length / seconds).toFixed(0)} bundles/s, ${(resources / seconds).toFixed(0)} resources/s`);
    console.log(`  CPU: server ${cpuServer.toFixed(1)} s, PostgreSQL ${cpuPg.toFixed(1)} s, load generator ${((cu.user + cu.system) / 1e6).toFixed(1)} s (of ${(seconds * os.cpus().length).toFixed(1)} core-seconds)`);
    copySource = copySource ?? name;
  }

  // The physical limit: the same rows the pipeline wrote, loaded with COPY into an empty schema.
  if (copySource) {
    const src = new pg.Client({ connectionString: dbUrl(copySource) });
    await src.connect();
    const target = `kvalreg_bench_copy_${process.pid}`;
    await ensureDatabase(adminUrl, target);
    const cfg = loadConfig({ ...process.env, DATABASE_URL: dbUrl(target), KVALREG_DATA_DIR: dir, LOG_LEVEL: 'warn', KVALREG_ALLOW_TEST_IDENTITIES: '1' });
    const empty = await startPlatform(cfg, { log: pino({ level: 'warn' }) });
    await empty.db.pool.query(`TRUNCATE ${TABLES.join(', ')} CASCADE`);
    await empty.close();
    const dumps: Array<{ table: string; data: Buffer; rows: number }> = [];
    for (const table of TABLES) {
      const chunks: Buffer[] = [];
      const stream = src.query(copyStreams.to(`COPY ${table} TO STDOUT (FORMAT binary)`));
      for await (const c of stream) chunks.push(c as Buffer);
      dumps.push({ table, data: Buffer.concat(chunks), rows: Number((await src.query(`SELECT count(*) FROM ${table}`)).rows[0].count) });
    }
    await src.end();
    const dst = new pg.Client({ connectionString: dbUrl(target) });
    await dst.connect();
    const t0 = performance.now();
    await dst.query('BEGIN');
    for (const d of dumps) {
      await new Promise<void>((resolve, reject) => {
        const s = dst.query(copyStreams.from(`COPY ${d.table} FROM STDIN (FORMAT binary)`));
        s.on('finish', resolve); s.on('error', reject); s.end(d.data);
      });
    }
    await dst.query('COMMIT');
    const seconds = (performance.now() - t0) / 1000;
    await dst.end();
    const rows = dumps.reduce((s, d) => s + d.rows, 0);
    const single = results[copySource.includes('single') ? 'single' : 'batch'];
    console.log(`\nCOPY of the same ${rows.toLocaleString('en')} rows (${dumps.filter((d) => d.rows).map((d) => `${d.table} ${d.rows}`).join(', ')}) in ${seconds.toFixed(1)} s`);
    console.log(`  => ${(single.fractures / seconds).toFixed(0)} fractures/s as the physical limit of this machine`);
    for (const [mode, r] of Object.entries(results)) console.log(`  ${mode}: ${(r.fractures / r.seconds).toFixed(0)} fractures/s = ${((r.fractures / r.seconds) / (single.fractures / seconds) * 100).toFixed(1)} % of COPY (COPY is ${(r.seconds / seconds).toFixed(1)}× faster)`);
  }
  await stopPg?.();
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((err) => { console.error(err); process.exit(1); });
