// The sealer's signed record of how far it has sealed the audit trail: the sequence number and
// hash of the newest sealed event, and the sealer's watermark (every event written before it had
// been sealed). A hash chain proves each of its links but not its own length: with the newest
// events removed, or all of them, what is left still proves itself. So the sealer signs its state
// with the audit key after every batch and keeps it in two places:
//   - in the database (`audit_trail_state`, one row, written in the sealing transaction): an
//     emptied or shortened trail no longer reaches the state that row records;
//   - in a file beside the audit key, outside the database (written after each commit): the
//     database's owner can remove that row, or roll the whole database back to an earlier state
//     that is consistent in itself, but cannot make the file forget what was sealed.
// Before it seals, the sealer checks the chain against both and refuses to extend a trail that
// does not reach them; `kvalreg audit verify` reports each difference by its kind. The only way to
// make a shorter trail acceptable again is a signed restore checkpoint (`kvalreg audit
// accept-restore`), which needs the audit key.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Queryable } from '../db/pool.ts';
import type { AuditKeys } from './keys.ts';

/** What can be wrong with the trail; each kind has its own message in `kvalreg audit verify`. */
export type ProblemKind =
  | 'deleted' // a sealed event is missing inside the chain
  | 'removed-from-start' // the oldest events are missing and no signed checkpoint stands in for them
  | 'relinked' // an event's link to the one before does not match
  | 'changed' // an event's content does not match its seal
  | 'key-not-loaded' // sealed or signed with an audit key that is not loaded
  | 'legacy-seal' // sealed with the legacy key (derivable from the identity hash key) where only the audit key counts
  | 'checkpoint-forged' // a checkpoint does not match its signature, or not the chain
  | 'checkpoint-not-pruned' // events remain behind a pruning checkpoint
  | 'back-dated' // an event claims a time before events that were sealed before it was written
  | 'forward-dated' // an event claims a time after it was sealed
  | 'emptied' // no sealed event is left, but the signed state says events were sealed
  | 'shortened' // the trail ends before the signed state in the database
  | 'rolled-back' // the trail ends before the sealer's own state file
  | 're-sealed' // the event the signed state names has another hash now
  | 'state-removed' // the signed state is missing from the database
  | 'state-forged'; // a signed state does not match its signature

export interface Problem {
  kind: ProblemKind;
  /** The sequence number where the problem is (for a state: where the trail should reach). */
  seq: number;
  id: number | null;
  problem: string;
}

export interface TrailState {
  /** The newest sealed event (0: nothing sealed yet). */
  seq: number;
  /** Its hash, hex (the genesis hash, zeros, for 0). */
  hash: string;
  /** Every event written (committed) before this time had been sealed; null until known. UTC, microseconds, no zone letter. */
  watermark: string | null;
  /** When the sealer wrote this state. UTC, microseconds, no zone letter. */
  sealedAt: string;
  keyId: string;
  /** HMAC-SHA-256 under the audit chain key of `keyId`, hex. */
  signature: string;
}

/**
 * A timestamptz column as the exact text that is signed and hashed: UTC with microseconds. The
 * functions are named with their schema, so that an owner who puts a schema of their own first in
 * the search path cannot hand the sealer other times or texts than the ones stored.
 */
export const utcText = (column: string) => `pg_catalog.to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')`;
/** The inverse of utcText for a text parameter or column. */
export const fromUtcText = (expr: string) => `(${expr}::timestamp AT TIME ZONE 'UTC')`;

function stateMessage(s: Omit<TrailState, 'signature'>): string {
  return JSON.stringify(['kvalreg audit trail state', s.seq, s.hash, s.watermark, s.sealedAt, s.keyId]);
}

export function signState(keys: AuditKeys, body: Omit<TrailState, 'keyId' | 'signature'>): TrailState {
  const keyId = keys.current;
  const signature = crypto
    .createHmac('sha256', keys.chain.get(keyId)!)
    .update(stateMessage({ ...body, keyId }))
    .digest('hex');
  return { ...body, keyId, signature };
}

