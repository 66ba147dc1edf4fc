// The lock order for everything that touches a person (DESIGN decision 11):
//
//   1. the person: an exclusive transaction-level advisory lock keyed by the keyed hash of their
//      identity number, taken before anything else the transaction reads about them (it exists
//      before the person row does, so it also guards the person's creation);
//   2. raw messages (inbox rows), locked after their persons;
//   3. cases, in id order (`FOR UPDATE`), then their forms.
//
// Capture, completion, status changes, event recomputation, merges and the reservation all take
// these locks in this order, so they never wait for each other in a circle; the data-access door
// retries a transaction the database aborted for a deadlock or a serialization failure anyway.
// Several persons are locked in ascending key order, in one statement of their own: a statement
// that waits for a lock reads with the snapshot it took before waiting, so nothing about a person
// may be read in the statement that locks them — only in the statements after it.
// One exception, by necessity: a number merged into another person (records/persons.ts) names the
// survivor only in `person_merge`, read after the number's own lock; the survivor is then locked
// in a second call. Such rows never change once written, and the rare deadlock this allows (a
// transaction holding the survivor and waiting for the merged-away number) is retried by the door.
import type { Queryable } from '../db/pool.ts';

/** The advisory-lock key of a person: the first 64 bits of the keyed hash of their identity number. */
export function personLockKey(hash: Buffer): bigint {
  return hash.readBigInt64BE(0);
}

/** Locks the persons with these keyed hashes, in ascending key order; re-locking one already held is free. */
export async function lockPersons(db: Queryable, hashes: Buffer[]): Promise<void> {
  const keys = [...new Set(hashes.filter((h) => h.length >= 8).map(personLockKey))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (keys.length === 0) return;
  // unnest yields the array in order, and the function is evaluated row by row: the locks are
  // taken in the order given.
  await db.query('SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k', [keys.map(String)]);
}

/** Locks persons known by id (their hashes are read first, which needs no lock: a hash never changes). */
export async function lockPersonsById(db: Queryable, personIds: number[]): Promise<void> {
  if (personIds.length === 0) return;
  const rows = (await db.query('SELECT nin_hash FROM person WHERE id = ANY($1::bigint[])', [personIds])).rows;
  await lockPersons(
    db,
    rows.map((r) => r.nin_hash as Buffer),
  );
}

/** A failure the data-access door retries: the transaction lost a race it can only win by starting again. */
export class RetryableConflict extends Error {
  readonly code = '40001';
}
