// Capture throughput: N fractures through POST /fhir to a real server process on the embedded
// PostgreSQL (default durability settings), once as one transaction Bundle per fracture (and one
// per operation), once as batch Bundles; then the same rows loaded with COPY as the physical limit.
// Prints fractures/s, bundles/s, resources/s, the ratio to COPY, and CPU per process (where the time goes).
// The figures that do not depend on how busy the machine is are printed too: CPU seconds per 1,000
// fractures (server and PostgreSQL), statements and transactions per message (pg_stat_statements,
// pg_stat_database), and database round trips per message, counted on a sample of the same messages
// sent through the same HTTP app in this process with every query counted.
//   npm run bench:capture -- [--fractures 100000] [--concurrency 16] [--batch 100] [--modes single,batch] [--count 200] [--workers 1|N|auto]
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import pino from 'pino';
import { createToken } from '../src/auth/tokens.ts';
import { loadConfig } from '../src/config.ts';
import { ensureDatabase, withDatabase } from '../src/db/database.ts';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { ehrBundle, plannerBundle, type FractureSpec } from '../registries/fracture/bundles.ts';
import { DEFAULT_RATES, generateFractures } from '../demo/fracture/generate.ts';
import { sendBundles } from '../demo/send.ts';
import { startPlatform } from '../src/platform.ts';
import { buildServer } from '../src/server/app.ts';

const { values: args } = parseArgs({
  options: {
    fractures: { type: 'string', default: '100000' },
    concurrency: { type: 'string', default: '16' },
    batch: { type: 'string', default: '100' },
    modes: { type: 'string', default: 'single,batch' },
    audit: { type: 'string', default: 'on' },
    count: { type: 'string', default: '200' },
    // HTTP worker processes of the server (KVALREG_WORKERS; 1 = one process, as by default).
    workers: { type: 'string', default: '1' },
  },
});
const N = Number(args.fractures),
  C = Number(args.concurrency),
  B = Number(args.batch);
const TABLES = [
  'org_unit',
  'registry_version',
  'registry',
  'api_token',
  'person',
  'inbox_message',
  'source_resource',
  'registry_case',
  'case_form',
  'value_history',
  'routing_decision',
];

const keysEnv = {
  KVALREG_ENCRYPTION_KEY: crypto.randomBytes(32).toString('base64'),
  KVALREG_HASH_KEY: crypto.randomBytes(32).toString('base64'),
};
Object.assign(process.env, keysEnv);

function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {
      /* gone */
    }
  }
  return ticks / 100;
}
function cpuByProcess(pids: number[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of pids) {
    try {
      const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      const name = fs
        .readFileSync(`/proc/${pid}/cmdline`, 'utf8')
        .replace(/\0/g, ' ')
        .replace(/postgres: /, '')
        .replace(/\d+\.\d+\.\d+\.\d+\(\d+\)/, '')
        .replace(/kvalreg_bench_\w+/, 'db')
        .trim()
        .split(' ')
        .slice(0, 3)
        .join(' ');
      out.set(name, (out.get(name) ?? 0) + (Number(f[11]) + Number(f[12])) / 100);
    } catch {
      /* gone */
    }
  }
  return out;
}
/** The server process and its HTTP workers (KVALREG_WORKERS), alive now. */
function serverPids(primary: number): number[] {
  const children = fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => {
      try {
        return Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]) === primary;
      } catch {
        return false;
      }
    });
  return [primary, ...children];
}
/**
 * The processes of the benchmark's own PostgreSQL (its postmaster and the postmaster's children):
 * on a shared machine other clusters run too, and their CPU is not ours.
 */
let postmaster: number | undefined;
function postgresPids(): number[] {
  const all = fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
  const parentOf = (pid: number) => {
    try {
      return Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
    } catch {
      return -1;
    }
  };
  return all.filter((pid) => {
    try {
      if (!fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim().startsWith('postgres')) return false;
    } catch {
      return false;
    }
    return postmaster === undefined || pid === postmaster || parentOf(pid) === postmaster;
  });
}

/**
 * Database round trips and transactions per message, counted: every query any client of this
 * process sends is one round trip (node-postgres sends one query at a time per connection and waits
 * for its answer). The messages go through the same HTTP app as the server's (token check, inbox,
 * pipeline, audit) on a platform of their own.
 */
