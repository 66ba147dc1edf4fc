// Background jobs that must run once across every platform process on one database (sealing the
// audit trail, dispatching reports, refreshing analytics, recomputing indicators, PROM scheduling).
//
// One process leads: the one holding a session-level advisory lock on a connection of its own.
// The others campaign every few seconds (pg_try_advisory_lock) and stay idle while the lock is
// held. When the leader dies or loses its connection, PostgreSQL releases the lock and the next
// campaign of another process takes over — no lease to expire, no clock to trust.
//
// The lock alone decides who starts a run; the jobs themselves stay safe when two runs meet (each
// takes its own transaction-level lock or claims rows with SKIP LOCKED), because a leader that
// lost its connection learns so only at its next heartbeat and may finish a run meanwhile.
//
// Every run is written down (job_state, job_run): /health/ready and /metrics of every process read
// there whether a leader is alive and whether each job keeps up.
import crypto from 'node:crypto';
import os from 'node:os';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Pool } from '../db/pool.ts';

/**
 * The advisory lock of leadership, in the two-key form (4260, 1): the one-key locks (migrations,
 * the audit sealer, records/locks.ts's row keys) live in another part of the lock space, and the
 * two-key ones of other modules use other first keys (4242–4252).
 */
export const LEADER_LOCK = [4260, 1] as const;

export interface Job {
  /** A stable name: it keys job_state and the metrics. */
  name: string;
  intervalMs: number;
  /** One run; resolves when done. A failure is logged and retried at the next interval. */
  run(): Promise<unknown>;
}

export interface LeaderOptions {
  /** How often a follower campaigns and the leader renews its heartbeat (default 5 s). */
  pollMs?: number;
  /** This process, as written in job_leader and job_run. */
  holder?: string;
}

