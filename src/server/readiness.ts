// Readiness: can this process do its work? The database answers, its schema is the one this code
// expects (no migration pending), and the background jobs have a living leader and keep up.
// One fresh connection with short limits, apart from the pool: a probe must neither wait behind
// a busy pool nor leave a hung query holding one of its connections.
import pg from 'pg';
import { listMigrations } from '../db/migrate.ts';
import { jobsStatus, type JobsStatus } from '../jobs/status.ts';

export interface Readiness {
  ok: boolean;
  body: {
    status: 'ready' | 'unavailable';
    database: 'ok' | 'unreachable';
    migrations?: 'current' | { pending: string[] };
    jobs?: 'ok' | 'no leader' | { lagging: Record<string, string> };
  };
  /** The database's error, for the log (never in the answer). */
  error?: unknown;
  /** The jobs as read, for /metrics. */
  jobs?: JobsStatus;
}

export async function checkReadiness(
  url: string,
  opts: { timeoutMs?: number; leaderStaleMs?: number; lagFloorMs?: number } = {},
): Promise<Readiness> {
  const timeoutMs = opts.timeoutMs ?? 2000;
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
    application_name: 'kvalreg-health',
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (error) {
    client.end().catch(() => undefined);
    return { ok: false, body: { status: 'unavailable', database: 'unreachable' }, error };
  }
  try {
    const applied = new Set((await client.query('SELECT version FROM schema_migration')).rows.map((r) => r.version as string));
    const pending = listMigrations()
      .filter((m) => !applied.has(m.version))
      .map((m) => m.name);
    const jobs = await jobsStatus(client, { leaderStaleMs: opts.leaderStaleMs, lagFloorMs: opts.lagFloorMs });
    const lagging = Object.fromEntries(
      jobs.jobs
        .filter((j) => j.lagging)
        .map((j) => [j.job, `no successful run for ${Math.round(j.lagSeconds)} s (limit ${j.limitSeconds} s)`]),
    );
    const jobsOk = jobs.leaderAlive && Object.keys(lagging).length === 0;
    const ok = pending.length === 0 && jobsOk;
    return {
      ok,
      jobs,
      body: {
        status: ok ? 'ready' : 'unavailable',
        database: 'ok',
        migrations: pending.length ? { pending } : 'current',
        jobs: !jobs.leaderAlive ? 'no leader' : Object.keys(lagging).length ? { lagging } : 'ok',
      },
    };
  } catch (error) {
    return { ok: false, body: { status: 'unavailable', database: 'unreachable' }, error };
  } finally {
    client.end().catch(() => undefined);
  }
}
