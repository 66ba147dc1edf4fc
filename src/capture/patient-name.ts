// The patient's name from Patient.name, kept so that a registrar can tell who a registration is
// about: encrypted like the identity number (never in clear), with a keyed hash so that a message
// repeating the same name writes nothing. Read only from Patient.name, in the pipeline's person step.
import { createHmac } from 'node:crypto';
import type { Queryable } from '../db/pool.ts';
import { sealText, type IdentityKeys } from '../identity/crypto.ts';

const MAX_NAME = 200;

/** The name as people write it: the official (else usual, else first) HumanName, its text or given names and family name. */
export function patientName(patient: Record<string, any> | undefined): string | null {
  const names: any[] = Array.isArray(patient?.name) ? patient!.name.filter((n: unknown) => n && typeof n === 'object') : [];
  const current = names.filter((n) => !n.period?.end || Date.parse(n.period.end) > Date.now());
  const chosen =
    current.find((n) => n.use === 'official') ??
    current.find((n) => n.use === 'usual') ??
    current.find((n) => n.use !== 'old' && n.use !== 'maiden') ??
    current[0];
  if (!chosen) return null;
  const parts = [...(Array.isArray(chosen.given) ? chosen.given : []), chosen.family]
    .filter((x) => typeof x === 'string' && x.trim())
    .map((x: string) => x.trim());
  const text = (parts.length ? parts.join(' ') : typeof chosen.text === 'string' ? chosen.text.trim() : '').replace(/\s+/g, ' ');
  return text ? text.slice(0, MAX_NAME) : null;
}

function nameMac(keys: IdentityKeys, name: string): Buffer {
  return createHmac('sha256', keys.hashKey).update(`person-name\0${name}`, 'utf8').digest();
}

/** Each person's name as it is stored: encrypted, with its keyed hash (written by capture/changes.ts). */
export function nameRows(
  keys: IdentityKeys,
  rows: Array<{ personId: number; name: string }>,
): Array<{ id: number; enc: string; mac: string }> {
  return rows.map((r) => ({ id: r.personId, enc: sealText(keys, r.name).toString('hex'), mac: nameMac(keys, r.name).toString('hex') }));
}

/** The statement that stores names where they differ from the one kept (a resend writes nothing). */
export function storeNamesSql(json: string): string {
  return `UPDATE person p SET name_enc = decode(u.enc, 'hex'), name_mac = decode(u.mac, 'hex')
     FROM jsonb_to_recordset(${json}::jsonb) AS u(id bigint, enc text, mac text)
     WHERE p.id = u.id AND p.name_mac IS DISTINCT FROM decode(u.mac, 'hex')`;
}

/** Stores each person's name, encrypted, where it differs from the one kept (one statement). */
export async function storeNames(db: Queryable, keys: IdentityKeys, rows: Array<{ personId: number; name: string }>): Promise<void> {
  if (rows.length === 0) return;
  await db.query(storeNamesSql('$1'), [JSON.stringify(nameRows(keys, rows))]);
}

/** Initials only ("P. P."): who it is about, without the name itself until it is asked for. */
export function initials(name: string | null): string | null {
  if (!name) return null;
  return name
    .split(/[\s-]+/)
    .filter(Boolean)
    .map((w) => `${w[0].toUpperCase()}.`)
    .join(' ');
}
