// Work shared out among connections under one lock: a coordinating transaction holds the lock and
// waits until each of its workers (each in a transaction of its own) has committed or rolled back;
// a worker commits only while the coordinating transaction is still running. Should the
// coordinator's connection be lost, its lock is free for another process, whose work could then run
// beside the workers' and undo what the lock serialises. The transaction is named by its id, not by
// its connection: a pool hands the same connection (the same server process) to the next
// transaction, which may take the same lock again.
import type { Queryable } from './pool.ts';

/** The id of the transaction running on this connection (assigned now if it has none). */
export async function transactionId(db: Queryable): Promise<string> {
  return (await db.query('SELECT pg_current_xact_id()::text AS xid')).rows[0].xid;
}

/** Whether that transaction is still running (so still holds its transaction-level locks). */
export async function stillRunning(db: Queryable, xid: string): Promise<boolean> {
  return (await db.query(`SELECT pg_xact_status($1::xid8) = 'in progress' AS running`, [xid])).rows[0].running === true;
}

/**
 * Runs every worker to its end, even when one fails early (the coordinator's transaction, and its
 * lock, must outlive them all), then gives their results or the first failure.
 */
export async function allWorkers<T>(workers: Array<Promise<T>>): Promise<T[]> {
  const settled = await Promise.allSettled(workers);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}
