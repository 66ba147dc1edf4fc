// Work shared out among connections under one lock (`shareOut`): a coordinating transaction holds
// the lock and waits until each share, in a transaction of its own, has committed or rolled back;
// a share commits only while the coordinating transaction is still running. Should the
// coordinator's connection be lost, its lock is free for another process, whose work could then run
// beside the shares' and undo what the lock serialises. The transaction is named by its id, not by
// its connection: a pool hands the same connection (the same server process) to the next
// transaction, which may take the same lock again. Shares run on connections of their own
// (PersonData's `share` option, Database.sharePool): transactions waiting for the coordinator's lock
// hold connections of the platform's pool, which the shares could otherwise find empty.
import type { Queryable } from './pool.ts';

/**
 * Runs `work` on each share in a transaction of its own (opened by `transaction`), while the
 * transaction on `coordinator` holds the lock; waits for every share, even after one failed, then
 * gives their results or the first failure. A share whose coordinator is no longer running fails
 * with `lost` instead of committing.
 */
export async function shareOut<S, T, Tx extends { client: Queryable }>(
  coordinator: Queryable,
  shares: S[],
  transaction: (fn: (tx: Tx) => Promise<T>) => Promise<T>,
  work: (tx: Tx, share: S) => Promise<T>,
  lost: string,
): Promise<T[]> {
  const xid = (await coordinator.query('SELECT pg_current_xact_id()::text AS xid')).rows[0].xid as string;
  const settled = await Promise.allSettled(
    shares.map((share) =>
      transaction(async (tx) => {
        const done = await work(tx, share);
        const { rows } = await tx.client.query(`SELECT pg_xact_status($1::xid8) = 'in progress' AS running`, [xid]);
        if (rows[0].running !== true) throw new Error(lost);
        return done;
      }),
    ),
  );
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}
