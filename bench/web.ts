// Web API latency under load with a national-scale registry: p50/p95/p99 of the indicator overview
// (as the web app calls it for a logged-in unit user) and of the public hospital profile (its API
// and the page itself), with 50 concurrent clients (autocannon), against a real server process.
//   npm run bench:web -- [--cases 1000000] [--base 20000] [--connections 50] [--duration 20] [--years 3]
//                        [--only overview,years,data-years,worklist,worklist-plain,picker,profile-api,profile-page]
//   BENCH_PROFILE_DIR=dir for a CPU profile of the server process.
//
// Seeding: capturing a million fractures through the pipeline would take hours on two cores
// (~150–270 fractures/s, see docs/performance.md), so the bench captures a base sample through the
// real pipeline and multiplies it inside PostgreSQL (bench/seed-multiply.ts); the analytics
// refresh then recomputes every case with the platform's own evaluation, and every indicator is
// computed, so the server starts on the state it would have after a day of real traffic.
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pino from 'pino';
import { setUser } from '../src/auth/sessions.ts';
import { startLocalProvider } from '../src/auth/local-idp.ts';
import { analyticsTable } from '../src/analytics/columns.ts';
import { loadConfig } from '../src/config.ts';
import { ensureDatabase, withDatabase } from '../src/db/database.ts';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { startPlatform } from '../src/platform.ts';
import { captureSample } from './sample.ts';
import { multiplyCases } from './seed-multiply.ts';
import { loginOverHttp } from './web-login.ts';
import { cpuByPid, cpuUsed, postgresPids } from './cpu.ts';

const { values: args } = parseArgs({
  options: {
    cases: { type: 'string', default: '1000000' },
    base: { type: 'string', default: '20000' },
    connections: { type: 'string', default: '50' },
    duration: { type: 'string', default: '20' },
    years: { type: 'string', default: '3' },
    only: { type: 'string' },
  },
});
const CASES = Number(args.cases),
  BASE = Number(args.base),
  CONNECTIONS = Number(args.connections),
  DURATION = Number(args.duration),
  YEARS = Number(args.years);
const TARGET_P95_MS = 200;
const keysEnv = {
  KVALREG_ENCRYPTION_KEY: crypto.randomBytes(32).toString('base64'),
  KVALREG_HASH_KEY: crypto.randomBytes(32).toString('base64'),
};
Object.assign(process.env, keysEnv);

const seconds = (since: number) => (Date.now() - since) / 1000;
const fmt = (n: number) => n.toLocaleString('en');

/** The q-quantile of sorted values (nearest rank). */
function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

interface Target {
  key: string;
  name: string;
  what: string;
  paths: string[];
  headers: Record<string, string>;
}
interface Measured {
  target: Target;
  requests: number;
  perSecond: number;
  mbPerSecond: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  non2xx: number;
  statuses: string;
  errors: number;
  serverCpuMs: number;
  pgCpuMs: number;
}

async function load(base: string, target: Target, serverPid: number): Promise<Measured> {
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  // Warm-up, not measured: the server's JIT and PostgreSQL's caches, as on a server that has run a while.
  await autocannon({
    url: base,
    connections: CONNECTIONS,
    duration: Math.min(3, DURATION),
    requests: target.paths.map((p) => ({ method: 'GET', path: p, headers: target.headers })),
  });
  const pgPids = postgresPids();
  const cpu0 = { server: cpuByPid([serverPid]), pg: cpuByPid(pgPids) };
  const instance = autocannon({
    url: base,
    connections: CONNECTIONS,
    duration: DURATION,
    timeout: 30,
    // Each connection goes through the list in turn (the profile: one hospital after another).
    requests: target.paths.map((p) => ({ method: 'GET', path: p, headers: target.headers })),
  });
  // autocannon reports p90/p97.5/p99 only: keep every latency and take the percentiles exactly.
  instance.on('response', (_client, status, _bytes, ms) => {
    latencies.push(ms);
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
  });
  const r = await instance;
  const cpu1 = { server: cpuByPid([serverPid]), pg: cpuByPid(pgPids) };
  latencies.sort((a, b) => a - b);
  const n = latencies.length;
  return {
    target,
    requests: n,
    perSecond: n / r.duration,
    mbPerSecond: r.throughput.average / 1e6,
    p50: quantile(latencies, 0.5),
    p95: quantile(latencies, 0.95),
    p99: quantile(latencies, 0.99),
    max: latencies[n - 1] ?? NaN,
    non2xx: r.non2xx,
    statuses: [...statuses]
      .sort()
      .map(([s, c]) => `${s}×${c}`)
      .join(' '),
    errors: r.errors + r.timeouts,
    serverCpuMs: (cpuUsed(cpu0.server, cpu1.server) * 1000) / Math.max(1, n),
    pgCpuMs: (cpuUsed(cpu0.pg, cpu1.pg) * 1000) / Math.max(1, n),
  };
}