export class BackgroundJobs {
  readonly holder: string;
  private readonly pollMs: number;
  private readonly jobs: Job[] = [];
  private client: pg.Client | undefined;
  private leading = false;
  private stopped = true;
  private poll: NodeJS.Timeout | undefined;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly running = new Map<string, Promise<void>>();
  /** Serialises campaigns and heartbeats (a slow database must not make them overlap). */
  private tick: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: { url: string; pool: Pool },
    private readonly log: Logger,
    opts: LeaderOptions = {},
  ) {
    this.pollMs = opts.pollMs ?? 5000;
    this.holder = opts.holder ?? `${os.hostname()}:${process.pid}:${crypto.randomBytes(3).toString('hex')}`;
  }

  add(job: Job): this {
    if (this.jobs.some((j) => j.name === job.name)) throw new Error(`background job ${job.name} added twice`);
    this.jobs.push(job);
    return this;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Starts campaigning at once, then every `pollMs`. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const beat = () => {
      this.tick = this.tick.then(() => this.campaign()).catch((err) => this.log.error({ err }, 'leader election failed; retrying'));
    };
    beat();
    this.poll = setInterval(beat, this.pollMs);
    this.poll.unref();
  }

  /** Stops: no new runs, waits for the runs under way (at most `waitMs`), gives up leadership. */
  async stop(waitMs = 10_000): Promise<void> {
    this.stopped = true;
    if (this.poll) clearInterval(this.poll);
    await this.tick.catch(() => undefined);
    this.stopJobs();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(this.running.values()),
      new Promise((r) => {
        timer = setTimeout(r, waitMs);
      }),
    ]);
    clearTimeout(timer);
    await this.resign();
  }

  /** Runs every job once now, in this process, whether leading or not (`kvalreg` commands, tests). */
  async runAllOnce(): Promise<void> {
    for (const job of this.jobs) await this.runJob(job);
  }

  private async campaign(): Promise<void> {
    if (this.stopped) return;
    if (this.leading) {
      // The heartbeat is also the check that the lock's connection still stands.
      try {
        const r = await this.client!.query('UPDATE job_leader SET heartbeat_at = now() WHERE holder = $1', [this.holder]);
        if (r.rowCount === 0)
          await this.client!.query(
            'INSERT INTO job_leader (holder, since, heartbeat_at) VALUES ($1, now(), now()) ON CONFLICT (singleton) DO UPDATE SET holder = EXCLUDED.holder, since = EXCLUDED.since, heartbeat_at = EXCLUDED.heartbeat_at',
            [this.holder],
          );
        await this.client!.query("DELETE FROM job_run WHERE started_at < now() - interval '7 days'");
      } catch (err) {
        this.log.warn({ err }, 'lost the connection that holds the leadership of background jobs; stepping down');
        this.stopJobs();
        await this.resign();
      }
      return;
    }
    if (!this.client) {
      const client = new pg.Client({ connectionString: this.db.url, application_name: 'kvalreg-leader', connectionTimeoutMillis: 5000 });
      // A lost connection surfaces at the next heartbeat; the event itself must not crash the process.
      client.on('error', () => undefined);
      await client.connect();
      this.client = client;
    }
    const won = (await this.client.query('SELECT pg_try_advisory_lock($1, $2) AS ok', [...LEADER_LOCK])).rows[0].ok as boolean;
    if (!won || this.stopped) {
      if (won) await this.client.query('SELECT pg_advisory_unlock($1, $2)', [...LEADER_LOCK]);
      return;
    }
    await this.client.query(
      `INSERT INTO job_leader (holder, since, heartbeat_at) VALUES ($1, now(), now())
       ON CONFLICT (singleton) DO UPDATE SET holder = EXCLUDED.holder, since = EXCLUDED.since, heartbeat_at = EXCLUDED.heartbeat_at`,
      [this.holder],
    );
    for (const job of this.jobs) {
      await this.client.query(
        `INSERT INTO job_state (job, interval_ms, holder) VALUES ($1, $2, $3)
         ON CONFLICT (job) DO UPDATE SET interval_ms = EXCLUDED.interval_ms, holder = EXCLUDED.holder`,
        [job.name, job.intervalMs, this.holder],
      );
    }
    this.leading = true;
    this.log.info({ holder: this.holder, jobs: this.jobs.map((j) => j.name) }, 'leading the background jobs');
    for (const job of this.jobs) this.schedule(job, 0);
  }

  private schedule(job: Job, delay: number): void {
    if (!this.leading || this.stopped) return;
    const timer = setTimeout(() => {
      const run = this.runJob(job).finally(() => {
        this.running.delete(job.name);
        this.schedule(job, job.intervalMs);
      });
      this.running.set(job.name, run);
    }, delay);
    timer.unref();
    this.timers.set(job.name, timer);
  }

  private async runJob(job: Job): Promise<void> {
    const started = new Date();
    await this.db.pool.query('UPDATE job_state SET last_started_at = $2 WHERE job = $1', [job.name, started]).catch(() => undefined);
    let error: string | null = null;
    try {
      await job.run();
    } catch (err) {
      error = (err as Error).message ?? String(err);
      this.log.error({ err, job: job.name }, 'background job failed; retried at its next interval');
    }
    const finished = new Date();
    // The bookkeeping may fail with the database gone; the job's own work is what counts.
    await this.db.pool
      .query(
        `WITH s AS (
         UPDATE job_state SET runs = runs + 1, failures = failures + ($4::text IS NOT NULL)::int, last_finished_at = $3,
                last_ok_at = CASE WHEN $4::text IS NULL THEN $3 ELSE last_ok_at END, last_error = $4
         WHERE job = $1)
       INSERT INTO job_run (job, holder, started_at, finished_at, ok, error) VALUES ($1, $5, $2, $3, $4::text IS NULL, $4)`,
        [job.name, started, finished, error, this.holder],
      )
      .catch((err) => this.log.warn({ err, job: job.name }, 'could not record a background job run'));
  }

  private stopJobs(): void {
    this.leading = false;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private async resign(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.leading = false;
    if (!client) return;
    // Ending the session releases the lock (an explicit unlock first, when the connection still stands).
    await client.query('SELECT pg_advisory_unlock($1, $2)', [...LEADER_LOCK]).catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}
