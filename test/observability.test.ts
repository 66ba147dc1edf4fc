// What an operator watches: Prometheus /metrics (scraped over HTTP from the metrics port after
// captures: the capture counter by outcome, the quarantine, latency by route, queues and lags),
// readiness that knows about migrations and background jobs, a request id on every response and
// every log line written for a request, and secrets kept out of the log. (/health/ready with the
// database stopped: shutdown-health.test.ts, against a real process.)
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { platformJobs } from '../src/jobs/platform-jobs.ts';
import type { BackgroundJobs } from '../src/jobs/leader.ts';
import { requestContext } from '../src/log/context.ts';
import { createLogger } from '../src/log/redact.ts';
import { buildServer } from '../src/server/app.ts';
import { serveMetrics } from '../src/server/metrics.ts';
import { fracture } from './helpers/fixtures.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
let metricsServer: Awaited<ReturnType<typeof serveMetrics>>;
beforeAll(async () => {
  t = await testPlatform();
  metricsServer = await serveMetrics(t.app.metrics, '127.0.0.1', 0);
}, 120_000);
afterAll(async () => {
  metricsServer?.close();
  await t?.close();
});

const capture = (bundle: object) =>
  t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(bundle),
  });
const scrape = async () => {
  const res = await fetch(metricsServer.url);
  expect(res.status).toBe(200);
  return res.text();
};
/** One sample's value, e.g. value(text, 'kvalreg_capture_messages_total{outcome="processed"}'). */
const value = (text: string, sample: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
};

describe('/metrics', () => {
  it('counts captured messages by outcome, and shows the quarantine growing', async () => {
    const before = await scrape();
    expect(value(before, 'kvalreg_capture_messages_total{outcome="processed"}')).toBe(0);
    expect(value(before, 'kvalreg_database_up')).toBe(1);
    const quarantinedBefore = value(before, 'kvalreg_quarantine_messages')!;

    expect((await capture(ehrBundle(fracture()))).statusCode).toBe(200);
    expect((await capture(ehrBundle(fracture()))).statusCode).toBe(200);
    // An unknown treating unit: kept in quarantine (422) until the registry resolves it.
    expect((await capture(ehrBundle(fracture({ unitResh: '999999999' })))).statusCode).toBe(422);

    const after = await scrape();
    expect(value(after, 'kvalreg_capture_messages_total{outcome="processed"}')).toBe(2);
    expect(value(after, 'kvalreg_capture_messages_total{outcome="quarantined"}')).toBe(1);
    expect(value(after, 'kvalreg_quarantine_messages')).toBe(quarantinedBefore + 1);
    // Latency by the route's pattern, never by the URL.
    expect(value(after, 'kvalreg_http_request_duration_seconds_count{method="POST",route="/fhir",status_code="200"}')).toBe(2);
    // The rest of what the issue asks for is there, by name.
    for (const name of [
      'kvalreg_job_queue_depth{queue="analytics-refresh"}',
      'kvalreg_job_queue_depth{queue="report-dispatch"}',
      'kvalreg_job_queue_depth{queue="audit-seal"}',
      'kvalreg_audit_sealing_lag_seconds',
      'kvalreg_analytics_lag_seconds{registry="fracture"}',
      'kvalreg_jobs_leader',
    ]) {
      expect(value(after, name), name).toBeGreaterThanOrEqual(0);
    }
    // Captures leave changes for the analytics refresh and audit events to seal: both waiting, and aging.
    expect(value(after, 'kvalreg_job_queue_depth{queue="analytics-refresh"}')).toBeGreaterThan(0);
    expect(value(after, 'kvalreg_job_queue_depth{queue="audit-seal"}')).toBeGreaterThan(0);
  });

  it('shows indicator freshness once indicators are computed, and lag falling to 0 when the jobs have run', async () => {
    const jobs = platformJobs(t.platform, { pollMs: 60_000 });
    await jobs.runAllOnce();
    const text = await scrape();
    expect(value(text, 'kvalreg_job_queue_depth{queue="analytics-refresh"}')).toBe(0);
    expect(value(text, 'kvalreg_job_queue_depth{queue="audit-seal"}')).toBe(0);
    expect(value(text, 'kvalreg_analytics_lag_seconds{registry="fracture"}')).toBe(0);
    expect(value(text, 'kvalreg_audit_sealing_lag_seconds')).toBe(0);
    expect(value(text, 'kvalreg_indicator_age_seconds{registry="fracture"}')).toBeGreaterThanOrEqual(0);
    expect(value(text, 'kvalreg_indicator_versions_behind{registry="fracture"}')).toBe(0);
  });

  it('is not on the public port (there /metrics is only a page path of the web app)', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.body).not.toContain('kvalreg_');
    expect(String(res.headers['content-type'])).not.toContain('version=0.0.4');
  });
});

