// Prometheus metrics (prom-client) and request ids.
//
// Per process: HTTP latency by route, capture messages by outcome, the process's own figures
// (memory, event loop, CPU), and whether it leads the background jobs. From the database, read at
// each scrape over one short-lived connection (so they are the same whichever process answers):
// the quarantine, the capture inbox, analytics lag, indicator freshness, job queues, audit sealing
// lag, background job lag.
//
// Served on a port of its own (KVALREG_METRICS_PORT, default 9464), not through the public one:
// Prometheus scrapes every process directly (through a load-balancing proxy it would see a random
// one), and the figures are the operator's, not the internet's.
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import pg from 'pg';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { requestContext } from '../log/context.ts';
import { jobsStatus } from '../jobs/status.ts';
import { inboxCounts } from '../capture/inbox-stats.ts';

/** A caller's request id is kept when it is a plain token (a proxy's or load balancer's); otherwise one is made. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
export const REQUEST_ID_HEADER = 'x-request-id';

export function requestId(req: { headers: Record<string, string | string[] | undefined> }): string {
  const given = req.headers[REQUEST_ID_HEADER];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : crypto.randomUUID();
}

export interface Metrics {
  registry: Registry;
  /** One captured message's outcome (processed, quarantined, refused). */
  captured(outcome: string): void;
  /** Whether this process leads the background jobs (set by `kvalreg serve`). */
  leading(probe: () => boolean): void;
  /** The exposition text, database figures read now. */
  scrape(): Promise<string>;
}

export function createMetrics(databaseUrl: string): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'kvalreg_process_' });
  const http = new Histogram({
    name: 'kvalreg_http_request_duration_seconds',
    help: 'HTTP request latency by route (the route pattern, never the URL) and status',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const capture = new Counter({
    name: 'kvalreg_capture_messages_total',
    help: 'FHIR messages received for capture by this process, by outcome',
    labelNames: ['outcome'],
    registers: [registry],
  });
  for (const o of ['processed', 'quarantined', 'refused']) capture.inc({ outcome: o }, 0);
  let leaderProbe: () => boolean = () => false;
  new Gauge({
    name: 'kvalreg_jobs_leader',
    help: '1 when this process leads the background jobs',
    registers: [registry],
    collect() {
      this.set(leaderProbe() ? 1 : 0);
    },
  });

  const g = (name: string, help: string, labelNames: string[] = []) => new Gauge({ name, help, labelNames, registers: [registry] });
  const up = g('kvalreg_database_up', '1 when the database answered the scrape');
  const quarantine = g('kvalreg_quarantine_messages', 'Messages in quarantine, waiting for a registry to resolve them');
  const queue = g(
    'kvalreg_job_queue_depth',
    'Work waiting: received messages not yet processed, changed cases not yet in analytics, reports queued, audit events not yet sealed',
    ['queue'],
  );
  const analyticsLag = g('kvalreg_analytics_lag_seconds', 'Age of the oldest change not yet in the analytics tables (0 when none waits)', [
    'registry',
  ]);
  const indicatorAge = g('kvalreg_indicator_age_seconds', 'Time since indicator results were last computed', ['registry']);
  const indicatorBehind = g('kvalreg_indicator_versions_behind', 'Analytics versions since the newest indicator results (0 = fresh)', [
    'registry',
  ]);
  const sealLag = g('kvalreg_audit_sealing_lag_seconds', 'Age of the oldest audit event not yet sealed (0 when none waits)');
  const jobLag = g('kvalreg_job_lag_seconds', 'Time since a background job last succeeded', ['job']);
  const jobFailures = g('kvalreg_job_failures', 'Failed runs of a background job, all processes', ['job']);
  const leaderAlive = g('kvalreg_jobs_leader_alive', '1 when some process leads the background jobs and its heartbeat is recent');

  async function readDatabase(): Promise<void> {
    const client = new pg.Client({
      connectionString: databaseUrl,
      connectionTimeoutMillis: 2000,
      query_timeout: 5000,
      application_name: 'kvalreg-metrics',
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      const one = async (sql: string) => (await client.query(sql)).rows;
      const inbox = await inboxCounts(client);
      quarantine.set(inbox.quarantined);
      queue.set({ queue: 'capture-inbox' }, inbox.received);
      const [reports] = await one(`SELECT count(*) AS n FROM report_job WHERE status = 'queued'`);
      queue.set({ queue: 'report-dispatch' }, Number(reports.n));
      const [audit] = await one(
        `SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(at)), 0)::float8 AS age FROM audit_event WHERE seq IS NULL`,
      );
      queue.set({ queue: 'audit-seal' }, Number(audit.n));
      sealLag.set(Math.max(0, Number(audit.age)));
      const registries = await one(`SELECT s.registry, s.version,
          (SELECT count(*) FROM analytics_change c WHERE c.registry = s.registry) AS pending,
          (SELECT coalesce(extract(epoch FROM now() - min(c.marked_at)), 0)::float8 FROM analytics_change c WHERE c.registry = s.registry) AS lag,
          (SELECT extract(epoch FROM now() - max(r.computed_at))::float8 FROM indicator_run r WHERE r.registry = s.registry) AS indicator_age,
          (SELECT max(r.version) FROM indicator_run r WHERE r.registry = s.registry) AS indicator_version
        FROM analytics_state s`);
      let pending = 0;
      for (const r of registries) {
        pending += Number(r.pending);
        analyticsLag.set({ registry: r.registry }, Math.max(0, Number(r.lag)));
        if (r.indicator_age !== null) indicatorAge.set({ registry: r.registry }, Math.max(0, Number(r.indicator_age)));
        if (r.indicator_version !== null)
          indicatorBehind.set({ registry: r.registry }, Math.max(0, Number(r.version) - Number(r.indicator_version)));
      }
      queue.set({ queue: 'analytics-refresh' }, pending);
      const jobs = await jobsStatus(client);
      leaderAlive.set(jobs.leaderAlive ? 1 : 0);
      for (const j of jobs.jobs) {
        jobLag.set({ job: j.job }, j.lagSeconds);
        jobFailures.set({ job: j.job }, j.failures);
      }
      up.set(1);
    } catch {
      up.set(0);
    } finally {
      client.end().catch(() => undefined);
    }
  }

  const metrics: Metrics & { http: Histogram } = {
    registry,
    http,
    captured: (outcome) => capture.inc({ outcome }),
    leading: (probe) => {
      leaderProbe = probe;
    },
    scrape: async () => {
      await readDatabase();
      return registry.metrics();
    },
  };
  return metrics;
}

/**
 * Request ids and metrics on an app: the id of each request (the caller's X-Request-Id when it is
 * a plain token, else a new one) in the response header and on every log line written while it is
 * handled; each request's latency by route.
 */
export function observe(app: FastifyInstance, metrics: Metrics): void {
  const latency = (metrics as Metrics & { http: Histogram }).http;
  app.addHook('onRequest', (req: FastifyRequest, reply: FastifyReply, done: () => void) => {
    reply.header(REQUEST_ID_HEADER, req.id);
    // Everything after this hook (the other hooks, the handler, the modules it calls) runs in the context.
    requestContext.run({ reqId: req.id }, done);
  });
  app.addHook('onResponse', async (req, reply) => {
    latency.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });
}

/** Serves GET /metrics on its own port; resolves with the server once listening. */
export async function serveMetrics(metrics: Metrics, host: string, port: number): Promise<http.Server & { url: string }> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Only GET /metrics is served here.\n');
      return;
    }
    metrics.scrape().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('The metrics could not be collected.\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return Object.assign(server, { url: `http://${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}/metrics` });
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics;
  }
}
