// The audit trail: who looked at or changed which person's data, when, why, and with what outcome.
// Events are written by the data-access door in the transaction that did the work; a sealer then
// links them into a chain with a keyed hash (HMAC-SHA-256 with a key derived from the identity
// hash key, which lives outside the database), so that `verify` finds any row changed, removed
// or inserted afterwards, and names the first broken link.
import crypto from 'node:crypto';
import type { IdentityKeys } from '../identity/crypto.ts';
import type { Pool, Queryable } from '../db/pool.ts';
import { prepared } from '../db/pool.ts';

export interface AuditEvent {
  actor: string;
  role: string | null;
  unit: string | null;
  personId: number | null;
  action: string;
  object: string;
  purpose: string;
  outcome: 'ok' | 'denied';
  client: string | null;
}

const SEAL_LOCK = 4242_0002;
const BATCH = 5000;

export async function writeEvents(db: Queryable, events: AuditEvent[]): Promise<void> {
  if (events.length === 0) return;
  await prepared(db, 'audit-insert',
    `INSERT INTO audit_event (actor, role, unit, person_id, action, object, purpose, outcome, client)
     SELECT e.actor, e.role, e.unit, e."personId", e.action, e.object, e.purpose, e.outcome, e.client
     FROM jsonb_to_recordset($1::jsonb) AS e(actor text, role text, unit text, "personId" bigint, action text, object text, purpose text, outcome text, client text)`,
    [JSON.stringify(events)]);
}

/** The chain key: derived, so that the identity hash key itself is never used for two purposes. */
function chainKey(keys: IdentityKeys): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', keys.hashKey, Buffer.alloc(0), 'kvalreg audit chain', 32));
}

// Columns as text, exactly as hashed: the time with microseconds in UTC, so nothing is lost in JS.
const ROW_COLUMNS = `id, seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS at, actor, role, unit, person_id, action, object, purpose, outcome, client, prev_hash, hash`;

interface Row {
  id: number; seq: number | null; at: string; actor: string; role: string | null; unit: string | null; person_id: number | null;
  action: string; object: string; purpose: string; outcome: string; client: string | null; prev_hash: Buffer | null; hash: Buffer | null;
}

function linkHash(key: Buffer, prev: Buffer, seq: number, r: Row): Buffer {
  const fields = [seq, r.id, r.at, r.actor, r.role, r.unit, r.person_id, r.action, r.object, r.purpose, r.outcome, r.client];
  return crypto.createHmac('sha256', key).update(prev).update(JSON.stringify(fields)).digest();
}

const GENESIS = Buffer.alloc(32);

/** Seals every unsealed event, in id order, onto the end of the chain. Safe to run from several processes. */
export async function sealAudit(pool: Pool, keys: IdentityKeys): Promise<number> {
  const key = chainKey(keys);
  let sealed = 0;
  for (;;) {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [SEAL_LOCK]);
      const last = (await client.query('SELECT seq, hash FROM audit_event WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1')).rows[0];
      const rows = (await client.query<Row>(`SELECT ${ROW_COLUMNS} FROM audit_event WHERE seq IS NULL ORDER BY id LIMIT ${BATCH}`)).rows;
      if (rows.length === 0) { await client.query('COMMIT'); return sealed; }
      let prev: Buffer = last?.hash ?? GENESIS;
      let seq = Number(last?.seq ?? 0);
      const updates = rows.map((r) => {
        seq += 1;
        const hash = linkHash(key, prev, seq, r);
        const u = { id: r.id, seq, prev: prev.toString('hex'), hash: hash.toString('hex') };
        prev = hash;
        return u;
      });
      await client.query(
        `UPDATE audit_event a SET seq = u.seq, prev_hash = decode(u.prev, 'hex'), hash = decode(u.hash, 'hex')
         FROM jsonb_to_recordset($1::jsonb) AS u(id bigint, seq bigint, prev text, hash text) WHERE a.id = u.id`, [JSON.stringify(updates)]);
      await client.query('COMMIT');
      sealed += rows.length;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }
}

export interface VerifyResult {
  ok: boolean;
  checked: number;
  unsealed: number;
  /** The first broken link: the sequence number where the chain stops holding, and why. */
  broken?: { seq: number; id: number | null; problem: string };
}

/** Walks the chain from the start; reads in pages, so it works on any size of trail. */
export async function verifyAudit(pool: Pool, keys: IdentityKeys, onProgress?: (checked: number) => void): Promise<VerifyResult> {
  const key = chainKey(keys);
  let prev: Buffer = GENESIS;
  let expected = 1;
  let checked = 0;
  for (;;) {
    const rows = (await pool.query<Row>(`SELECT ${ROW_COLUMNS} FROM audit_event WHERE seq >= $1 ORDER BY seq LIMIT ${BATCH}`, [expected])).rows;
    for (const r of rows) {
      const fail = (problem: string): VerifyResult => ({ ok: false, checked, unsealed: 0, broken: { seq: expected, id: r.id, problem } });
      if (Number(r.seq) !== expected) return { ok: false, checked, unsealed: 0, broken: { seq: expected, id: null, problem: `event ${expected} is missing (the next is ${r.seq}): a row was deleted` } };
      if (!r.prev_hash || !r.prev_hash.equals(prev)) return fail('its link to the previous event does not match: a row before it was changed, removed or inserted');
      if (!r.hash || !r.hash.equals(linkHash(key, prev, expected, r))) return fail('its content does not match its seal: the row was changed, or inserted without the key');
      prev = r.hash;
      expected += 1;
      checked += 1;
    }
    onProgress?.(checked);
    if (rows.length < BATCH) break;
  }
  const unsealed = Number((await pool.query('SELECT count(*) FROM audit_event WHERE seq IS NULL')).rows[0].count);
  return { ok: true, checked, unsealed };
}
