// PROM at national scale: how long the scheduler takes to find the due invitations among
// 1,000,000 cases (target: under 5 s), and the latency of the patient's form API with 200 patients
// answering at once against a real server process (target: p95 under 200 ms).
//   npm run bench:prom -- [--cases 1000000] [--base 20000] [--years 3] [--day 2025-06-15] [--days 5]
//                         [--patients 200] [--duration 30] [--think 1000] [--stress 15]
//                         [--workers N] [--explain MS] [--scheduler-only] [--profile DIR]
//                         [--keep DIR (seed once, reuse after)] [--statements N (pg_stat_statements per step)]
//
// Seeding as bench:web: a base sample captured through the real pipeline, multiplied inside
// PostgreSQL (bench/seed-multiply.ts), and every analytics row recomputed by the platform's own
// refresh, since the scheduler reads the analytics table.
//
// The scheduler is run as the background job runs it (`PromScheduler.runDue`: items for every
// window open that day, cancellations, expiry, collect once into one invitation per patient), first
// on a busy day with nothing scheduled before (every window open that day is new: the backlog of
// a first start), then on the days after it (the daily run). Sending is not part of it (no channel
// is configured here; the sender is its own queue).
//
// The patients: each of `--patients` clients takes the next invitation of that busy day and does
// what the web form does: open it (GET), and for each instrument save half the answers (draft) and
// then send them all (submit), each request with the patient's own login (a bearer token bound to
// their identity), pausing between pages as a person reading and answering would (`--think`, on
// average 1 s: far quicker than a real patient, who spends minutes on a form). Latency of every
// request is kept; the first 3 s are warm-up. Then the same with no pause at all for `--stress`
// seconds: what the machine can take, not a load patients make.
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import pino from 'pino';
import { Agent, request } from 'undici';
import { createToken } from '../src/auth/tokens.ts';
import { analyticsTable } from '../src/analytics/columns.ts';
import { loadConfig } from '../src/config.ts';
import { ensureDatabase, withDatabase } from '../src/db/database.ts';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { startPlatform } from '../src/platform.ts';
import type { Instrument } from '../src/prom/instruments.ts';
import { makeAnswers } from '../demo/fracture/prom.ts';
import { mulberry32 } from '../demo/fracture/generate.ts';
import { captureSample } from './sample.ts';
import { multiplyCases } from './seed-multiply.ts';
import { keepFolder } from './keep.ts';
import { cpuByPid, cpuUsed, postgresPids } from './cpu.ts';
import { printStatements, resetStatements } from './statements.ts';

const lastYear = new Date().getFullYear() - 1;
const { values: args } = parseArgs({
  options: {
    cases: { type: 'string', default: '1000000' },
    base: { type: 'string', default: '20000' },
    years: { type: 'string', default: '3' },
    day: { type: 'string', default: `${lastYear}-06-15` },
    days: { type: 'string', default: '5' },
    patients: { type: 'string', default: '200' },
    duration: { type: 'string', default: '30' },
    think: { type: 'string', default: '1000' },
    stress: { type: 'string', default: '15' },
    // Log the plan (EXPLAIN ANALYZE, BUFFERS) of every statement slower than this many ms (auto_explain).
    explain: { type: 'string', default: '' },
    // Stop after the scheduler runs (no server, no patients).
    'scheduler-only': { type: 'boolean', default: false },
    // Write a V8 CPU profile of the server process to this folder (node --cpu-prof; read it with Chrome's DevTools or any .cpuprofile viewer).
    profile: { type: 'string', default: '' },
    // Serve as KVALREG_WORKERS does: HTTP in this many worker processes, background jobs in the primary.
    workers: { type: 'string', default: '1' },
    // Keep the seeded cluster in this folder and use it again on the next run with the same --keep
    // (the PROM tables are emptied first, so every run starts at the busy day): seeding 1,000,000
    // cases takes longer than the runs themselves.
    keep: { type: 'string', default: '' },
    // Print the N statements that took PostgreSQL the most time in each step (pg_stat_statements).
    statements: { type: 'string', default: '0' },
  },
});
const STATEMENTS = Number(args.statements);
const CASES = Number(args.cases),
  BASE = Number(args.base),
  YEARS = Number(args.years),
  DAYS = Number(args.days);
