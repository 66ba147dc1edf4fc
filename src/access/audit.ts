// The audit trail: who looked at or changed which person's data, when, why, and with what outcome.
// Events are written by the data-access door in the transaction that did the work; a sealer then
// links them into a chain with a keyed hash (HMAC-SHA-256 with the audit trail's own sealing key,
// see audit-keys.ts), so that `verify` finds any row changed, removed or inserted afterwards, and
// names the first broken link. Pruning under the retention rule leaves a signed checkpoint that
// verification starts from; a witness statement of the chain's head, kept by an outside party,
// proves later that the newest events were not removed or re-sealed.
import crypto from 'node:crypto';
import type { Pool, Queryable } from '../db/pool.ts';
import { prepared } from '../db/pool.ts';
import type { AuditKeys } from './audit-keys.ts';

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
  /** The registry the event concerns; null when it spans registries (capture, raw messages, reservations). */
  registry?: string | null;
}

const SEAL_LOCK = 4242_0002;
const BATCH = 5000;

export async function writeEvents(db: Queryable, events: AuditEvent[]): Promise<void> {
  if (events.length === 0) return;
  await prepared(db, 'audit-insert2',
    `INSERT INTO audit_event (actor, role, unit, person_id, action, object, purpose, outcome, client, registry)
     SELECT e.actor, e.role, e.unit, e."personId", e.action, e.object, e.purpose, e.outcome, e.client, e.registry
     FROM jsonb_to_recordset($1::jsonb) AS e(actor text, role text, unit text, "personId" bigint, action text, object text, purpose text, outcome text, client text, registry text)`,
    [JSON.stringify(events)]);
}

// Columns as text, exactly as hashed: the time with microseconds in UTC, so nothing is lost in JS.
const ROW_COLUMNS = `id, seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS at, actor, role, unit, person_id, action, object, purpose, outcome, client, registry, key_id, prev_hash, hash`;

interface Row {
  id: number; seq: number | null; at: string; actor: string; role: string | null; unit: string | null; person_id: number | null;
  action: string; object: string; purpose: string; outcome: string; client: string | null; registry: string | null; key_id: string | null;
  prev_hash: Buffer | null; hash: Buffer | null;
}

/**
 * The seal of one event. Rows sealed before the trail had its own key (key_id null) were hashed
 * without the registry and key id; every row sealed since covers both.
 */
function linkHash(key: Buffer, prev: Buffer, seq: number, r: Row, keyId: string | null): Buffer {
  const fields: unknown[] = [seq, r.id, r.at, r.actor, r.role, r.unit, r.person_id, r.action, r.object, r.purpose, r.outcome, r.client];
  if (keyId !== null) fields.push(r.registry, keyId);
  return crypto.createHmac('sha256', key).update(prev).update(JSON.stringify(fields)).digest();
}

const GENESIS = Buffer.alloc(32);

/** The last sealed link: the newest sealed event, or the newest checkpoint if pruning removed every event. */
async function lastLink(db: Queryable): Promise<{ seq: number; hash: Buffer } | null> {
  const ev = (await db.query('SELECT seq, hash FROM audit_event WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1')).rows[0];
  const cp = (await db.query('SELECT seq, hash FROM audit_checkpoint ORDER BY seq DESC LIMIT 1')).rows[0];
  const best = [ev, cp].filter(Boolean).sort((a, b) => Number(b.seq) - Number(a.seq))[0];
  return best ? { seq: Number(best.seq), hash: best.hash } : null;
}