describe('/health/ready', () => {
  let jobs: BackgroundJobs | undefined;
  afterAll(async () => {
    await jobs?.stop();
  });
  const ready = async () => {
    const r = await t.app.inject({ method: 'GET', url: '/health/ready' });
    return { status: r.statusCode, body: r.json() };
  };

  it('is not ready while no process leads the background jobs, and ready once one does', async () => {
    await t.platform.db.pool.query('DELETE FROM job_leader');
    expect(await ready()).toEqual({
      status: 503,
      body: { status: 'unavailable', database: 'ok', migrations: 'current', jobs: 'no leader' },
    });
    jobs = platformJobs(t.platform, { pollMs: 200 });
    jobs.start();
    await expect.poll(async () => (await ready()).status, { timeout: 30_000 }).toBe(200);
    expect((await ready()).body).toEqual({ status: 'ready', database: 'ok', migrations: 'current', jobs: 'ok' });
  });

  it('is not ready when a job has not succeeded for too long', async () => {
    await jobs!.stop();
    // As if the leader had led for an hour and report dispatch had not got through since.
    await t.platform.db.pool.query(`UPDATE job_leader SET since = now() - interval '1 hour', heartbeat_at = now()`);
    await t.platform.db.pool.query(`UPDATE job_state SET last_ok_at = now() - interval '1 hour' WHERE job = 'report-dispatch'`);
    const r = await ready();
    expect(r.status).toBe(503);
    expect(r.body.jobs.lagging['report-dispatch']).toMatch(/^no successful run for 36\d\d s \(limit 600 s\)$/);
    expect(Object.keys(r.body.jobs.lagging)).toEqual(['report-dispatch']);
  });

  it('is not ready when a migration is pending (the database is older than the code)', async () => {
    await t.platform.db.pool.query(`UPDATE job_state SET last_ok_at = now()`);
    const {
      rows: [m],
    } = await t.platform.db.pool.query(
      'DELETE FROM schema_migration WHERE version = (SELECT max(version) FROM schema_migration) RETURNING version, name',
    );
    try {
      const r = await ready();
      expect(r.status).toBe(503);
      expect(r.body.migrations).toEqual({ pending: [m.name] });
    } finally {
      await t.platform.db.pool.query('INSERT INTO schema_migration (version, name) VALUES ($1, $2)', [m.version, m.name]);
    }
    expect((await ready()).body.migrations).toBe('current');
  });
});

describe('request ids and the log', () => {
  /** A platform whose log is the production logger, written to `lines`. */
  async function loggedApp(lines: string[]) {
    const dest = new Writable({
      write(chunk, _enc, cb) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        cb();
      },
    });
    const log = createLogger('debug', { write: (s: string) => dest.write(s) } as never);
    return buildServer({ ...t.platform, log });
  }

  it("answers with a request id: the caller's when it is a plain token, else a new one", async () => {
    const given = await t.app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'lb-7f3a.42' } });
    expect(given.headers['x-request-id']).toBe('lb-7f3a.42');
    const bad = await t.app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'a b\u0000<script>' } });
    expect(bad.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const none = await t.app.inject({ method: 'GET', url: '/fhir/metadata' });
    expect(none.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(none.headers['x-request-id']).not.toBe(bad.headers['x-request-id']);
  });

  it('names the request on every log line written while handling it, also by modules that never see it', async () => {
    const lines: string[] = [];
    const app = await loggedApp(lines);
    try {
      const res = await app.inject({
        method: 'POST',
        url: '/api/registries/fracture/subscriptions',
        headers: { authorization: `Bearer ${t.tokens.registrarSus}`, 'content-type': 'application/json', 'x-request-id': 'req-observe-1' },
        payload: '{not json',
      });
      expect(res.statusCode).toBe(400);
      expect(res.headers['x-request-id']).toBe('req-observe-1');
    } finally {
      await app.close();
    }
    const mine = lines.map((l) => JSON.parse(l)).filter((l) => l.reqId === 'req-observe-1');
    expect(mine.length).toBeGreaterThan(0);
    expect(lines.filter((l) => l.includes('req-observe-1')).map((l) => JSON.parse(l).reqId)).toEqual(mine.map(() => 'req-observe-1'));
    // A module's logger (not the request's) within the request's context gets the id too, once.
    const out: string[] = [];
    const log = createLogger('info', {
      write: (s: string) => {
        out.push(s);
      },
    } as never);
    requestContext.run({ reqId: 'req-ctx-2' }, () => log.child({ module: 'capture' }).info('inside'));
    log.info('outside');
    expect(JSON.parse(out[0])).toMatchObject({ module: 'capture', reqId: 'req-ctx-2', msg: 'inside' });
    expect(out[0].match(/reqId/g)).toHaveLength(1);
    expect(JSON.parse(out[1]).reqId).toBeUndefined();
  });

  it('keeps secrets out of the log: fields, bearer tokens, passwords in URLs and in text', async () => {
    const out: string[] = [];
    const log = createLogger('info', {
      write: (s: string) => {
        out.push(s);
      },
    } as never);
    const token = 'kvr_Zm9vYmFyYmF6cXV1eGNvcmdlZ3JhdWx0';
    log.info(
      {
        password: 'hunter2-pw',
        config: { clientSecret: 's3cr3t-client', token },
        req: { headers: { authorization: `Bearer ${token}`, cookie: 'kvalreg_session=abc123def' } },
      },
      'starting',
    );
    log.warn(`cannot connect to postgres://kvalreg:Sup3rS3cret@db.example:5432/kvalreg with Authorization: Bearer ${token}`);
    log.error({ err: new Error('SMTP login failed for smtp://mailer:MailPw99@smtp.example (password=MailPw99)') }, 'sending failed');
    const all = out.join('');
    for (const secret of ['hunter2-pw', 's3cr3t-client', token, 'abc123def', 'Sup3rS3cret', 'MailPw99']) expect(all).not.toContain(secret);
    expect(all).toContain('postgres://kvalreg:[redacted]@db.example:5432/kvalreg');
    // Words are not secrets: "bearer tokens work" stays readable.
    out.length = 0;
    log.info('bearer tokens work');
    expect(JSON.parse(out[0]).msg).toBe('bearer tokens work');
  });
});