const PATIENTS = Number(args.patients),
  DURATION = Number(args.duration),
  THINK_MS = Number(args.think),
  STRESS = Number(args.stress);
const TARGET_SCHEDULER_S = 5,
  TARGET_P95_MS = 200,
  WARMUP_MS = 3000;
/** What a kept cluster was seeded with: reused only for the same seeding arguments. */
const SEEDING = { cases: CASES, base: BASE, years: YEARS };
const keep = keepFolder(args.keep ? path.resolve(args.keep) : null, SEEDING);
const KEEP = keep.dir;
Object.assign(process.env, keep.keys);
const PROM_TABLES =
  'prom_triage_event, prom_triage, prom_proxy, prom_delivery, prom_response, prom_item, prom_invitation, prom_contact, prom_objection';

const seconds = (since: number) => (Date.now() - since) / 1000;
/** The child processes of a process (from /proc). */
function childrenOf(parent: number): number[] {
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1] === String(parent);
      } catch {
        return false;
      }
    });
}
/** The processes of the embedded PostgreSQL in `dataDir` (its postmaster and the postmaster's children); none for an outside server. */
function ownPostgresPids(dataDir: string | null): number[] {
  if (!dataDir) return [];
  let postmaster: string;
  try {
    postmaster = fs.readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0];
  } catch {
    return [];
  }
  const parentOf = (pid: number) => {
    try {
      return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1];
    } catch {
      return null; // gone
    }
  };
  return [Number(postmaster), ...postgresPids().filter((pid) => parentOf(pid) === postmaster)];
}
const fmt = (n: number) => n.toLocaleString('en');
const quantile = (sorted: number[], q: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] : NaN;
const nextDay = (d: string, n: number) => new Date(Date.parse(`${d}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);

async function main() {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(args.day!)) throw new Error('--day must be a date like 2025-06-15');
  const started = Date.now();
  const dir = KEEP ?? fs.mkdtempSync(path.join(os.tmpdir(), 'kvalreg-bench-prom-'));
  const kept = keep.kept;
  console.log(
    `kvalreg PROM benchmark: ${fmt(CASES)} cases (${fmt(BASE)} fractures captured through the pipeline, the rest multiplied in PostgreSQL); ` +
      `scheduler on ${args.day} and ${DAYS} days after; ${PATIENTS} patients answering for ${DURATION} s; ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB memory, Node ${process.version}`,
  );
  const pgServer = process.env.DATABASE_URL
    ? null
    : await startEmbeddedPostgres({
        dataDir: dir,
        port: 55000 + Math.floor(Math.random() * 1000),
        settings: {
          max_connections: '300',
          shared_buffers: '2GB',
          work_mem: '64MB',
          maintenance_work_mem: '512MB',
          max_wal_size: '16GB',
          shared_preload_libraries: 'pg_stat_statements',
          ...(args.explain
            ? {
                session_preload_libraries: 'auto_explain',
                'auto_explain.log_min_duration': args.explain,
                'auto_explain.log_analyze': 'on',
                'auto_explain.log_buffers': 'on',
                'auto_explain.log_nested_statements': 'on',
                'auto_explain.log_triggers': 'on',
              }
            : {}),
        },
        // The plans auto_explain logs, printed as they come.
        log: args.explain ? (m) => console.log(`  pg: ${m}`) : undefined,
      });
  const adminUrl = process.env.DATABASE_URL ?? pgServer!.url('postgres');
  const name = kept ? kept.database : `kvalreg_bench_prom_${crypto.randomBytes(4).toString('hex')}`;
  await ensureDatabase(adminUrl, name);
  const dbUrl = withDatabase(adminUrl, name);
  let server: ChildProcess | undefined;
  try {
    // 1. Seed.
    const platform = await startPlatform(
      loadConfig({ ...process.env, DATABASE_URL: dbUrl, KVALREG_DATA_DIR: dir, LOG_LEVEL: 'warn', KVALREG_ALLOW_TEST_IDENTITIES: '1' }),
      { log: pino({ level: 'warn' }), poolSize: 8 },
    );
    const registry = platform.registry('fracture')!;
    const table = analyticsTable(registry);
    const timings: Array<[string, number]> = [];
    let step = Date.now();
    if (kept) {
      // A kept cluster: every PROM row of the last run goes, so this run meets the busy day again.
      await platform.db.pool.query(`TRUNCATE ${PROM_TABLES}`);
      await platform.db.pool.query(`VACUUM ANALYZE ${PROM_TABLES}`);
      console.log(`reusing the cluster seeded in ${dir} (${fmt(kept.rows)} rows); PROM tables emptied in ${seconds(step).toFixed(1)} s`);
    }
    if (!kept) {
      const captured = await captureSample(platform, { fractures: BASE, years: YEARS });
      timings.push([`capture of ${fmt(captured)} fractures through the pipeline`, seconds(step)]);
      step = Date.now();
      const multiplied = await multiplyCases(platform, registry, { target: CASES, yearsPerCopy: YEARS, log: (m) => console.log(`  ${m}`) });
      timings.push([`multiplied in PostgreSQL to ${fmt(multiplied.cases)} cases`, seconds(step)]);
      step = Date.now();
      const [refreshed] = await platform.analytics.refresh();
      timings.push([`analytics refresh (${fmt(refreshed.rows)} rows)`, seconds(step)]);
      await platform.db.pool.query(`ANALYZE ${table}`);
      const rows = Number((await platform.db.pool.query(`SELECT count(*) FROM ${table}`)).rows[0].count);
      // A sample refused by capture (e.g. synthetic identity numbers without the switch) seeds nothing: say so.
      if (rows < CASES / 2)
        throw new Error(
          `seeding gave ${fmt(rows)} analytics rows, not about ${fmt(CASES)}: captured ${fmt(captured)}, multiplied ${fmt(multiplied.cases)}`,
        );
      console.log(`seeded: ${fmt(rows)} rows in ${table} (${timings.map(([w, s]) => `${w}: ${s.toFixed(0)} s`).join('; ')})`);
      keep.save({ database: name, rows });
    }

    // 2. The scheduler: the busy day, then the days after it.
    const runs: Array<{
      day: string;
      s: number;
      cpu: number;
      items: number;
      invitations: number;
      invited: number;
      expired: number;
      open: number;
    }> = [];
    // CPU time of the run: this process and the server's own PostgreSQL processes (not other
    // clusters on the machine), so that the figure does not depend on the machine's other load.
    const ownCpu = () => {
      const pg = cpuByPid(ownPostgresPids(pgServer ? dir : null));
      const me = process.cpuUsage();
      return [...pg.values()].reduce((a, b) => a + b, 0) + (me.user + me.system) / 1e6;
    };
    for (let d = 0; d <= DAYS; d++) {
      const day = nextDay(args.day!, d);
      // Every window open that day is found by one statement per schedule over the analytics table.
      step = Date.now();
      const cpu0 = ownCpu();
      const counting = STATEMENTS > 0 && (await resetStatements(platform.db.pool));
      const run = await platform.prom.scheduler.runDue(new Date(`${day}T05:00:00Z`));
      const s = seconds(step);
      const cpu = ownCpu() - cpu0;
      const openItems = Number(
        (await platform.db.pool.query("SELECT count(*) FROM prom_item WHERE status IN ('pending', 'invited')")).rows[0].count,
      );
      runs.push({
        day,
        s,
        cpu,
        items: run.itemsCreated,
        invitations: run.invitationsCreated,
        invited: run.itemsInvited,
        expired: run.expired,
        open: openItems,
      });
      console.log(
        `scheduler ${day}${d === 0 ? ' (first run: every open window is new)' : ''}: ${s.toFixed(2)} s, CPU ${cpu.toFixed(2)} s (load average ${os.loadavg()[0].toFixed(1)}); ${fmt(run.itemsCreated)} items created, ${fmt(run.invitationsCreated)} invitations created, ` +
          `${fmt(run.itemsInvited)} items invited, ${fmt(run.expired)} expired; ${fmt(openItems)} items open after`,
      );
      if (counting) await printStatements(platform.db.pool, STATEMENTS, `scheduler ${day}`);
    }
    if (args['scheduler-only']) {
      await platform.close();
      return;
    }
    await platform.db.pool.query('ANALYZE prom_item, prom_invitation');
    // The items mark their cases for the analytics refresher (PROM status columns): done here, so the
    // server does not start with a backlog that its refresher would work through during the load.
    step = Date.now();
    const [marked] = await platform.analytics.refresh();
    console.log(`analytics refresh after the scheduler: ${fmt(marked.rows)} rows in ${seconds(step).toFixed(1)} s`);
    // The indicators as a running platform has them: the busy day's refresh moved more cases than
    // the incremental path takes in one batch, so they are stale, and the server's job would
    // recompute every indicator (half a minute of both cores at 1,000,000 cases) in the middle of
    // the patients' load. A live platform meets that once, at a first start; it is done here.
    step = Date.now();
    for (const r of platform.registries) await platform.indicators.ensureFresh(r, { force: true });
    console.log(`indicators computed in full before the server starts: ${seconds(step).toFixed(1)} s`);
    const cases = Number((await platform.db.pool.query(`SELECT count(*) FROM ${table}`)).rows[0].count);

    // 3. Patients: invitations of the busy day, each with its patient's own login.
    const need = Math.max(PATIENTS * 40, 4000);
    const invitations = (
      await platform.db.pool.query(
        `SELECT v.id, encode(p.nin_hash, 'hex') AS hash FROM prom_invitation v JOIN person p ON p.id = v.person_id
       WHERE v.status = 'ordered' ORDER BY v.id LIMIT $1`,
        [need],
      )
    ).rows;
    step = Date.now();
    const patients: Array<{ token: string; link: string }> = [];
    for (const inv of invitations) {
      const token = await createToken(platform.db.pool, {
        name: `bench-patient-${inv.id}`,
        kind: 'user',
        grants: [{ registry: '*', role: 'patient', unit: '1' }],
        personHash: Buffer.from(inv.hash, 'hex'),
      });
      patients.push({ token, link: platform.prom.links.token(Number(inv.id)) });
    }
    console.log(`${fmt(patients.length)} invitations with their patients' logins ready in ${seconds(step).toFixed(1)} s`);
    const instruments = platform.prom.instruments;
    await platform.close();

    // 4. The real server, as `kvalreg serve` runs it (the PROM job off, so it does not compete).
    const port = 40000 + Math.floor(Math.random() * 10000);
    const site = `http://127.0.0.1:${port}`;
    const profileArgs = args.profile ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(args.profile)] : [];
    server = spawn(process.execPath, [...profileArgs, path.resolve('bin/kvalreg.js'), 'serve', '--port', String(port)], {
      env: {
        ...process.env,
        ...keep.keys,
        DATABASE_URL: dbUrl,
        KVALREG_DATA_DIR: dir,
        LOG_LEVEL: 'warn',
        KVALREG_PROM_INTERVAL_MS: '0',
        KVALREG_WORKERS: args.workers,
        KVALREG_ALLOW_TEST_IDENTITIES: '1',
        // 200 patients from one address here would be 200 addresses in life: the limits are raised out of the way.
        KVALREG_RATE_LIMIT: '0',
        KVALREG_ANONYMOUS_RATE_LIMIT: '0',
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

    // 5. Load: PATIENTS clients, each answering one invitation after another.
    const dispatcher = new Agent({ connections: PATIENTS, pipelining: 1 });
    const random = mulberry32(7);
    let next = 0;
    const failures: string[] = [];
    const load = async (thinkMs: number, durationS: number) => {
      const lat: Record<string, number[]> = { view: [], save: [], submit: [] };
      const statuses = new Map<number, number>();
      let flows = 0,
        answered = 0,
        sent = 0;
      const loadStart = Date.now();
      const pause = () => (thinkMs > 0 ? new Promise((r) => setTimeout(r, thinkMs * (0.5 + random()))) : Promise.resolve());
      const call = async (kind: string, method: 'GET' | 'POST', url: string, token: string, body?: unknown) => {
        const t0 = performance.now();
        const res = await request(site + url, {
          method,
          dispatcher,
          headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
          body: body ? JSON.stringify(body) : undefined,
        });
        const text = await res.body.text();
        const ms = performance.now() - t0;
        sent++;
        if (Date.now() - loadStart >= WARMUP_MS) {
          lat[kind].push(ms);
          statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        }
        if (res.statusCode >= 300 && failures.length < 5)
          failures.push(`${method} ${url.replace(/form\/[^/]+/, 'form/…')}: ${res.statusCode} ${text.slice(0, 200)}`);
        return res.statusCode < 300 ? JSON.parse(text) : null;
      };
      const worker = async () => {
        // Patients arrive spread over the first pause, not all in the same millisecond.
        await pause();
        while (Date.now() - loadStart < durationS * 1000 && next < patients.length) {
          const p = patients[next++];
          const form = await call('view', 'GET', `/api/prom/form/${p.link}`, p.token);
          if (!form) continue;
          let status = '';
          for (const i of form.instruments as Array<{ id: string; recall: string }>) {
            const answers = makeAnswers(instruments.get(i.id) as Instrument, random() < 0.7 ? 'good' : 'bad', random);
            const half = Object.fromEntries(Object.entries(answers).slice(0, Math.ceil(Object.keys(answers).length / 2)));
            await pause();
            await call('save', 'POST', `/api/prom/form/${p.link}/${i.id}`, p.token, { answers: half, recall: i.recall });
            await pause();
            const sent = await call('submit', 'POST', `/api/prom/form/${p.link}/${i.id}/submit`, p.token, { answers, recall: i.recall });
            status = sent?.invitationStatus ?? status;
          }
          flows++;
          if (status === 'answered') answered++;
          await pause();
        }
      };
      // CPU of the server process and of PostgreSQL (every postgres process of the machine: the
      // figure is per request only when nothing else uses PostgreSQL meanwhile).
      const pg = postgresPids();
      // The server and its worker processes (KVALREG_WORKERS), if any.
      const serverPids = () => [server!.pid!, ...childrenOf(server!.pid!)];
      const cpu0 = { server: cpuByPid(serverPids()), pg: cpuByPid(pg) };
      await Promise.all(Array.from({ length: PATIENTS }, worker));
      const cpu1 = { server: cpuByPid(serverPids()), pg: cpuByPid(pg) };
      for (const k of Object.keys(lat)) lat[k].sort((a, b) => a - b);
      return {
        lat,
        all: Object.values(lat)
          .flat()
          .sort((a, b) => a - b),
        statuses,
        flows,
        answered,
        seconds: seconds(loadStart) - WARMUP_MS / 1000,
        // Over every request of the phase, warm-up included, as the CPU is read over the whole phase.
        cpuMs: {
          server: (cpuUsed(cpu0.server, cpu1.server) * 1000) / Math.max(1, sent),
          pg: (cpuUsed(cpu0.pg, cpu1.pg) * 1000) / Math.max(1, sent),
        },
      };
    };
    const phases = [
      {
        name: `${PATIENTS} patients filling in their forms (about ${THINK_MS / 1000} s between pages)`,
        think: THINK_MS,
        duration: DURATION,
        target: true,
      },
    ];
    if (STRESS > 0)
      phases.push({
        name: `${PATIENTS} clients with no pause at all (what the machine can take)`,
        think: 0,
        duration: STRESS,
        target: false,
      });
    const measured = [];
    const stats = new pg.Pool({ connectionString: dbUrl, max: 1 });
    for (const ph of phases) {
      const counting = STATEMENTS > 0 && (await resetStatements(stats));
      const r = await load(ph.think, ph.duration);
      if (counting) await printStatements(stats, STATEMENTS, ph.name);
      measured.push({ ...ph, ...r });
      console.log(`${ph.name}: ${fmt(r.all.length)} requests in ${r.seconds.toFixed(0)} s, p95 ${quantile(r.all, 0.95).toFixed(0)} ms`);
    }
    await dispatcher.close();
    await stats.end();

    const line = (name: string, xs: number[], s: number) =>
      `| ${name} | ${fmt(xs.length)} | ${(xs.length / s).toFixed(0)} | ${quantile(xs, 0.5).toFixed(0)} | ${quantile(xs, 0.95).toFixed(0)} | ${quantile(xs, 0.99).toFixed(0)} | ${(xs[xs.length - 1] ?? NaN).toFixed(0)} |`;
    const daily = runs.slice(1);
    console.log(
      `\nSummary (${fmt(cases)} cases in ${table}; ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB; load average now ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(', ')}):`,
    );
    console.log('\nScheduler runs:');
    console.log('| day | seconds | CPU seconds | items created | invitations created | items invited | expired | items open after |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const r of runs)
      console.log(
        `| ${r.day} | ${r.s.toFixed(2)} | ${r.cpu.toFixed(2)} | ${fmt(r.items)} | ${fmt(r.invitations)} | ${fmt(r.invited)} | ${fmt(r.expired)} | ${fmt(r.open)} |`,
      );
    const slowest = Math.max(...runs.map((r) => r.s));
    console.log(
      `daily run: median ${quantile(
        daily.map((r) => r.s).sort((a, b) => a - b),
        0.5,
      ).toFixed(
        2,
      )} s; slowest run ${slowest.toFixed(2)} s (target < ${TARGET_SCHEDULER_S} s: ${slowest < TARGET_SCHEDULER_S ? 'met' : '**missed**'})`,
    );
    for (const m of measured) {
      console.log(
        `\n${m.name}, ${m.seconds.toFixed(0)} s measured after ${WARMUP_MS / 1000} s warm-up: ${fmt(m.flows)} invitations opened, ${fmt(m.answered)} answered in full; status ${[
          ...m.statuses,
        ]
          .sort()
          .map(([st, c]) => `${st}×${c}`)
          .join(' ')}; ` + `CPU per request: server ${m.cpuMs.server.toFixed(1)} ms, PostgreSQL ${m.cpuMs.pg.toFixed(1)} ms`,
      );
      console.log('| request | requests | req/s | p50 ms | p95 ms | p99 ms | max ms |');
      console.log('|---|---|---|---|---|---|---|');
      console.log(line('open the form (GET)', m.lat.view, m.seconds));
      console.log(line('save a draft (POST)', m.lat.save, m.seconds));
      console.log(line('send an instrument (POST …/submit)', m.lat.submit, m.seconds));
      console.log(line('all', m.all, m.seconds));
      const p95 = quantile(m.all, 0.95);
      if (m.target)
        console.log(
          `p95 over all requests ${p95.toFixed(0)} ms (target < ${TARGET_P95_MS} ms: ${p95 < TARGET_P95_MS ? 'met' : '**missed**'})`,
        );
    }
    for (const f of failures) console.log(`  failed: ${f}`);
    console.log(`total run time ${(seconds(started) / 60).toFixed(1)} min`);
    const bad = measured.flatMap((m) => [...m.statuses].filter(([st]) => st >= 300));
    if (bad.length) throw new Error(`requests failed: ${bad.map(([st, c]) => `${st}×${c}`).join(' ')}`);
  } finally {
    if (server && server.exitCode === null) {
      const gone = new Promise((r) => server!.once('exit', r));
      server.kill('SIGTERM');
      await gone;
    }
    await pgServer?.stop();
    if (!KEEP) fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