/** Seals every unsealed event, in id order, onto the end of the chain. Safe to run from several processes. */
export async function sealAudit(pool: Pool, keys: AuditKeys): Promise<number> {
  const keyId = keys.current;
  const key = keys.chain.get(keyId)!;
  let sealed = 0;
  for (;;) {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [SEAL_LOCK]);
      const last = await lastLink(client);
      const rows = (await client.query<Row>(`SELECT ${ROW_COLUMNS} FROM audit_event WHERE seq IS NULL ORDER BY id LIMIT ${BATCH}`)).rows;
      if (rows.length === 0) { await client.query('COMMIT'); return sealed; }
      let prev: Buffer = last?.hash ?? GENESIS;
      let seq = last?.seq ?? 0;
      const updates = rows.map((r) => {
        seq += 1;
        const hash = linkHash(key, prev, seq, r, keyId);
        const u = { id: r.id, seq, prev: prev.toString('hex'), hash: hash.toString('hex') };
        prev = hash;
        return u;
      });
      await client.query(
        `UPDATE audit_event a SET seq = u.seq, prev_hash = decode(u.prev, 'hex'), hash = decode(u.hash, 'hex'), key_id = $2
         FROM jsonb_to_recordset($1::jsonb) AS u(id bigint, seq bigint, prev text, hash text) WHERE a.id = u.id`, [JSON.stringify(updates), keyId]);
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

export interface Checkpoint { id: number; seq: number; hash: Buffer; event_at: string; pruned_before: Date; pruned_count: number; key_id: string; signature: Buffer }

function checkpointMessage(c: Pick<Checkpoint, 'seq' | 'hash' | 'event_at' | 'pruned_before' | 'pruned_count'>): string {
  return JSON.stringify(['kvalreg audit checkpoint', Number(c.seq), c.hash.toString('hex'), c.event_at, new Date(c.pruned_before).toISOString(), Number(c.pruned_count)]);
}

export interface VerifyResult {
  ok: boolean;
  checked: number;
  unsealed: number;
  /** Where verification started: after the newest checkpoint left by pruning, if any. */
  from?: { seq: number; prunedBefore: string };
  /** The newest sealed link (the chain's head) when the chain holds. */
  head?: { seq: number; hash: string };
  /** The first broken link: the sequence number where the chain stops holding, and why. */
  broken?: { seq: number; id: number | null; problem: string };
}

/** Walks the chain from the start (or the newest checkpoint); reads in pages, so it works on any size of trail. */
export async function verifyAudit(pool: Pool, keys: AuditKeys, onProgress?: (checked: number) => void, opts: { upTo?: number } = {}): Promise<VerifyResult> {
  let prev: Buffer = GENESIS;
  let expected = 1;
  let checked = 0;
  let from: VerifyResult['from'];
  let keyed = false; // once a row is sealed with the trail's own key, no later row may claim the legacy key
  const fail = (seq: number, id: number | null, problem: string): VerifyResult => ({ ok: false, checked, unsealed: 0, ...(from ? { from } : {}), broken: { seq, id, problem } });

  // Pruned events: the newest checkpoint stands in for them, if its signature holds.
  const first = (await pool.query('SELECT min(seq) AS seq FROM audit_event WHERE seq IS NOT NULL')).rows[0].seq as number | null;
  const cp = (await pool.query<Checkpoint>('SELECT * FROM audit_checkpoint ORDER BY seq DESC LIMIT 1')).rows[0];
  if (cp) {
    const key = keys.chain.get(cp.key_id);
    if (!key) return fail(Number(cp.seq), null, `the checkpoint of the pruned events was signed with audit key "${cp.key_id}", which is not loaded: add it to KVALREG_AUDIT_KEYS_OLD or the audit key file`);
    const good = crypto.createHmac('sha256', key).update(checkpointMessage(cp)).digest();
    if (!crypto.timingSafeEqual(good, cp.signature)) return fail(Number(cp.seq), null, 'the checkpoint left by pruning does not match its signature: it was changed or forged');
    if (first !== null && Number(first) <= Number(cp.seq)) {
      // Events at or before the checkpoint remain (pruning stopped midway): verify from the start of what is left.
      return fail(Number(first), null, `events up to ${cp.seq} should have been pruned behind the checkpoint, but event ${first} is still there`);
    }
    prev = cp.hash;
    expected = Number(cp.seq) + 1;
    from = { seq: Number(cp.seq), prunedBefore: new Date(cp.pruned_before).toISOString() };
  }
  for (;;) {
    const limit = opts.upTo !== undefined ? Math.min(BATCH, opts.upTo - expected + 1) : BATCH;
    if (limit <= 0) break;
    const rows = (await pool.query<Row>(`SELECT ${ROW_COLUMNS} FROM audit_event WHERE seq >= $1 ORDER BY seq LIMIT ${limit}`, [expected])).rows;
    for (const r of rows) {
      if (Number(r.seq) !== expected) {
        return fail(expected, null, expected === 1 || !checked && !from
          ? `events ${expected} to ${Number(r.seq) - 1} are missing and no signed checkpoint stands in for them: they were deleted`
          : `event ${expected} is missing (the next is ${r.seq}): a row was deleted`);
      }
      if (!r.prev_hash || !r.prev_hash.equals(prev)) return fail(expected, r.id, 'its link to the previous event does not match: a row before it was changed, removed or inserted');
      let key: Buffer | undefined;
      if (r.key_id === null) {
        if (keyed) return fail(expected, r.id, 'it claims the old derived key after events sealed with the audit key: it was re-sealed without the audit key');
        key = keys.legacy;
      } else {
        keyed = true;
        key = keys.chain.get(r.key_id);
        if (!key) return fail(expected, r.id, `it was sealed with audit key "${r.key_id}", which is not loaded: add that key to KVALREG_AUDIT_KEYS_OLD or the audit key file`);
      }
      if (!r.hash || !r.hash.equals(linkHash(key, prev, expected, r, r.key_id))) return fail(expected, r.id, 'its content does not match its seal: the row was changed, or inserted without the key');
      prev = r.hash;
      expected += 1;
      checked += 1;
    }
    onProgress?.(checked);
    if (rows.length < limit) break;
  }
  const unsealed = Number((await pool.query('SELECT count(*) FROM audit_event WHERE seq IS NULL')).rows[0].count);
  return { ok: true, checked, unsealed, ...(from ? { from } : {}), head: { seq: expected - 1, hash: prev.toString('hex') } };
}

// ---------------------------------------------------------------------------------------------
// Retention

export interface PruneResult { pruned: number; checkpoint: { seq: number; prunedBefore: string } | null }

/**
 * Removes sealed events older than `retentionDays`, after proving the part to be removed, behind a
 * checkpoint signed with the sealing key. Needs the owning role: the application role has no
 * DELETE on the trail, and the trigger lets a DELETE through only up to a checkpoint recorded in
 * the same transaction. The pruning itself is recorded as an event.
 */
export async function pruneAudit(pool: Pool, keys: AuditKeys, retentionDays: number, now = new Date()): Promise<PruneResult> {
  if (!Number.isInteger(retentionDays) || retentionDays < 1) throw new Error('the retention period must be a whole number of days, 1 or more');
  await sealAudit(pool, keys);
  const cutoff = new Date(now.getTime() - retentionDays * 86_400_000);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [SEAL_LOCK]);
    // The boundary: every event up to it is older than the cutoff (events are sealed in id order,
    // and times follow ids to within the microseconds of concurrent inserts).
    const b = (await client.query(
      `SELECT coalesce((SELECT min(seq) - 1 FROM audit_event WHERE seq IS NOT NULL AND at >= $1), (SELECT max(seq) FROM audit_event WHERE seq IS NOT NULL)) AS seq`, [cutoff])).rows[0];
    const boundary = b.seq === null ? null : Number(b.seq);
    const since = Number((await client.query('SELECT coalesce(min(seq), 0) AS seq FROM audit_event WHERE seq IS NOT NULL')).rows[0].seq);
    if (boundary === null || boundary < since || since === 0) { await client.query('COMMIT'); return { pruned: 0, checkpoint: null }; }
    // Never remove what cannot be proven: the part to be removed must verify first.
    const proof = await verifyAudit(pool, keys, undefined, { upTo: boundary });
    if (!proof.ok) throw new Error(`the audit trail is broken at event ${proof.broken!.seq} (${proof.broken!.problem}); nothing was pruned, so the evidence is kept`);
    const last = (await client.query<Row>(`SELECT ${ROW_COLUMNS} FROM audit_event WHERE seq = $1`, [boundary])).rows[0];
    const count = Number((await client.query('SELECT count(*) FROM audit_event WHERE seq <= $1', [boundary])).rows[0].count);
    const cp = { seq: boundary, hash: last.hash!, event_at: last.at, pruned_before: cutoff, pruned_count: count };
    const signature = crypto.createHmac('sha256', keys.chain.get(keys.current)!).update(checkpointMessage(cp)).digest();
    const saved = (await client.query(
      `INSERT INTO audit_checkpoint (seq, hash, event_at, pruned_before, pruned_count, key_id, signature) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
      [cp.seq, cp.hash, cp.event_at, cutoff, count, keys.current, signature])).rows[0];
    await client.query("SELECT set_config('kvalreg.audit_prune', $1, true)", [String(boundary)]);
    const deleted = await client.query('DELETE FROM audit_event WHERE seq <= $1', [boundary]);
    await writeEvents(client, [{ actor: 'platform:audit-prune', role: 'platform', unit: null, personId: null, action: 'prune', object: `audit/checkpoint/${saved.id}`,
      purpose: `retention ${retentionDays} days`, outcome: 'ok', client: null }]);
    await client.query('COMMIT');
    return { pruned: deleted.rowCount ?? 0, checkpoint: { seq: boundary, prunedBefore: cutoff.toISOString() } };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

// ---------------------------------------------------------------------------------------------
// Witness statements of the chain's head

export interface HeadStatement {
  statement: 'kvalreg audit chain head';
  seq: number;
  id: number;
  hash: string;
  at: string;
  issuedAt: string;
  keyId: string;
  /** Ed25519 over the fields above, in this order, as JSON; verify with the public key of `keyId`. */
  signature: string;
}

function statementBytes(s: Omit<HeadStatement, 'signature'>): Buffer {
  return Buffer.from(JSON.stringify([s.statement, s.seq, s.id, s.hash, s.at, s.issuedAt, s.keyId]));
}

/** Seals what is pending and signs a statement of the chain's head, for an outside party to keep. */
export async function headStatement(pool: Pool, keys: AuditKeys): Promise<HeadStatement> {
  await sealAudit(pool, keys);
  const r = (await pool.query<Row>(`SELECT ${ROW_COLUMNS} FROM audit_event WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1`)).rows[0];
  if (!r) throw new Error('the audit trail has no sealed events yet; there is no head to witness');
  const body = { statement: 'kvalreg audit chain head' as const, seq: Number(r.seq), id: Number(r.id), hash: r.hash!.toString('hex'), at: `${r.at}Z`, issuedAt: new Date().toISOString(), keyId: keys.current };
  const signature = crypto.sign(null, statementBytes(body), keys.signing.get(keys.current)!.privateKey).toString('base64');
  return { ...body, signature };
}

export interface WitnessCheck { seq: number; ok: boolean; note: string }

/** Reads statements from a witness file: one JSON statement, a JSON array, or one per line. */
export function parseWitness(text: string): HeadStatement[] {
  const t = text.trim();
  if (!t) throw new Error('the witness file is empty');
  let items: unknown[];
  try {
    items = t.startsWith('[') ? JSON.parse(t) : t.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
  } catch {
    try { items = [JSON.parse(t)]; } catch { throw new Error('the witness file must hold statements printed by `kvalreg audit head` (JSON, one per line)'); }
  }
  return items.map((s, i) => {
    const x = s as Partial<HeadStatement>;
    if (x?.statement !== 'kvalreg audit chain head' || !Number.isSafeInteger(x.seq) || typeof x.hash !== 'string' || typeof x.signature !== 'string' || typeof x.keyId !== 'string') {
      throw new Error(`statement ${i + 1} of the witness file is not a statement printed by \`kvalreg audit head\``);
    }
    return x as HeadStatement;
  });
}