/** Null if the signature holds; otherwise why not. */
export function stateSignatureProblem(keys: AuditKeys, s: TrailState, where: string): Problem | null {
  const key = keys.chain.get(s.keyId);
  if (!key)
    return {
      kind: 'key-not-loaded',
      seq: s.seq,
      id: null,
      problem: `the signed trail state (${where}) was signed with audit key "${s.keyId}", which is not loaded: add it to KVALREG_AUDIT_KEYS_OLD or the audit key file`,
    };
  const good = crypto.createHmac('sha256', key).update(stateMessage(s)).digest();
  const given = Buffer.from(String(s.signature), 'hex');
  if (given.length !== good.length || !crypto.timingSafeEqual(good, given)) {
    return {
      kind: 'state-forged',
      seq: s.seq,
      id: null,
      problem: `the signed trail state (${where}) does not match its signature: it was changed or forged without the audit key`,
    };
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// In the database

export async function readDbState(db: Queryable): Promise<TrailState | null> {
  const r = (
    await db.query(
      `SELECT seq, encode(hash, 'hex') AS hash, ${utcText('watermark')} AS watermark, ${utcText('sealed_at')} AS sealed_at, key_id, encode(signature, 'hex') AS signature FROM audit_trail_state`,
    )
  ).rows[0];
  return r
    ? { seq: Number(r.seq), hash: r.hash, watermark: r.watermark, sealedAt: r.sealed_at, keyId: r.key_id, signature: r.signature }
    : null;
}

export async function writeDbState(db: Queryable, s: TrailState): Promise<void> {
  await db.query(
    `INSERT INTO audit_trail_state (trail, seq, hash, watermark, sealed_at, key_id, signature)
     VALUES (true, $1, decode($2, 'hex'), ${fromUtcText('$3')}, ${fromUtcText('$4')}, $5, decode($6, 'hex'))
     ON CONFLICT (trail) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, watermark = EXCLUDED.watermark,
       sealed_at = EXCLUDED.sealed_at, key_id = EXCLUDED.key_id, signature = EXCLUDED.signature`,
    [s.seq, s.hash, s.watermark, s.sealedAt, s.keyId, s.signature],
  );
}

// ---------------------------------------------------------------------------------------------
// In the file beside the key: one entry per database name, so that one data directory can serve
// several databases (benchmarks do) without their states being mistaken for one another.

interface StateFile {
  note?: string;
  databases: Record<string, TrailState>;
}

export type FileState = { state: TrailState | null } | { unreadable: string };

export function readFileState(file: string, database: string): FileState {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: null };
    return { unreadable: `cannot read the audit state file ${file}: ${(err as Error).message}` };
  }
  try {
    const parsed = JSON.parse(text) as StateFile;
    const s = parsed?.databases?.[database];
    if (s === undefined) return { state: null };
    if (
      !Number.isSafeInteger(s.seq) ||
      typeof s.hash !== 'string' ||
      typeof s.keyId !== 'string' ||
      typeof s.signature !== 'string' ||
      typeof s.sealedAt !== 'string'
    ) {
      return { unreadable: `the audit state file ${file} has an entry for database "${database}" that is not a signed trail state` };
    }
    return { state: s };
  } catch {
    return { unreadable: `the audit state file ${file} is not valid JSON` };
  }
}

/**
 * Records the state for `database`, atomically (a new file renamed over the old). Never moves the
 * record backwards unless `force` (a signed restore checkpoint was just recorded): two sealers on
 * one machine may finish in either order.
 */
export function writeFileState(file: string, database: string, s: TrailState, opts: { force?: boolean } = {}): void {
  let current: StateFile = { databases: {} };
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as StateFile;
    if (parsed && typeof parsed.databases === 'object' && parsed.databases) current = parsed;
  } catch {
    /* missing or unreadable: write a fresh one */
  }
  const old = current.databases[database];
  if (old && Number.isSafeInteger(old.seq) && old.seq > s.seq && !opts.force) return;
  current.note =
    "The kvalreg audit sealer's own record of how far it sealed each database's audit trail. Keep it with the audit key, apart from the database and its backups.";
  current.databases[database] = s;
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(current, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
}

// ---------------------------------------------------------------------------------------------
// The chain against a state

/** What the comparison needs to know of the chain as it is now. */
export interface ChainView {
  /** The newest sealed link: the newest sealed event, or the newest pruning checkpoint; null when there is neither. */
  head: { seq: number; hash: Buffer } | null;
  /** Whether any sealed event is left in the table. */
  hasSealedEvents: boolean;
  /** The hash at a sequence number: the event's, a pruning checkpoint's, 'pruned' if removed under the retention rule, null if missing. */
  hashAt(seq: number): Promise<Buffer | 'pruned' | null>;
}

/**
 * Whether the chain still reaches a signed state, and holds the hash it recorded. `source` says
 * which record it is: the database row (a trail that ends before it was emptied or shortened), or
 * the sealer's file (the database itself, row included, was rolled back or emptied).
 */
export async function compareWithState(
  chain: ChainView,
  s: TrailState,
  source: 'database' | 'file',
  fileName?: string,
): Promise<Problem | null> {
  const headSeq = chain.head?.seq ?? 0;
  const when = `${s.sealedAt}Z`;
  const record =
    source === 'database' ? 'the signed trail state in the database' : `the sealer's own signed record outside the database (${fileName})`;
  if (headSeq < s.seq) {
    if (!chain.hasSealedEvents) {
      return {
        kind: 'emptied',
        seq: s.seq,
        id: null,
        problem: `the trail holds no sealed event, but ${record} says ${s.seq} events had been sealed by ${when}, and no signed checkpoint explains their removal: the trail was emptied`,
      };
    }
    if (source === 'file') {
      return {
        kind: 'rolled-back',
        seq: s.seq,
        id: null,
        problem: `the trail ends at event ${headSeq}, but ${record} says events up to ${s.seq} had been sealed by ${when}: the database was rolled back or its newest events removed (with its own record of them), and no signed restore checkpoint explains it`,
      };
    }
    return {
      kind: 'shortened',
      seq: s.seq,
      id: null,
      problem: `the trail ends at event ${headSeq}, but ${record} says events up to ${s.seq} had been sealed by ${when}: events ${headSeq + 1} to ${s.seq} were removed, and no signed checkpoint explains it`,
    };
  }
  if (s.seq === 0) return null;
  const h = await chain.hashAt(s.seq);
  if (h === 'pruned') return null;
  if (h === null)
    return {
      kind: 'deleted',
      seq: s.seq,
      id: null,
      problem: `event ${s.seq}, the newest sealed at ${when} according to ${record}, is missing: a row was deleted`,
    };
  if (h.toString('hex') !== s.hash) {
    return {
      kind: 're-sealed',
      seq: s.seq,
      id: null,
      problem: `event ${s.seq} no longer has the hash ${record} recorded at ${when}: the trail was rewritten and sealed again since`,
    };
  }
  return null;
}
