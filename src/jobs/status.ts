// Whether the background jobs are alive and keeping up, as every process can tell from the
// database (the leader writes job_leader and job_state; jobs/leader.ts).
import type { Queryable } from '../db/pool.ts';

export interface JobStatus {
  job: string;
  intervalMs: number;
  /** Seconds since the last successful run (or since the leader took over, before its first). */
  lagSeconds: number;
  /** The lag above which the job counts as behind. */
  limitSeconds: number;
  lagging: boolean;
  runs: number;
  failures: number;
  lastError: string | null;
}

export interface JobsStatus {
  leader: { holder: string; heartbeatAgeSeconds: number } | null;
  /** False when no process has led within `leaderStaleMs`. */
  leaderAlive: boolean;
  jobs: JobStatus[];
}

/**
 * A job is behind when it has not succeeded for ten of its intervals, and at least two minutes
 * (a run that takes long, a restart, a brief outage of the mail server are not alarms).
 * KVALREG_JOB_LAG_LIMIT_MS raises or lowers the floor.
 */
export function lagLimitMs(intervalMs: number, floorMs = 120_000): number {
  return Math.max(intervalMs * 10, floorMs);
}

export async function jobsStatus(db: Queryable, opts: { leaderStaleMs?: number; lagFloorMs?: number } = {}): Promise<JobsStatus> {
  const leaderStaleMs = opts.leaderStaleMs ?? 30_000;
  const {
    rows: [l],
  } = await db.query(
    `SELECT holder, since, extract(epoch FROM now() - heartbeat_at)::float8 AS age, extract(epoch FROM now() - since)::float8 AS led FROM job_leader`,
  );
  const leader = l ? { holder: l.holder as string, heartbeatAgeSeconds: Number(l.age) } : null;
  const leaderAlive = !!leader && leader.heartbeatAgeSeconds * 1000 <= leaderStaleMs;
  // The jobs the current leader registered; their lag counts from their last success, or from the
  // moment this leader took over when it has not run them yet.
  const { rows } = l
    ? await db.query(
        `SELECT job, interval_ms, runs, failures, last_error,
            extract(epoch FROM now() - greatest(last_ok_at, $2::timestamptz))::float8 AS lag
     FROM job_state WHERE holder = $1 ORDER BY job`,
        [l.holder, l.since],
      )
    : { rows: [] };
  const jobs = rows.map((r): JobStatus => {
    const limitSeconds = lagLimitMs(r.interval_ms, opts.lagFloorMs) / 1000;
    const lagSeconds = Math.max(0, Number(r.lag));
    return {
      job: r.job,
      intervalMs: r.interval_ms,
      lagSeconds,
      limitSeconds,
      lagging: lagSeconds > limitSeconds,
      runs: Number(r.runs),
      failures: Number(r.failures),
      lastError: r.last_error,
    };
  });
  return { leader, leaderAlive, jobs };
}