/** Checks that the chain still holds each witnessed head, unchanged. Run after verifyAudit has proven the chain. */
export async function checkWitness(pool: Pool, keys: AuditKeys, statements: HeadStatement[]): Promise<WitnessCheck[]> {
  const out: WitnessCheck[] = [];
  const headSeq = (await lastLink(pool))?.seq ?? 0;
  const cp = (await pool.query('SELECT seq, hash FROM audit_checkpoint ORDER BY seq DESC LIMIT 1')).rows[0];
  for (const s of statements) {
    const signer = keys.signing.get(s.keyId);
    if (!signer) { out.push({ seq: s.seq, ok: false, note: `signed with audit key "${s.keyId}", which is not loaded` }); continue; }
    const { signature, ...body } = s;
    if (!crypto.verify(null, statementBytes(body), signer.publicKey, Buffer.from(signature, 'base64'))) {
      out.push({ seq: s.seq, ok: false, note: 'the statement does not match its signature: it was not issued by this platform, or was changed' });
      continue;
    }
    if (s.seq > headSeq) { out.push({ seq: s.seq, ok: false, note: `the chain ends at event ${headSeq}, before the witnessed event ${s.seq}: the newest events were removed` }); continue; }
    const row = (await pool.query('SELECT hash FROM audit_event WHERE seq = $1', [s.seq])).rows[0];
    const hash: Buffer | undefined = row?.hash ?? (cp && Number(cp.seq) === s.seq ? cp.hash : undefined);
    if (!hash) {
      out.push({ seq: s.seq, ok: true, note: `event ${s.seq} was pruned under the retention rule (checkpoint at ${cp?.seq}); the witness can no longer be compared` });
    } else if (hash.toString('hex') !== s.hash) {
      out.push({ seq: s.seq, ok: false, note: `event ${s.seq} no longer has the witnessed hash: the chain was rewritten and re-sealed since ${s.issuedAt}` });
    } else {
      out.push({ seq: s.seq, ok: true, note: `event ${s.seq} is in the chain unchanged (witnessed ${s.issuedAt})` });
    }
  }
  return out;
}
