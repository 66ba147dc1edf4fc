// Where a patient can be reached: e-mail and mobile number, encrypted like identity numbers (AES-
// 256-GCM, key outside the database). Filled from the contact register by an integration, or given
// by the patient; read only to send an invitation.
import type { PersonTx } from '../access/door.ts';
import { decryptNin, encryptNin, type IdentityKeys } from '../identity/crypto.ts';
import type { Contact } from './channels.ts';
import { KvalregError } from '../errors.ts';

const EMAIL = /^[^\s@<>(),;:"[\]]+@[^\s@<>(),;:"[\]]+\.[^\s@<>(),;:"[\]]+$/;
const MOBILE = /^\+?\d{8,15}$/;

export class ContactError extends KvalregError {
  constructor(message: string) {
    super('invalid', message);
  }
}

export async function setContact(tx: PersonTx, keys: IdentityKeys, personId: number, contact: Contact, source: string): Promise<void> {
  const email = contact.email?.trim().toLowerCase() || null;
  const mobile = contact.mobile?.replace(/[\s-]/g, '') || null;
  if (email && !EMAIL.test(email)) throw new ContactError(`"${email}" is not an e-mail address.`);
  if (mobile && !MOBILE.test(mobile))
    throw new ContactError(`"${mobile}" is not a mobile number (8 to 15 digits, optionally with +country code).`);
  await tx.client.query(
    `INSERT INTO prom_contact (person_id, email_enc, mobile_enc, source) VALUES ($1, $2, $3, $4)
     ON CONFLICT (person_id) DO UPDATE SET email_enc = EXCLUDED.email_enc, mobile_enc = EXCLUDED.mobile_enc, source = EXCLUDED.source, updated_at = now()`,
    [personId, email ? encryptNin(keys, email) : null, mobile ? encryptNin(keys, mobile) : null, source],
  );
  tx.audit({ action: 'prom:contact', object: `person/${personId}`, personIds: [personId] });
}

export async function getContact(tx: PersonTx, keys: IdentityKeys, personId: number): Promise<Contact & { nin?: string }> {
  const row = (
    await tx.client.query(
      'SELECT c.email_enc, c.mobile_enc, p.nin_enc FROM person p LEFT JOIN prom_contact c ON c.person_id = p.id WHERE p.id = $1',
      [personId],
    )
  ).rows[0];
  if (!row) return {};
  return {
    email: row.email_enc ? decryptNin(keys, row.email_enc) : null,
    mobile: row.mobile_enc ? decryptNin(keys, row.mobile_enc) : null,
    nin: decryptNin(keys, row.nin_enc),
  };
}
