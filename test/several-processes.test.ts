// Two `kvalreg serve` processes on one database, as two replicas behind a proxy: both serve
// capture and the API; the background jobs (audit sealing, analytics refresh, indicator
// recomputation, report dispatch, PROM scheduling) run in one of them at a time — every recorded
// run is the leader's, no two runs of a job overlap, a due report is e-mailed once — and when the
// leader is killed outright, the other takes the jobs over within seconds and sends nothing twice.
// Before, each process ran every job on its own timer (the report worker and the sealer were only
// safe by their locks, and nothing showed which process did what).
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.ts';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { fracture } from './helpers/fixtures.ts';
import { startTestInbox, type TestInbox } from './helpers/mail.ts';
import { SUS_HOSPITAL, SUS_ORTHO } from './helpers/platform.ts';
import { deployment, type Deployment, type Replica } from './helpers/processes.ts';

const JOBS = ['analytics-refresh', 'audit-seal', 'indicator-recompute', 'prom-schedule', 'report-dispatch'];

let d: Deployment;
let mail: TestInbox;
let db: pg.Client;
let a: Replica;
let b: Replica;
let ehr: string;
let registrar: string;

beforeAll(async () => {
  mail = await startTestInbox();
  d = await deployment({
    KVALREG_SMTP_URL: mail.url,
    KVALREG_MAIL_FROM: 'rapport@kvalreg.test',
    // Short intervals, so that a test sees many runs: campaigns and heartbeats twice a second.
    KVALREG_LEADER_POLL_MS: '500',
    KVALREG_AUDIT_SEAL_INTERVAL_MS: '500',
    KVALREG_ANALYTICS_INTERVAL_MS: '500',
    KVALREG_INDICATOR_INTERVAL_MS: '2000',
    KVALREG_REPORT_INTERVAL_MS: '700',
    KVALREG_PROM_INTERVAL_MS: '1000',
  });
  db = new pg.Client({ connectionString: d.databaseUrl });
  await db.connect();
  ehr = await createToken(db, { name: 'SUS DIPS Arena', kind: 'system', sender: 'sus-dips' });
  registrar = await createToken(db, {
    name: 'registrar-sus',
    kind: 'user',
    grants: [{ registry: 'fracture', role: 'unit-registrar', unit: SUS_HOSPITAL }],
  });
  [a, b] = await Promise.all([d.start(), d.start()]);
}, 300_000);

afterAll(async () => {
  await db?.end();
  await d?.close();
  await mail?.close();
}, 60_000);