async function main() {
  if (!(BASE > 0 && CASES >= BASE)) throw new Error('--base must be positive and --cases at least --base');
  const started = Date.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvalreg-bench-web-'));
  console.log(
    `kvalreg web benchmark: ${fmt(CASES)} cases (${fmt(BASE)} fractures captured through the pipeline, the rest multiplied in PostgreSQL), ` +
      `${CONNECTIONS} connections, ${DURATION} s per target; ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB memory, Node ${process.version}`,
  );
  const pgServer = process.env.DATABASE_URL
    ? null
    : await startEmbeddedPostgres({
        dataDir: dir,
        port: 55000 + Math.floor(Math.random() * 1000),
        settings: { max_connections: '100', shared_buffers: '2GB', work_mem: '64MB', maintenance_work_mem: '512MB', max_wal_size: '16GB' },
      });
  const adminUrl = process.env.DATABASE_URL ?? pgServer!.url('postgres');
  const name = `kvalreg_bench_web_${crypto.randomBytes(4).toString('hex')}`;
  await ensureDatabase(adminUrl, name);
  const dbUrl = withDatabase(adminUrl, name);
  let server: ChildProcess | undefined;
  let idp: Awaited<ReturnType<typeof startLocalProvider>> | undefined;
  try {
    // 1. Seed: the base sample through the real capture pipeline, multiplied, refreshed, computed.
    const platform = await startPlatform(
      loadConfig({ ...process.env, DATABASE_URL: dbUrl, KVALREG_DATA_DIR: dir, LOG_LEVEL: 'warn', KVALREG_ALLOW_TEST_IDENTITIES: '1' }),
      { log: pino({ level: 'warn' }), poolSize: 8 },
    );
    const registry = platform.registry('fracture')!;
    const table = analyticsTable(registry);
    const timings: Array<[string, number]> = [];
    let step = Date.now();
    {
      const captured = await captureSample(platform, { fractures: BASE, years: YEARS });
      const baseCases = Number(
        (await platform.db.pool.query('SELECT count(*) FROM registry_case WHERE registry = $1', [registry.id])).rows[0].count,
      );
      timings.push([
        `capture of ${fmt(captured)} fractures through the pipeline (batch Bundles of 100): ${fmt(baseCases)} cases`,
        seconds(step),
      ]);
      console.log(`captured ${fmt(captured)} fractures → ${fmt(baseCases)} cases in ${seconds(step).toFixed(1)} s`);
    }

    step = Date.now();
    const multiplied = await multiplyCases(platform, registry, { target: CASES, yearsPerCopy: YEARS, log: (m) => console.log(`  ${m}`) });
    timings.push([
      `multiplied in PostgreSQL to ${fmt(multiplied.cases)} cases (${multiplied.copies} copies, ${multiplied.yearGroups} year groups)`,
      seconds(step),
    ]);
    console.log(`multiplied to ${fmt(multiplied.cases)} cases in ${seconds(step).toFixed(1)} s`);

    step = Date.now();
    const [refreshed] = await platform.analytics.refresh();
    const refreshS = seconds(step);
    timings.push([`analytics refresh of every queued case (${fmt(refreshed.rows)} rows recomputed)`, refreshS]);
    console.log(
      `analytics refresh: ${fmt(refreshed.rows)} rows in ${refreshS.toFixed(1)} s = ${fmt(Math.round(refreshed.rows / refreshS))} rows/s`,
    );
    await platform.db.pool.query(`ANALYZE ${table}`);

    step = Date.now();
    for (const r of platform.registries) await platform.indicators.ensureFresh(r, { force: true });
    timings.push(['every active indicator of every registry computed', seconds(step)]);
    const analyticsRows = Number((await platform.db.pool.query(`SELECT count(*) FROM ${table}`)).rows[0].count);
    const caseRows = Number(
      (await platform.db.pool.query('SELECT count(*) FROM registry_case WHERE registry = $1', [registry.id])).rows[0].count,
    );
    const resultRows = Number((await platform.db.pool.query('SELECT count(*) FROM indicator_result')).rows[0].count);
    const perYear = (
      await platform.db.pool.query(
        `SELECT extract(year FROM injury_date)::int AS year, count(*)::int AS n FROM ${table} GROUP BY 1 ORDER BY 1`,
      )
    ).rows;
    console.log(`indicators computed in ${seconds(step).toFixed(1)} s: ${fmt(resultRows)} result rows`);
    console.log(
      `cases present: registry_case ${fmt(caseRows)}, ${table} ${fmt(analyticsRows)} rows; per injury year: ${perYear.map((r) => `${r.year}: ${fmt(r.n)}`).join(', ')}`,
    );

    // The logged-in user: a registrar at the orthopaedic department with the most cases.
    const own = (
      await platform.db.pool.query(
        `SELECT unit_resh, count(*)::int AS n FROM registry_case WHERE registry = $1 GROUP BY 1 ORDER BY 2 DESC`,
        [registry.id],
      )
    ).rows.find((r) => platform.units.get(r.unit_resh)?.kind === 'orthopaedic')!;
    const nation = platform.indicators.nation();
    const region = platform.units.ancestorAt(own.unit_resh, 'region')!.resh;
    await setUser(platform.db.pool, {
      subject: 'bench-registrar',
      name: 'Bench Registrar',
      grants: [{ registry: registry.id, role: 'unit-registrar', unit: own.unit_resh }],
    });
    const hospitals = platform.units
      .all()
      .filter((u) => u.level === 'hospital')
      .map((u) => u.resh);
    await platform.close();

    // 2. The real server, in its own process, as `kvalreg serve` runs it, with the local login service.
    const port = 40000 + Math.floor(Math.random() * 10000);
    const site = `http://127.0.0.1:${port}`;
    const clientSecret = crypto.randomBytes(16).toString('hex');
    idp = await startLocalProvider({
      port: 0,
      host: '127.0.0.1',
      accounts: [{ subject: 'bench-registrar', username: 'registrar', password: 'bench', name: 'Bench Registrar' }],
      clients: () => [
        { clientId: 'kvalreg-bench', clientSecret, redirectUris: [`${site}/auth/callback`], postLogoutRedirectUris: [`${site}/`] },
      ],
    });
    step = Date.now();
    // BENCH_PROFILE_DIR=dir: a CPU profile of the server process, written when it stops.
    const profile = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_PROFILE_DIR)}`] : [];
    server = spawn(process.execPath, [...profile, path.resolve('bin/kvalreg.js'), 'serve', '--port', String(port)], {
      env: {
        ...process.env,
        ...keysEnv,
        DATABASE_URL: dbUrl,
        KVALREG_DATA_DIR: dir,
        LOG_LEVEL: 'warn',
        KVALREG_OIDC_ISSUER: idp.issuer,
        KVALREG_OIDC_CLIENT_ID: 'kvalreg-bench',
        KVALREG_OIDC_CLIENT_SECRET: clientSecret,
        KVALREG_OIDC_REDIRECT_URL: `${site}/auth/callback`,
        KVALREG_OIDC_ALLOW_HTTP: '1',
        // All 50 clients come from one address here, where they would be 50 visitors from as many
        // addresses: the per-address and per-caller limits are raised out of the way (the limiter
        // itself still runs on every request).
        KVALREG_RATE_LIMIT: '0',
        KVALREG_ANONYMOUS_RATE_LIMIT: '0',
        KVALREG_PUBLIC_RATE_LIMIT: '0',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const exited = new Promise<never>((_, reject) =>
      server!.once('exit', (code) => reject(new Error(`the server exited (${code}) before it answered`))),
    );
    await Promise.race([
      exited,
      (async () => {
        for (;;) {
          try {
            if ((await fetch(`${site}/health`)).ok) return;
          } catch {
            /* starting */
          }
          await new Promise((r) => setTimeout(r, 200));
        }
      })(),
    ]);
    exited.catch(() => undefined);
    console.log(`server up at ${site} in ${seconds(step).toFixed(1)} s (web app built if it was stale)`);
    const cookie = await loginOverHttp(site, 'registrar', 'bench');

    // 3. Load: the requests the pages make.
    const year = String(new Date().getFullYear() - 1);
    const warm = async (p: string, headers: Record<string, string> = {}) => {
      const res = await fetch(site + p, { headers });
      if (!res.ok) throw new Error(`GET ${p} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
      return res;
    };
    const me = (await (await warm('/api/me', { cookie })).json()) as { active?: { unit: string } };
    if (me.active?.unit !== own.unit_resh) throw new Error(`logged in, but the active grant is ${JSON.stringify(me.active)}`);
    const targets: Target[] = [
      {
        key: 'overview',
        name: 'indicator overview API',
        what: `GET /api/registries/${registry.id}/indicator-results?grain=year&period=${year}&unit=<nation>,<region>,<own unit> (logged-in registrar, session cookie)`,
        paths: [`/api/registries/${registry.id}/indicator-results?grain=year&period=${year}&unit=${nation},${region},${own.unit_resh}`],
        headers: { cookie },
      },
      {
        key: 'years',
        name: 'indicator years API',
        what: `GET /api/registries/${registry.id}/indicator-results?grain=year&unit=<nation> (the same page's year list; session cookie)`,
        paths: [`/api/registries/${registry.id}/indicator-results?grain=year&unit=${nation}`],
        headers: { cookie },
      },
      // What the workbench's pages call besides (figures with and without them in docs/performance.md):
      {
        key: 'data-years',
        name: 'years-with-data API',
        what: `GET /api/registries/${registry.id}/years (every page's year choice; session cookie)`,
        paths: [`/api/registries/${registry.id}/years`],
        headers: { cookie },
      },
      {
        key: 'worklist',
        name: 'worklist with case headers',
        what: `GET /api/registries/${registry.id}/worklist/rows?unit=<own unit>&limit=25 (25 rows, each with who and what; session cookie)`,
        paths: [`/api/registries/${registry.id}/worklist/rows?unit=${own.unit_resh}&limit=25`],
        headers: { cookie },
      },
      // The worklist as it was read before the case header (the same 25 cases, without who and what).
      {
        key: 'worklist-plain',
        name: 'worklist without headers',
        what: `GET /api/registries/${registry.id}/worklist?unit=<own unit>&limit=25 (the list without the header; session cookie)`,
        paths: [`/api/registries/${registry.id}/worklist?unit=${own.unit_resh}&limit=25`],
        headers: { cookie },
      },
      {
        key: 'picker',
        name: 'AO picker tree',
        what: `GET /api/registries/${registry.id}/codelists/ao_ota_2018/tree (no login)`,
        paths: [`/api/registries/${registry.id}/codelists/ao_ota_2018/tree`],
        headers: {},
      },
      {
        key: 'profile-api',
        name: 'hospital profile API',
        what: `GET /api/public/hospitals/<resh>?year=${year}&years=3&lang=nb, each of the ${hospitals.length} hospitals in turn (no login)`,
        paths: hospitals.map((h) => `/api/public/hospitals/${h}?year=${year}&years=3&lang=nb`),
        headers: {},
      },
      {
        key: 'profile-page',
        name: 'hospital profile page',
        what: `GET /hospitals?hospital=<resh> (the HTML page; no login)`,
        paths: hospitals.map((h) => `/hospitals?hospital=${h}`),
        headers: {},
      },
    ];
    // One request each first: the first read of a registry's results may wait for a computation.
    for (const t of targets) await warm(t.paths[0], t.headers);
    const indicatorRows = ((await (await warm(targets[0].paths[0], { cookie })).json()) as { results: unknown[] }).results.length;
    const profileRows = ((await (await warm(targets.find((x) => x.key === 'profile-api')!.paths[0])).json()) as { indicators: unknown[] })
      .indicators.length;
    console.log(
      `overview answers ${indicatorRows} results (nation, region ${region}, own unit ${own.unit_resh} with ${fmt(own.n)} cases); a hospital profile ${profileRows} indicators\n`,
    );

    const measured: Measured[] = [];
    for (const t of targets.filter((x) => !args.only || args.only.split(',').includes(x.key))) {
      console.log(`${t.name}: ${t.what}`);
      const m = await load(site, t, server.pid!);
      measured.push(m);
      console.log(
        `  ${fmt(m.requests)} requests, ${m.perSecond.toFixed(0)}/s, ${m.mbPerSecond.toFixed(2)} MB/s; latency p50 ${m.p50.toFixed(0)} ms, p95 ${m.p95.toFixed(0)} ms, p99 ${m.p99.toFixed(0)} ms, max ${m.max.toFixed(0)} ms; ` +
          `status ${m.statuses}; CPU per request: server ${m.serverCpuMs.toFixed(2)} ms, PostgreSQL ${m.pgCpuMs.toFixed(2)} ms`,
      );
    }

    console.log(
      `\nSummary (${fmt(analyticsRows)} cases in ${table}, ${fmt(caseRows)} in registry_case, ${fmt(resultRows)} indicator result rows; ${CONNECTIONS} connections, ${DURATION} s each; ` +
        `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB):`,
    );
    console.log('| target | requests | req/s | p50 ms | p95 ms | p99 ms | non-2xx | p95 < 200 ms |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const m of measured) {
      console.log(
        `| ${m.target.name} | ${fmt(m.requests)} | ${m.perSecond.toFixed(0)} | ${m.p50.toFixed(0)} | ${m.p95.toFixed(0)} | ${m.p99.toFixed(0)} | ${m.non2xx} | ${m.p95 < TARGET_P95_MS ? 'yes' : '**no**'} |`,
      );
    }
    console.log('\nSeeding:');
    for (const [what, s] of timings) console.log(`  ${what}: ${s.toFixed(1)} s`);
    console.log(`total run time ${(seconds(started) / 60).toFixed(1)} min`);
    const failed = measured.filter((m) => m.non2xx > 0 || m.errors > 0);
    if (failed.length) {
      throw new Error(
        `requests failed: ${failed.map((m) => `${m.target.name}: ${m.non2xx} non-2xx (${m.statuses}), ${m.errors} errors/timeouts`).join('; ')}`,
      );
    }
    const missed = measured.filter((m) => !(m.p95 < TARGET_P95_MS));
    console.log(
      missed.length
        ? `TARGET MISSED: p95 ≥ ${TARGET_P95_MS} ms for ${missed.map((m) => m.target.name).join(', ')}`
        : `target met: p95 < ${TARGET_P95_MS} ms for every target`,
    );
  } finally {
    if (server && server.exitCode === null) {
      const gone = new Promise((r) => server!.once('exit', r));
      server.kill('SIGTERM');
      await gone;
    }
    await idp?.close();
    await pgServer?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
