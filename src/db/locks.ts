// Work shared out among connections under one advisory lock: the coordinating transaction holds the
// lock, its workers (each in a transaction of its own) commit only while it still does. Should the
// coordinator's connection be lost, the lock is free for another process, whose work could then
// run beside the workers' and undo what the lock serialises.
import type { Queryable } from './pool.ts';

/** The server process of this connection (what `stillHeld` asks about). */
export async function backendPid(db: Queryable): Promise<number> {
  return Number((await db.query('SELECT pg_backend_pid() AS pid')).rows[0].pid);
}

/** Whether server process `pid` holds a granted advisory lock whose first key is `key` (two-key locks: its class id). */
export async function stillHeld(db: Queryable, pid: number, key: number): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = $1 AND locktype = 'advisory' AND classid = $2 AND objsubid = 2 AND granted) AS held`,
    [pid, key],
  );
  return rows[0].held;
}
