// The platform's background jobs, each run once across processes by the leader (jobs/leader.ts).
// Intervals come from the configuration; a job with interval 0 is off.
import type { Logger } from 'pino';
import { sealAudit } from '../audit/trail.ts';
import type { Platform } from '../platform.ts';
import { BackgroundJobs, type LeaderOptions } from './leader.ts';

export const JOB_NAMES = ['audit-seal', 'analytics-refresh', 'indicator-recompute', 'report-dispatch', 'prom-schedule'] as const;

export function platformJobs(platform: Platform, opts: LeaderOptions & { log?: Logger } = {}): BackgroundJobs {
  const log = opts.log ?? platform.log.child({ module: 'jobs' });
  const env = platform.config.env;
  const ms = (name: string, fallback: number) => {
    const v = Number(env[name]);
    return Number.isFinite(v) && env[name] !== '' && env[name] !== undefined ? v : fallback;
  };
  const jobs = new BackgroundJobs(platform.db, log, { pollMs: opts.pollMs ?? ms('KVALREG_LEADER_POLL_MS', 5000), holder: opts.holder });
  const all = [
    // Sealing: audit events are written unsealed by the work that caused them and chained here.
    {
      name: 'audit-seal',
      intervalMs: ms('KVALREG_AUDIT_SEAL_INTERVAL_MS', 5000),
      run: async () => {
        const n = await sealAudit(platform.db.pool, platform.auditKeys);
        if (n) log.debug({ sealed: n }, 'audit events sealed');
      },
    },
    // New data reaches the analytics tables within seconds.
    { name: 'analytics-refresh', intervalMs: platform.config.analyticsIntervalMs, run: () => platform.analytics.refresh() },
    // Indicator results kept warm, and recomputed when the day changes (follow-up windows).
    {
      name: 'indicator-recompute',
      intervalMs: ms('KVALREG_INDICATOR_INTERVAL_MS', 60_000),
      run: async () => {
        for (const r of platform.registries) await platform.indicators.ensureFresh(r);
      },
    },
    // Report subscriptions: due reports are queued and sent (claimed with SKIP LOCKED).
    { name: 'report-dispatch', intervalMs: platform.config.reportIntervalMs, run: () => platform.reports.dispatch.runDue() },
    // PROM: due invitations, cancellations, expiry, the channels, triage.
    { name: 'prom-schedule', intervalMs: platform.prom.settings.intervalMs, run: () => platform.prom.runDue() },
  ];
  for (const job of all) if (job.intervalMs > 0) jobs.add(job);
  return jobs;
}