const holderOf = (r: Replica) => new RegExp(`:${r.child.pid}:`);
const send = (r: Replica, i: number) =>
  fetch(`${r.url}/fhir`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ehr}`, 'content-type': 'application/fhir+json' },
    body: JSON.stringify(
      ehrBundle(
        fracture({
          injuryDateTime: `2025-02-${String(i + 1).padStart(2, '0')}T10:00:00+01:00`,
          firstContact: `2025-02-${String(i + 1).padStart(2, '0')}T12:00:00+01:00`,
        }),
      ),
    ),
  });

async function runs(): Promise<
  Array<{ job: string; holder: string; started_at: Date; finished_at: Date; ok: boolean; error: string | null }>
> {
  return (await db.query('SELECT job, holder, started_at, finished_at, ok, error FROM job_run ORDER BY job, started_at')).rows;
}

/** Runs of one job that overlap in time (one started before the previous ended). */
function overlaps(rows: Awaited<ReturnType<typeof runs>>): string[] {
  const out: string[] = [];
  for (let i = 1; i < rows.length; i++) {
    if (rows[i].job === rows[i - 1].job && rows[i].started_at < rows[i - 1].finished_at)
      out.push(`${rows[i].job}: ${rows[i - 1].holder} and ${rows[i].holder}`);
  }
  return out;
}

describe('two processes on one database', () => {
  let leader: Replica;
  let follower: Replica;

  it('both serve capture and the API, and are ready', async () => {
    for (let i = 0; i < 10; i++) {
      const res = await send(i % 2 ? b : a, i);
      expect(res.status, await res.clone().text()).toBe(200);
    }
    for (const r of [a, b]) {
      expect((await fetch(`${r.url}/api/registries/fracture/worklist`, { headers: { authorization: `Bearer ${registrar}` } })).status).toBe(
        200,
      );
      await expect.poll(async () => (await fetch(`${r.url}/health/ready`)).status, { timeout: 30_000 }).toBe(200);
      expect(await (await fetch(`${r.url}/health/ready`)).json()).toEqual({
        status: 'ready',
        database: 'ok',
        migrations: 'current',
        jobs: 'ok',
      });
    }
  }, 120_000);

  it("one of them leads: every job runs, and every run is the leader's, none overlapping another", async () => {
    const {
      rows: [l],
    } = await db.query('SELECT holder FROM job_leader');
    leader = holderOf(a).test(l.holder) ? a : b;
    follower = leader === a ? b : a;
    expect(l.holder).toMatch(holderOf(leader));
    // Each job has run several times by now (intervals of 0.5–2 s).
    await expect.poll(async () => new Set((await runs()).map((r) => r.job)).size, { timeout: 30_000 }).toBe(JOBS.length);
    await new Promise((r) => setTimeout(r, 3000));
    const all = await runs();
    expect([...new Set(all.map((r) => r.job))].sort()).toEqual(JOBS);
    expect(
      all.filter((r) => !holderOf(leader).test(r.holder)),
      'runs by the follower',
    ).toEqual([]);
    expect(all.filter((r) => !r.ok).map((r) => `${r.job}: ${r.error}`)).toEqual([]);
    expect(overlaps(all)).toEqual([]);
    // The follower's /metrics says it does not lead, the leader's that it does.
    expect(await (await fetch(leader.metricsUrl)).text()).toMatch(/^kvalreg_jobs_leader 1$/m);
    expect(await (await fetch(follower.metricsUrl)).text()).toMatch(/^kvalreg_jobs_leader 0$/m);
  }, 60_000);

  it('seals every audit event once and refreshes analytics for captures sent to either process', async () => {
    await expect
      .poll(async () => Number((await db.query('SELECT count(*) AS n FROM audit_event WHERE seq IS NULL')).rows[0].n), { timeout: 30_000 })
      .toBe(0);
    const {
      rows: [s],
    } = await db.query('SELECT count(*) AS n, max(seq) AS max, count(DISTINCT seq) AS distinct FROM audit_event');
    expect(Number(s.max)).toBe(Number(s.n)); // 1 … n without gaps: nothing sealed twice or skipped
    expect(Number(s.distinct)).toBe(Number(s.n));
    await expect
      .poll(async () => Number((await db.query('SELECT count(*) AS n FROM analytics_change')).rows[0].n), { timeout: 30_000 })
      .toBe(0);
    expect(Number((await db.query('SELECT count(*) AS n FROM analytics.fracture')).rows[0].n)).toBe(10);
  }, 60_000);

  it('e-mails a due report once, though both processes could send it', async () => {
    const created = await fetch(`${a.url}/api/registries/fracture/subscriptions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${registrar}`, 'content-type': 'application/json' },
      body: JSON.stringify({ report: 'unit', unit: SUS_ORTHO, frequency: 'weekly', email: 'leder@sus.test' }),
    });
    expect(created.status, await created.clone().text()).toBe(201);
    const { id } = (await created.json()) as { id: number };
    await db.query('UPDATE report_subscription SET next_run_at = now() WHERE id = $1', [id]);
    await expect.poll(() => mail.mails.filter((m) => m.to.includes('leder@sus.test')).length, { timeout: 60_000 }).toBe(1);
    await new Promise((r) => setTimeout(r, 4000)); // several more dispatch runs
    expect(mail.mails.filter((m) => m.to.includes('leder@sus.test'))).toHaveLength(1);
    expect((await db.query('SELECT status FROM report_job WHERE subscription_id = $1', [id])).rows.map((r) => r.status)).toEqual(['sent']);
  }, 90_000);

  it('when the leader is killed, the other takes over within seconds, sends nothing twice, and the audit trail holds', async () => {
    const before = new Date();
    leader.child.kill('SIGKILL');
    await leader.exited;
    await expect
      .poll(async () => (await db.query('SELECT holder FROM job_leader')).rows[0].holder, { timeout: 20_000 })
      .toMatch(holderOf(follower));
    await expect
      .poll(async () => new Set((await runs()).filter((r) => r.started_at > before).map((r) => r.job)).size, { timeout: 30_000 })
      .toBe(JOBS.length);
    const after = (await runs()).filter((r) => r.started_at > before);
    expect(after.filter((r) => !holderOf(follower).test(r.holder))).toEqual([]);
    expect(overlaps(await runs())).toEqual([]);
    // The survivor serves and seals what it captures.
    expect((await send(follower, 20)).status).toBe(200);
    await expect
      .poll(async () => Number((await db.query('SELECT count(*) AS n FROM audit_event WHERE seq IS NULL')).rows[0].n), { timeout: 30_000 })
      .toBe(0);
    await expect.poll(async () => (await fetch(`${follower.url}/health/ready`)).status, { timeout: 30_000 }).toBe(200);
    expect(mail.mails.filter((m) => m.to.includes('leder@sus.test'))).toHaveLength(1);
    // The chain both processes sealed into is whole (the command-line verifier, on the shared keys and state).
    const verify = execFileSync(process.execPath, [path.resolve('bin/kvalreg.js'), 'audit', 'verify'], {
      env: { ...d.env, LOG_LEVEL: 'warn' },
      encoding: 'utf8',
    });
    expect(verify).toMatch(/^The audit trail is intact/m);
  }, 120_000);
});
