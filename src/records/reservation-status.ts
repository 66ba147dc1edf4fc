// Whether a patient, known by the keyed hash of their identity number, has opted out, and when:
// what innsyn shows after the reservation removed everything else about them.
import type { PersonTx } from '../access/door.ts';

export async function reservationOf(tx: PersonTx, hash: Buffer): Promise<{ reservedAt: string; channel: string } | null> {
  const row = (await tx.client.query('SELECT reserved_at, channel FROM reservation WHERE nin_hash = $1', [hash])).rows[0];
  return row ? { reservedAt: new Date(row.reserved_at).toISOString(), channel: row.channel } : null;
}
