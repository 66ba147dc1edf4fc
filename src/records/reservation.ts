// The reservation right: a patient who opts out is removed from every table, history included,
// and only the keyed hash of their number is kept so later messages can be refused.
import type { PersonTx } from '../access/door.ts';
import type { Identity } from '../capture/identity.ts';

export interface ReservationResult { removedPerson: boolean; removedCases: number; removedMessages: number }

export async function reserve(tx: PersonTx, identity: Identity, channel: string): Promise<ReservationResult> {
  const db = tx.client;
  await db.query('INSERT INTO reservation (nin_hash, channel) VALUES ($1, $2) ON CONFLICT (nin_hash) DO NOTHING', [identity.hash, channel]);
  const person = (await db.query('SELECT id FROM person WHERE nin_hash = $1', [identity.hash])).rows[0];
  if (!person) return { removedPerson: false, removedCases: 0, removedMessages: 0 };
  const cases = await db.query('SELECT count(*)::int AS n FROM registry_case WHERE person_id = $1', [person.id]);
  // Raw messages that mention the person are removed whole: they may hold others too, but their
  // data is already captured, and the raw copy must not keep the opted-out patient.
  const messages = await db.query(
    `UPDATE inbox_message SET body_enc = NULL, pruned_reason = 'reservation', person_ids = array_remove(person_ids, $1)
     WHERE person_ids @> ARRAY[$1]::bigint[] RETURNING id`, [person.id]);
  // Cases, forms, history and captured resources go with the person (ON DELETE CASCADE).
  await db.query('DELETE FROM person WHERE id = $1', [person.id]);
  return { removedPerson: true, removedCases: cases.rows[0].n, removedMessages: messages.rowCount ?? 0 };
}