async function countRoundTrips(
  config: ReturnType<typeof loadConfig>,
  warmup: Array<{ token: string; bundle: unknown }>,
  items: Array<{ token: string; bundle: unknown }>,
  tokenOf: (t: string) => string,
): Promise<Counted> {
  const platform = await startPlatform(config, { log: pino({ level: 'warn' }) });
  const app = await buildServer(platform);
  const ehr = await createToken(platform.db.pool, { name: 'count-ehr', kind: 'system', sender: 'bench-ehr' });
  const planner = await createToken(platform.db.pool, { name: 'count-planner', kind: 'system', sender: 'bench-planner' });
  const original = pg.Client.prototype.query;
  let roundTrips = 0,
    transactions = 0,
    counting = false;
  (pg.Client.prototype as any).query = function (this: pg.Client, ...args: any[]) {
    if (counting) {
      roundTrips++;
      const text = typeof args[0] === 'string' ? args[0] : args[0]?.text;
      if (typeof text === 'string' && /^\s*BEGIN\b/i.test(text)) transactions++;
    }
    return (original as any).apply(this, args);
  };
  const send = async (token: string, body: string) => {
    const res = await app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: `Bearer ${tokenOf(token) === 'planner' ? planner : ehr}`, 'content-type': 'application/fhir+json' },
      payload: body,
    });
    if (res.statusCode !== 200) throw new Error(`counting run: a bundle was refused (${res.statusCode}): ${res.body.slice(0, 300)}`);
  };
  // The messages before the sample first (not counted), so that the sample meets the data it would.
  for (const item of warmup) await send(item.token, JSON.stringify(item.bundle));
  const bodies = items.map((item) => JSON.stringify(item.bundle));
  const cpu0 = { server: process.cpuUsage(), pg: cpuSeconds(postgresPids()) };
  counting = true;
  try {
    for (const [i, item] of items.entries()) await send(item.token, bodies[i]);
  } finally {
    counting = false;
    pg.Client.prototype.query = original;
    await app.close();
  }
  const server = process.cpuUsage(cpu0.server);
  const cpu = { server: (server.user + server.system) / 1e6, pg: cpuSeconds(postgresPids()) - cpu0.pg };
  await platform.close();
  return { messages: items.length, roundTrips, transactions, cpuServer: cpu.server, cpuPg: cpu.pg };
}

/** Counted on a sample sent one at a time, without the server's background jobs: the capture path alone. */
interface Counted {
  messages: number;
  roundTrips: number;
  transactions: number;
  cpuServer: number;
  cpuPg: number;
}

