// The reservation right: a patient who opts out is removed from every table, history included,
// and only the keyed hash of their number — of every number they were known by — is kept so later
// messages can be refused.
import type { PersonTx } from '../access/door.ts';
import type { Identity } from '../capture/identity.ts';
import { decryptNin, openText, type IdentityKeys } from '../identity/crypto.ts';
import { lockPersons } from './locks.ts';
import { livePersons, personHashes } from './persons.ts';

export interface ReservationResult {
  removedPerson: boolean;
  removedCases: number;
  removedMessages: number;
}

export async function reserve(
  tx: PersonTx,
  identity: Identity,
  channel: string,
  keys: IdentityKeys,
  actor?: { label: string; role: string },
): Promise<ReservationResult> {
  const db = tx.client;
  // The person's lock first (records/locks.ts): captures in flight for this person finish first,
  // later ones wait for this transaction and then see the reservation; the messages naming the
  // person are locked after it, in the same order capture takes them.
  await lockPersons(db, [identity.hash]);
  // A patient known by several numbers (a temporary number merged into the real one,
  // records/persons.ts) is reserved under every one of them, so that a later message naming any
  // of them is refused; the other numbers are found after this one's lock, and locked then.
  const person = (await livePersons(db, [identity.hash])).get(identity.hashHex);
  const hashes = person ? await personHashes(db, person.id) : [];
  const others = hashes.filter((h) => !h.equals(identity.hash));
  if (others.length) await lockPersons(db, others);
  let mentioning: number[] = [];
  for (const hash of [identity.hash, ...others]) {
    mentioning.push(...(await refuseUnder(db, hash, hash.equals(identity.hash) ? identity.nin : '', channel, keys)));
  }
  mentioning = [...new Set(mentioning)];
  if (!person) return { removedPerson: false, removedCases: 0, removedMessages: mentioning.length };
  const cases = await db.query('SELECT count(*)::int AS n FROM registry_case WHERE person_id = $1', [person.id]);
  tx.audit({ action: 'reserve', object: `person/${person.id}`, personIds: [person.id], actor });
  // Raw messages that mention the person are removed whole: they may hold others too, but their
  // data is already captured, and the raw copy must not keep the opted-out patient.
  const messages = await db.query(
    `UPDATE inbox_message SET body_enc = NULL, outcome = NULL, pruned_reason = 'reservation', person_ids = array_remove(person_ids, $1)
     WHERE person_ids @> ARRAY[$1]::bigint[] RETURNING id`,
    [person.id],
  );
  // Cases, forms, history, captured resources and the record of merges go with the person (ON DELETE CASCADE).
  await db.query('DELETE FROM person WHERE id = $1', [person.id]);
  const removed = new Set([...mentioning, ...messages.rows.map((r) => r.id as number)]);
  return { removedPerson: true, removedCases: cases.rows[0].n, removedMessages: removed.size };
}

/** Records the reservation under one number and removes the raw messages naming it; returns their ids. */
async function refuseUnder(db: PersonTx['client'], hash: Buffer, nin: string, channel: string, keys: IdentityKeys): Promise<number[]> {
  await db.query('INSERT INTO reservation (nin_hash, channel) VALUES ($1, $2) ON CONFLICT (nin_hash) DO NOTHING', [hash, channel]);
  // Messages not (successfully) processed do not name their persons yet, but every message keeps
  // the keyed hashes of the numbers it names from the moment it is received: found by index, also
  // when the person was never registered. Their bodies go; unprocessed ones will not be processed.
  const named = await db.query(
    `UPDATE inbox_message SET body_enc = NULL, outcome = NULL, pruned_reason = 'reservation', nin_hashes = array_remove(nin_hashes, $1::bytea),
       status = CASE WHEN status IN ('received', 'quarantined') THEN 'refused' ELSE status END
     WHERE nin_hashes @> ARRAY[$1::bytea] RETURNING id`,
    [hash],
  );
  // Messages received before the hashes were kept: look inside them (needs the number itself).
  const unprocessed = nin
    ? await db.query(
        "SELECT id, body_enc FROM inbox_message WHERE nin_hashes IS NULL AND status IN ('received', 'quarantined') AND body_enc IS NOT NULL",
      )
    : { rows: [] as any[] };
  const mentioning = unprocessed.rows.filter((m) => openText(keys, m.body_enc).includes(nin)).map((m) => m.id as number);
  if (mentioning.length) {
    await db.query(
      "UPDATE inbox_message SET body_enc = NULL, outcome = NULL, pruned_reason = 'reservation', status = 'refused' WHERE id = ANY($1)",
      [mentioning],
    );
  }
  return [...mentioning, ...named.rows.map((r) => r.id as number)];
}

/** A reservation by the patient themselves, known only by the keyed hash of their number (their login). */
export async function reserveByHash(
  tx: PersonTx,
  hash: Buffer,
  channel: string,
  keys: IdentityKeys,
  actor: { label: string; role: string },
): Promise<ReservationResult> {
  await lockPersons(tx.client, [hash]);
  const row = (await tx.client.query('SELECT nin_enc, nin_kind FROM person WHERE nin_hash = $1', [hash])).rows[0];
  // Messages are found by the hash; the number is needed only for messages stored before their hashes were kept.
  const nin = row ? decryptNin(keys, row.nin_enc) : '';
  return reserve(
    tx,
    { nin, hash, hashHex: hash.toString('hex'), kind: row?.nin_kind ?? 'fnr', birthDate: null, sex: null },
    channel,
    keys,
    actor,
  );
}
