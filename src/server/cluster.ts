// Serving on every core (KVALREG_WORKERS, docs/operations.md): one Node.js process runs JavaScript
// on one core, and capture spends about as much CPU in the server as in PostgreSQL. With
// KVALREG_WORKERS=N (or `auto`: one per core) `kvalreg serve` starts a primary process that
// migrates, runs the background jobs (audit sealer, analytics refresh, indicator warm-up, report
// dispatch, PROM) once, and forks N worker processes that share the HTTP port (node:cluster hands
// out connections) and serve requests only. A worker that dies is started again.
//
// Nothing a request needs lives in one process only: sessions, login flows, tokens and their
// revocation are in the database; what processes keep in memory are caches that are checked against
// the database. The exception is the request rate limit, which each worker counts on its own.
import cluster, { type Worker } from 'node:cluster';
import os from 'node:os';
import type { Platform } from '../platform.ts';

/** How many HTTP worker processes: 1 (the default) serves in the one process as before. */
export function workerCount(env: NodeJS.ProcessEnv): number {
  const raw = env.KVALREG_WORKERS;
  if (raw === undefined || raw === '' || raw === '1') return 1;
  if (raw === 'auto') return Math.max(1, os.availableParallelism());
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 256)
    throw new Error(`KVALREG_WORKERS must be a whole number from 1 to 256, or "auto"; got "${raw}"`);
  return n;
}

export const isWorker = (): boolean => cluster.isWorker;

/**
 * The primary: forks `n` workers with the database the primary opened (an embedded server is
 * started once, by the primary), restarts a worker that exits unexpectedly, and stops them all
 * (SIGTERM, then waits) when `stop` is called.
 */
export function forkWorkers(platform: Platform, n: number, port: number, appUrl: string | undefined): { stop: () => Promise<void> } {
  let stopping = false;
  const env = {
    KVALREG_WORKER_PORT: String(port),
    DATABASE_URL: platform.db.url,
    ...(appUrl ? { DATABASE_APP_URL: appUrl } : {}),
  };
  const start = (): Worker => {
    const w = cluster.fork(env);
    w.on('exit', (code, signal) => {
      if (stopping) return;
      platform.log.error({ worker: w.process.pid, code, signal }, 'an HTTP worker stopped; starting another');
      // Not in a tight loop when a worker cannot start at all.
      setTimeout(() => {
        if (!stopping) start();
      }, 1000).unref();
    });
    return w;
  };
  for (let i = 0; i < n; i++) start();
  platform.log.info({ workers: n, port }, 'serving with worker processes');
  return {
    stop: async () => {
      stopping = true;
      const alive = Object.values(cluster.workers ?? {}).filter((w): w is Worker => Boolean(w) && !w!.isDead());
      await Promise.all(
        alive.map(
          (w) =>
            new Promise<void>((resolve) => {
              w.once('exit', () => resolve());
              w.process.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}