async function main() {
  let adminUrl = process.env.DATABASE_URL;
  let stopPg: (() => Promise<void>) | undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvalreg-bench-'));
  if (!adminUrl) {
    const server = await startEmbeddedPostgres({
      dataDir: dir,
      port: 56000 + Math.floor(Math.random() * 1000),
      settings: {
        max_connections: '100',
        shared_buffers: '1GB',
        max_wal_size: '8GB',
        shared_preload_libraries: 'pg_stat_statements',
        ...JSON.parse(process.env.BENCH_PG_SETTINGS ?? '{}'),
      },
    });
    adminUrl = server.url('postgres');
    stopPg = server.stop;
    postmaster = Number(fs.readFileSync(path.join(dir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
  }
  const dbUrl = (name: string) => withDatabase(adminUrl!, name);
  console.log(
    `kvalreg capture benchmark: ${N.toLocaleString('en')} fractures, concurrency ${C}, batch size ${B}, audit trail ${args.audit}, server processes ${args.workers === '1' ? 1 : `1 + ${args.workers} HTTP workers`}, ${os.cpus().length} cores (load average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}), PostgreSQL with default durability (fsync and synchronous_commit on)`,
  );
  const results: Record<
    string,
    {
      seconds: number;
      fractures: number;
      bundles: number;
      resources: number;
      cpuServer: number;
      cpuPg: number;
      statements: number;
      transactions: number;
      counted?: Counted;
      sampleFractures?: number;
    }
  > = {};
  let copySource: string | undefined;
  for (const mode of args.modes!.split(',')) {
    const name = `kvalreg_bench_${mode}_${process.pid}`;
    await ensureDatabase(adminUrl, name);
    const config = loadConfig({
      ...process.env,
      DATABASE_URL: dbUrl(name),
      KVALREG_DATA_DIR: dir,
      LOG_LEVEL: 'warn',
      KVALREG_ALLOW_TEST_IDENTITIES: '1',
    });
    const platform = await startPlatform(config, { log: pino({ level: 'warn' }) });
    // `--audit off` (for bench/audit only): this throwaway database discards audit events, so the
    // difference to a normal run is what the audit trail costs. The product has no such switch.
    if (args.audit === 'off') await platform.db.pool.query('CREATE RULE bench_audit_off AS ON INSERT TO audit_event DO INSTEAD NOTHING');
    const ehr = await createToken(platform.db.pool, { name: 'bench-ehr', kind: 'system', sender: 'bench-ehr' });
    const planner = await createToken(platform.db.pool, { name: 'bench-planner', kind: 'system', sender: 'bench-planner' });
    const registry = platform.registry('fracture')!;
    const list = registry.codelists.get('ao_ota_2018')!;
    const codes = [...list.properties.entries()].filter(([c, p]) => p.group === c).map(([c]) => c);
    const units = platform.units
      .all()
      .filter((u) => u.level === 'department' && u.kind === 'orthopaedic')
      .map((u) => ({ resh: u.resh, weight: 1 }));
    await platform.close();
    const fractures: FractureSpec[] = generateFractures({
      years: 1,
      scale: N / 6700,
      seed: 11,
      rates: DEFAULT_RATES,
      units,
      lastYear: 2024,
      codesByPrefix: (p) =>
        codes.filter((c) => {
          const x = list.properties.get(c)!;
          return x.segment === p || x.bone === p;
        }),
    }).slice(0, N);
    const items: Array<{ token: string; bundle: unknown }> = [];
    let resources = 0;
    if (mode === 'single') {
      // The operation planner reports an operation some time after the record: its bundle is
      // sent 200 fractures later, as in real traffic, not at the same instant.
      const LAG = 200;
      const pending: Array<{ due: number; bundle: unknown }> = [];
      fractures.forEach((f, i) => {
        const e = ehrBundle(f);
        items.push({ token: ehr, bundle: e });
        resources += e.entry.length;
        const p = plannerBundle(f);
        if (p) {
          pending.push({ due: i + LAG, bundle: p });
          resources += p.entry.length;
        }
        while (pending.length && pending[0].due <= i) items.push({ token: planner, bundle: pending.shift()!.bundle });
      });
      for (const p of pending) items.push({ token: planner, bundle: p.bundle });
    } else {
      // The planner's batch for a set of fractures follows two record batches later.
      const pending: unknown[] = [];
      for (let i = 0; i < fractures.length; i += B) {
        const chunk = fractures.slice(i, i + B);
        const e = { resourceType: 'Bundle', type: 'batch', entry: chunk.flatMap((f) => ehrBundle(f, 'batch').entry) };
        items.push({ token: ehr, bundle: e });
        resources += e.entry.length;
        const p = chunk
          .map((f) => plannerBundle(f))
          .filter(Boolean)
          .flatMap((b) => b!.entry);
        if (p.length) {
          pending.push({ resourceType: 'Bundle', type: 'batch', entry: p });
          resources += p.length;
        }
        if (pending.length > 2) items.push({ token: planner, bundle: pending.shift() });
      }
      for (const p of pending) items.push({ token: planner, bundle: p });
    }
    const port = 57000 + Math.floor(Math.random() * 1000);
    const profile = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [];
    const server: ChildProcess = spawn(process.execPath, [...profile, path.resolve('bin/kvalreg.js'), 'serve', '--port', String(port)], {
      env: {
        ...process.env,
        ...keysEnv,
        DATABASE_URL: dbUrl(name),
        KVALREG_DATA_DIR: dir,
        LOG_LEVEL: 'warn',
        KVALREG_ALLOW_TEST_IDENTITIES: '1',
        KVALREG_WORKERS: args.workers,
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    // The first start may build the web app (a minute or more on a busy machine).
    for (let i = 0; i < 3000; i++) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) break;
      } catch {
        /* starting */
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const stat = new pg.Client({ connectionString: dbUrl(name) });
    await stat.connect();
    const statements = await stat
      .query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements')
      .then(() => stat.query('SELECT pg_stat_statements_reset()'))
      .then(
        () => true,
        () => false,
      );
    const pgPids = postgresPids();
    const xacts = async () =>
      Number(
        (await stat.query('SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()')).rows[0].n,
      );
    const xact0 = await xacts();
    const workerPids = serverPids(server.pid!);
    const cpu0 = { server: cpuSeconds(workerPids), pg: cpuSeconds(pgPids), client: process.cpuUsage() };
    const t0 = performance.now();
    let last = 0;
    const stats = await sendBundles(`http://127.0.0.1:${port}`, items, {
      concurrency: C,
      onProgress: (n) => {
        if (n - last >= Math.max(1, Math.floor(items.length / 10))) {
          last = n;
          process.stdout.write(`  ${mode}: ${n}/${items.length} bundles\r`);
        }
      },
    });
    const seconds = (performance.now() - t0) / 1000;
    const cpuServer = cpuSeconds(serverPids(server.pid!)) - cpu0.server,
      cpuPg = cpuSeconds(postgresPids()) - cpu0.pg;
    const byProcess = [...cpuByProcess(postgresPids()).entries()].sort((a, b) => b[1] - a[1]).slice(0, 6);
    const cu = process.cpuUsage(cpu0.client);
    const transactions = (await xacts()) - xact0;
    server.kill('SIGTERM');
    await new Promise((r) => server.on('exit', r));
    if (stats.failed) console.log(`\n  ${stats.failed} bundles refused, e.g. ${JSON.stringify(stats.failures[0])}`);
    let statementCalls = 0;
    console.log(`\n  PostgreSQL CPU by process (since start): ${byProcess.map(([n, c]) => `${n} ${c.toFixed(1)} s`).join(', ')}`);
    if (statements) {
      statementCalls = Number(
        (
          await stat.query(
            `SELECT sum(calls) AS n FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
          )
        ).rows[0].n,
      );
      const top = (
        await stat.query(
          `SELECT calls, total_exec_time, mean_exec_time, shared_blks_hit / greatest(calls, 1) AS blocks, query FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY shared_blks_hit DESC LIMIT 10`,
        )
      ).rows;
      console.log('  PostgreSQL time by statement (pg_stat_statements):');
      for (const r of top)
        console.log(
          `    ${(r.total_exec_time / 1000).toFixed(1)} s in ${r.calls} calls (${r.mean_exec_time.toFixed(2)} ms, ${r.blocks} buffers each): ${r.query.replace(/\s+/g, ' ').slice(0, 110)}`,
        );
    }
    await stat.end();
    results[mode] = {
      seconds,
      fractures: fractures.length,
      bundles: items.length,
      resources,
      cpuServer,
      cpuPg,
      statements: statementCalls,
      transactions,
    };
    // Round trips, counted on a sample of the same messages on a fresh database of their own.
    // The sample comes after the first messages (sent first, not counted): the operation planner's
    // messages follow the record's, as in the run.
    const countN = mode === 'single' ? Number(args.count) : Math.max(2, Math.ceil(Number(args.count) / 100));
    const warm = Math.min(mode === 'single' ? 250 : 4, Math.max(0, items.length - countN));
    const sample = items.slice(warm, warm + countN);
    if (sample.length && Number(args.count) > 0) {
      const countDb = `kvalreg_bench_count_${mode}_${process.pid}`;
      await ensureDatabase(adminUrl, countDb);
      results[mode].sampleFractures =
        mode === 'single'
          ? sample.filter((x) => x.token === ehr).length
          : sample.reduce(
              (n, x) =>
                n + (x.token === ehr ? (x.bundle as any).entry.filter((e: any) => e.resource?.resourceType === 'Condition').length : 0),
              0,
            );
      results[mode].counted = await countRoundTrips(
        loadConfig({
          ...process.env,
          DATABASE_URL: dbUrl(countDb),
          KVALREG_DATA_DIR: dir,
          LOG_LEVEL: 'warn',
          KVALREG_ALLOW_TEST_IDENTITIES: '1',
        }),
        items.slice(0, warm),
        sample,
        (t) => (t === planner ? 'planner' : 'ehr'),
      );
    }
    console.log(`\n${mode === 'single' ? 'one transaction Bundle per fracture/operation' : `batch Bundles of ${B} fractures`}:`);
    console.log(
      `  ${fractures.length.toLocaleString('en')} fractures, ${items.length.toLocaleString('en')} bundles, ${resources.toLocaleString('en')} resources in ${seconds.toFixed(1)} s`,
    );
    console.log(
      `  => ${(fractures.length / seconds).toFixed(0)} fractures/s, ${(items.length / seconds).toFixed(0)} bundles/s, ${(resources / seconds).toFixed(0)} resources/s`,
    );
    console.log(
      `  CPU: server ${cpuServer.toFixed(1)} s, PostgreSQL ${cpuPg.toFixed(1)} s, load generator ${((cu.user + cu.system) / 1e6).toFixed(1)} s (of ${(seconds * os.cpus().length).toFixed(1)} core-seconds)`,
    );
    const r = results[mode];
    console.log(
      `  per 1,000 fractures: server CPU ${((cpuServer / r.fractures) * 1000).toFixed(1)} s, PostgreSQL CPU ${((cpuPg / r.fractures) * 1000).toFixed(1)} s (includes the background jobs that ran meanwhile)`,
    );
    console.log(
      `  per message: ${statements ? (r.statements / r.bundles).toFixed(1) : '?'} statements, ${(r.transactions / r.bundles).toFixed(2)} transactions (pg_stat_statements, pg_stat_database; background jobs included)`,
    );
    if (r.counted) {
      console.log(
        `  per message, counted on ${r.counted.messages} of them sent one at a time: ${(r.counted.roundTrips / r.counted.messages).toFixed(1)} database round trips, ${(r.counted.transactions / r.counted.messages).toFixed(2)} transactions`,
      );
      console.log(
        `  capture path alone (that sample, no background jobs): server CPU ${((r.counted.cpuServer / r.sampleFractures!) * 1000).toFixed(1)} s + PostgreSQL CPU ${((r.counted.cpuPg / r.sampleFractures!) * 1000).toFixed(1)} s per 1,000 fractures`,
      );
    }
    copySource = copySource ?? name;
  }

  // The physical limit: the same rows the pipeline wrote, loaded with COPY into an empty schema.
  if (copySource) {
    const src = new pg.Client({ connectionString: dbUrl(copySource) });
    await src.connect();
    const target = `kvalreg_bench_copy_${process.pid}`;
    await ensureDatabase(adminUrl, target);
    const cfg = loadConfig({
      ...process.env,
      DATABASE_URL: dbUrl(target),
      KVALREG_DATA_DIR: dir,
      LOG_LEVEL: 'warn',
      KVALREG_ALLOW_TEST_IDENTITIES: '1',
    });
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
        s.on('finish', resolve);
        s.on('error', reject);
        s.end(d.data);
      });
    }
    await dst.query('COMMIT');
    const seconds = (performance.now() - t0) / 1000;
    await dst.end();
    const rows = dumps.reduce((s, d) => s + d.rows, 0);
    const single = results[copySource.includes('single') ? 'single' : 'batch'];
    console.log(
      `\nCOPY of the same ${rows.toLocaleString('en')} rows (${dumps
        .filter((d) => d.rows)
        .map((d) => `${d.table} ${d.rows}`)
        .join(', ')}) in ${seconds.toFixed(1)} s`,
    );
    console.log(`  => ${(single.fractures / seconds).toFixed(0)} fractures/s as the physical limit of this machine`);
    const copyRate = single.fractures / seconds;
    console.log(
      '\n| mode | capture | COPY of the same rows, this run | share of COPY | CPU per 1,000 fractures, server + PostgreSQL (run; capture path alone) | round trips per message |',
    );
    console.log('|---|---|---|---|---|---|');
    for (const [mode, r] of Object.entries(results)) {
      const alone = r.counted
        ? `${((r.counted.cpuServer / r.sampleFractures!) * 1000).toFixed(1)} + ${((r.counted.cpuPg / r.sampleFractures!) * 1000).toFixed(1)} s`
        : '?';
      console.log(
        `| ${mode === 'single' ? 'one message per fracture' : `batch Bundles of ${B}`} | ${(r.fractures / r.seconds).toFixed(0)} fractures/s | ${copyRate.toFixed(0)} fractures/s | ${((r.fractures / r.seconds / copyRate) * 100).toFixed(1)} % | ${((r.cpuServer / r.fractures) * 1000).toFixed(1)} + ${((r.cpuPg / r.fractures) * 1000).toFixed(1)} s; ${alone} | ${r.counted ? (r.counted.roundTrips / r.counted.messages).toFixed(1) : '?'} |`,
      );
    }
  }
  await stopPg?.();
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
