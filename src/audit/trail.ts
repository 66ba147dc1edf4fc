// The audit trail: who looked at or changed which person's data, when, why, and with what outcome.
// Events are written by the data-access door in the transaction that did the work; a sealer then
// links them into a chain with a keyed hash (HMAC-SHA-256 with the audit trail's own sealing key,
// see keys.ts), so that `verify` finds any row changed, removed or inserted afterwards.
//
// Against the database's owner — who can change, delete and insert rows with the guards switched
// off, and may hold the identity hash key — every rewrite must show in `verify`, each by its kind:
//   - the sealer gives each event its place (seq), its seal time and its watermark; an event
//     claiming a time before the watermark was inserted later, back-dated;
//   - the sealer signs how far it sealed (state.ts), in the database and in a file beside
//     the key, and refuses to extend a trail that no longer reaches that state: an emptied,
//     shortened, rolled-back or re-sealed trail is reported, unless a signed checkpoint explains it;
//   - seals made with the legacy key (derivable from the identity hash key) count only up to the
//     migration checkpoint that pinned them under the audit key, once.
// Pruning under the retention rule leaves a signed checkpoint that verification starts from; a
// witness statement of the chain's head, kept by an outside party, proves later that the trail was
// not re-sealed by someone holding the audit key itself.
import crypto from 'node:crypto';
import type { Pool, Queryable } from '../db/pool.ts';
import { prepared } from '../db/pool.ts';
import type { AuditKeys } from './keys.ts';
import {
  compareWithState,
  fromUtcText,
  readDbState,
  readFileState,
  signState,
  stateSignatureProblem,
  utcText,
  writeDbState,
  writeFileState,
  type ChainView,
  type Problem,
  type TrailState,
} from './state.ts';
import { KvalregError } from '../errors.ts';

export type { Problem, ProblemKind } from './state.ts';

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

const INSERT_EVENTS = (
  json: string,
) => `INSERT INTO audit_event (actor, role, unit, person_id, action, object, purpose, outcome, client, registry)
     SELECT e.actor, e.role, e.unit, e."personId", e.action, e.object, e.purpose, e.outcome, e.client, e.registry
     FROM jsonb_to_recordset(${json}::jsonb) AS e(actor text, role text, unit text, "personId" bigint, action text, object text, purpose text, outcome text, client text, registry text)`;

export async function writeEvents(db: Queryable, events: AuditEvent[]): Promise<void> {
  if (events.length === 0) return;
  await prepared(db, 'audit-insert2', INSERT_EVENTS('$1'), [JSON.stringify(events)]);
}

/** The same insert as one statement with the events inline (`literal` quotes a string), to send with the commit; '' when there are none. */
export function writeEventsSql(events: AuditEvent[], literal: (value: string) => string): string {
  return events.length === 0 ? '' : INSERT_EVENTS(literal(JSON.stringify(events)));
}

// Columns as text, exactly as hashed: times with microseconds in UTC, so nothing is lost in JS.
const ROW_COLUMNS = `id, seq, ${utcText('at')} AS at, actor, role, unit, person_id, action, object, purpose, outcome, client, registry, key_id, prev_hash, hash, ${utcText('sealed_at')} AS sealed_at, ${utcText('watermark')} AS watermark`;

interface Row {
  id: number;
  seq: number | null;
  at: string;
  actor: string;
  role: string | null;
  unit: string | null;
  person_id: number | null;
  action: string;
  object: string;
  purpose: string;
  outcome: string;
  client: string | null;
  registry: string | null;
  key_id: string | null;
  prev_hash: Buffer | null;
  hash: Buffer | null;
  sealed_at: string | null;
  watermark: string | null;
}

/**
 * How far an event's own time may lie before its watermark (or after its sealing) before it
 * counts as back-dated (forward-dated). An honest event is written just before its transaction
 * commits, so it is never older than the watermark by more than the time from that write to the
 * commit — milliseconds in the door, seconds for the largest batch of events. Five minutes leaves
 * room for that and for a clock step; an owner back-dating an event by less gains little.
 */
export const TIME_TOLERANCE_MS = 5 * 60_000;
/** When nothing is sealed for this long, the sealer still moves its signed watermark on (one row, one file write). */
const WATERMARK_REFRESH_MS = 60_000;

/**
 * The seal of one event. Rows sealed before the trail had its own key (key_id null) were hashed
 * without the registry and key id; rows sealed before the trail state existed, without the seal
 * time and watermark. Every row sealed now covers all of them.
 */
function linkHash(key: Buffer, prev: Buffer, seq: number, r: Row, keyId: string | null): Buffer {
  const fields: unknown[] = [seq, r.id, r.at, r.actor, r.role, r.unit, r.person_id, r.action, r.object, r.purpose, r.outcome, r.client];
  if (keyId !== null) fields.push(r.registry, keyId);
  if (r.sealed_at !== null) fields.push(r.sealed_at, r.watermark);
  return crypto.createHmac('sha256', key).update(prev).update(JSON.stringify(fields)).digest();
}

const GENESIS = Buffer.alloc(32);
const utc = (t: string) => Date.parse(`${t}Z`);

/** The last sealed link: the newest sealed event, or the newest pruning checkpoint if pruning removed every event. */
async function lastLink(db: Queryable): Promise<{ seq: number; hash: Buffer; isEvent: boolean } | null> {
  const ev = (await db.query('SELECT seq, hash FROM audit_event WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1')).rows[0];
  const cp = (await db.query("SELECT seq, hash FROM audit_checkpoint WHERE kind = 'prune' ORDER BY seq DESC LIMIT 1")).rows[0];
  if (ev && (!cp || Number(ev.seq) >= Number(cp.seq))) return { seq: Number(ev.seq), hash: ev.hash, isEvent: true };
  return cp ? { seq: Number(cp.seq), hash: cp.hash, isEvent: false } : null;
}

/** The chain as it is now, for comparing with a signed state. */
async function chainView(db: Queryable): Promise<ChainView> {
  const head = await lastLink(db);
  const newestPrune = Number(
    (await db.query("SELECT coalesce(max(seq), 0) AS seq FROM audit_checkpoint WHERE kind = 'prune'")).rows[0].seq,
  );
  return {
    head: head && { seq: head.seq, hash: head.hash },
    hasSealedEvents: !!head?.isEvent,
    hashAt: async (seq) => {
      if (seq === 0) return GENESIS;
      if (head && seq === head.seq) return head.hash;
      const ev = (await db.query('SELECT hash FROM audit_event WHERE seq = $1', [seq])).rows[0];
      if (ev) return ev.hash;
      const cp = (await db.query("SELECT hash FROM audit_checkpoint WHERE kind = 'prune' AND seq = $1", [seq])).rows[0];
      if (cp) return cp.hash;
      return seq <= newestPrune ? 'pruned' : null;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Checkpoints: pruning, the legacy seals' migration, and restores from a backup

export interface Checkpoint {
  id: number;
  kind: 'prune' | 'legacy' | 'restore';
  seq: number;
  hash: Buffer;
  event_at: string | null;
  pruned_before: Date | null;
  pruned_count: number | null;
  state_seq: number | null;
  note: string | null;
  created: string;
  key_id: string;
  signature: Buffer;
}

const CHECKPOINT_COLUMNS = `id, kind, seq, hash, event_at, pruned_before, pruned_count, state_seq, note, ${utcText('created_at')} AS created, key_id, signature`;

function checkpointMessage(
  c: Pick<Checkpoint, 'kind' | 'seq' | 'hash' | 'event_at' | 'pruned_before' | 'pruned_count' | 'state_seq' | 'note' | 'created'>,
): string {
  const hash = c.hash.toString('hex');
  if (c.kind === 'legacy') return JSON.stringify(['kvalreg audit legacy checkpoint', Number(c.seq), hash, c.event_at, c.created]);
  if (c.kind === 'restore')
    return JSON.stringify(['kvalreg audit restore checkpoint', Number(c.seq), hash, Number(c.state_seq), c.note, c.created]);
  return JSON.stringify([
    'kvalreg audit checkpoint',
    Number(c.seq),
    hash,
    c.event_at,
    new Date(c.pruned_before!).toISOString(),
    Number(c.pruned_count),
  ]);
}

function signCheckpoint(keys: AuditKeys, c: Parameters<typeof checkpointMessage>[0]): Buffer {
  return crypto.createHmac('sha256', keys.chain.get(keys.current)!).update(checkpointMessage(c)).digest();
}

const KIND_NAME = {
  prune: 'the checkpoint left by pruning',
  legacy: 'the migration checkpoint of the legacy seals',
  restore: 'the restore checkpoint',
} as const;

/** Null if the checkpoint's signature holds; otherwise why not. */
function checkpointProblem(keys: AuditKeys, c: Checkpoint): Problem | null {
  const key = keys.chain.get(c.key_id);
  if (!key)
    return {
      kind: 'key-not-loaded',
      seq: Number(c.seq),
      id: null,
      problem: `${KIND_NAME[c.kind]} at event ${c.seq} was signed with audit key "${c.key_id}", which is not loaded: add it to KVALREG_AUDIT_KEYS_OLD or the audit key file`,
    };
  const good = crypto.createHmac('sha256', key).update(checkpointMessage(c)).digest();
  if (c.signature.length !== good.length || !crypto.timingSafeEqual(good, c.signature)) {
    return {
      kind: 'checkpoint-forged',
      seq: Number(c.seq),
      id: null,
      problem: `${KIND_NAME[c.kind]} at event ${c.seq} does not match its signature: it was changed or forged`,
    };
  }
  return null;
}

interface Checkpoints {
  /** The newest pruning checkpoint (where the chain starts), and whether its signature holds. */
  prune?: Checkpoint;
  pruneHolds: boolean;
  legacy?: Checkpoint;
  restores: Checkpoint[];
  problems: Problem[];
}

/** Every checkpoint whose signature holds, by kind; the others as problems. */
async function readCheckpoints(db: Queryable, keys: AuditKeys): Promise<Checkpoints> {
  const out: Checkpoints = { pruneHolds: true, restores: [], problems: [] };
  const rows = (await db.query<Checkpoint>(`SELECT ${CHECKPOINT_COLUMNS} FROM audit_checkpoint ORDER BY seq, id`)).rows;
  for (const c of rows) {
    const p = checkpointProblem(keys, c);
    // The newest pruning checkpoint says where the chain starts; a forged one is reported, and
    // nothing after it is taken as proven.
    if (c.kind === 'prune') {
      out.prune = c;
      out.pruneHolds = !p;
      if (p) out.problems.push(p);
      continue;
    }
    if (p) {
      out.problems.push(p);
      continue;
    }
    if (c.kind === 'legacy') out.legacy ??= c;
    else out.restores.push(c);
  }
  return out;
}

/**
 * The chain against the sealer's signed state, in the database and in its file: every way the
 * trail may have been emptied, shortened, rolled back or re-sealed since it was last sealed. The
 * sealer refuses to extend a trail with any of these; `verify` reports them.
 */
async function stateProblems(db: Queryable, keys: AuditKeys, chain: ChainView, cps: Checkpoints): Promise<Problem[]> {
  const problems: Problem[] = [];
  const database = (await db.query('SELECT current_database() AS name')).rows[0].name as string;
  const dbState = await readDbState(db);
  const file = readFileState(keys.stateFile, database);
  const fileState = 'state' in file ? file.state : null;
  if ('unreadable' in file) {
    problems.push({
      kind: 'state-forged',
      seq: chain.head?.seq ?? 0,
      id: null,
      problem: `${file.unreadable}: restore it from its backup beside the audit key (or, if it is lost, remove it: the sealer starts a new one from the database's signed state)`,
    });
  }
  let dbStateDiffers = false;
  if (dbState) {
    const p = stateSignatureProblem(keys, dbState, 'database') ?? (await compareWithState(chain, dbState, 'database'));
    if (p) {
      problems.push(p);
      dbStateDiffers = true;
    }
  } else {
    // No state in the database is right only before this trail was first sealed with one.
    const head = chain.head?.seq ?? 0;
    const sealedWithState =
      chain.hasSealedEvents && (await db.query('SELECT sealed_at IS NOT NULL AS yes FROM audit_event WHERE seq = $1', [head])).rows[0]?.yes;
    const evidence = fileState
      ? `the sealer's own record outside the database (${keys.stateFile}) says events up to ${fileState.seq} had been sealed by ${fileState.sealedAt}Z`
      : sealedWithState
        ? `event ${head} was sealed with one`
        : cps.legacy || cps.restores.length
          ? 'the signed checkpoints were recorded with one'
          : null;
    if (evidence)
      problems.push({
        kind: 'state-removed',
        seq: fileState?.seq ?? head,
        id: null,
        problem: `the signed trail state is missing from the database, though ${evidence}: it was removed`,
      });
  }
  if (fileState) {
    // A restore accepted (with the audit key) after the file was written explains a shorter
    // trail; and where the database's own state already differs, that one says it.
    const restored = cps.restores.some((r) => r.created > fileState.sealedAt);
    let p = stateSignatureProblem(keys, fileState, `file ${keys.stateFile}`);
    if (!p && !restored && !dbStateDiffers) {
      // The file is written after the database commits the same state, so it is never newer than
      // the state in the database — unless that state was put back from earlier.
      p = await compareWithState(chain, fileState, 'file', keys.stateFile);
      if (!p && dbState && fileState.sealedAt > dbState.sealedAt) {
        p = {
          kind: 'rolled-back',
          seq: fileState.seq,
          id: null,
          problem: `the signed trail state in the database was written at ${dbState.sealedAt}Z, before the sealer's own record outside the database (${keys.stateFile}, written at ${fileState.sealedAt}Z): the database, its signed state included, was rolled back to an earlier state`,
        };
      }
    }
    if (p) problems.push(p);
  }
  return problems;
}

/** Sealing refused: the trail does not match the sealer's signed state (see `problems`). */
export class AuditSealRefused extends KvalregError {
  constructor(readonly problems: Problem[]) {
    super(
      'internal',
      `the audit trail was not sealed further, because it does not match its signed state: ${problems.map((p) => p.problem).join('; ')}. Run \`kvalreg audit verify\`; if a database backup was restored, \`kvalreg audit accept-restore --reason …\` records it`,
    );
    this.name = 'AuditSealRefused';
  }
}

/**
 * The first time the trail is sealed with a signed state, events sealed with the legacy key (the
 * one derived from the identity hash key, from before the trail had a key of its own) are pinned:
 * the last one's sequence number and hash go into a checkpoint signed with the audit key. Anyone
 * holding the hash key can re-seal legacy events, but not so that they still end in the pinned
 * hash; and a legacy seal after it, or without it, is refused. The events themselves are kept as
 * they are (re-sealing them would rewrite the evidence and void every witness statement of them).
 */
async function pinLegacySeals(db: Queryable, keys: AuditKeys): Promise<void> {
  if ((await db.query("SELECT 1 FROM audit_checkpoint WHERE kind = 'legacy'")).rowCount) return;
  const last = (
    await db.query(
      `SELECT seq, hash, ${utcText('at')} AS at FROM audit_event WHERE seq IS NOT NULL AND key_id IS NULL ORDER BY seq DESC LIMIT 1`,
    )
  ).rows[0];
  if (!last) return;
  const created = (await db.query(`SELECT ${utcText('pg_catalog.clock_timestamp()')} AS t`)).rows[0].t as string;
  const c = {
    kind: 'legacy' as const,
    seq: Number(last.seq),
    hash: last.hash as Buffer,
    event_at: last.at as string,
    pruned_before: null,
    pruned_count: null,
    state_seq: null,
    note: null,
    created,
  };
  await db.query(
    `INSERT INTO audit_checkpoint (kind, seq, hash, event_at, created_at, key_id, signature, note) VALUES ('legacy', $1, $2, $3, ${fromUtcText('$4')}, $5, $6, $7)`,
    [
      c.seq,
      c.hash,
      c.event_at,
      created,
      keys.current,
      signCheckpoint(keys, c),
      `events up to ${c.seq} were sealed with the legacy key (derived from the identity hash key) before the trail had its own`,
    ],
  );
}

// ---------------------------------------------------------------------------------------------
// Sealing

/**
 * Seals every unsealed event, in id order, onto the end of the chain, and signs the new state.
 * Safe to run from several processes. Each event's place (seq), seal time and watermark come from
 * the sealer: whatever an insert claims, an event written before the watermark was sealed as
 * late, and `verify` reports it as back-dated. Throws AuditSealRefused, sealing nothing, when the
 * chain does not reach the signed state (emptied, shortened, rolled back or re-sealed).
 */
export async function sealAudit(pool: Pool, keys: AuditKeys, opts: { watermarkRefreshMs?: number } = {}): Promise<number> {
  const refreshMs = opts.watermarkRefreshMs ?? WATERMARK_REFRESH_MS;
  const keyId = keys.current;
  const key = keys.chain.get(keyId)!;
  let sealed = 0;
  for (;;) {
    const client = await pool.connect();
    let written: { database: string; state: TrailState } | undefined;
    let rowCount = 0;
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [SEAL_LOCK]);
      // Taken before the unsealed rows are read (statement_timestamp: when this statement began,
      // before its snapshot): if this batch takes every unsealed row there is, every event
      // committed before this moment is sealed by it — the next watermark.
      const pre = (await client.query(`SELECT current_database() AS database, ${utcText('pg_catalog.statement_timestamp()')} AS started`))
        .rows[0] as { database: string; started: string };
      const chain = await chainView(client);
      const cps = await readCheckpoints(client, keys);
      const problems = [...cps.problems.filter((p) => p.kind !== 'key-not-loaded'), ...(await stateProblems(client, keys, chain, cps))];
      if (problems.length) throw new AuditSealRefused(problems);
      const state = await readDbState(client);
      if (!state) await pinLegacySeals(client, keys);
      // clock_timestamp() is read after this statement's snapshot: every row it sees was committed, so written, before it.
      const rows = (
        await client.query<Row & { now: string }>(
          `SELECT ${ROW_COLUMNS}, ${utcText('pg_catalog.clock_timestamp()')} AS now FROM audit_event WHERE seq IS NULL ORDER BY id LIMIT ${BATCH}`,
        )
      ).rows;
      rowCount = rows.length;
      const complete = rows.length < BATCH;
      const watermark = state?.watermark ?? null;
      const sealedAt = rows.length ? rows[0].now : pre.started;
      let prev: Buffer = chain.head?.hash ?? GENESIS;
      let seq = chain.head?.seq ?? 0;
      const updates = rows.map((r) => {
        seq += 1;
        const hash = linkHash(key, prev, seq, { ...r, sealed_at: sealedAt, watermark }, keyId);
        const u = { id: r.id, seq, prev: prev.toString('hex'), hash: hash.toString('hex') };
        prev = hash;
        return u;
      });
      if (updates.length) {
        await client.query(
          `UPDATE audit_event a SET seq = u.seq, prev_hash = decode(u.prev, 'hex'), hash = decode(u.hash, 'hex'), key_id = $2,
             sealed_at = ${fromUtcText('$3')}, watermark = ${fromUtcText('$4')}
           FROM jsonb_to_recordset($1::jsonb) AS u(id bigint, seq bigint, prev text, hash text) WHERE a.id = u.id`,
          [JSON.stringify(updates), keyId, sealedAt, watermark],
        );
      }
      const nextWatermark = complete ? pre.started : watermark;
      const stale = !state || (complete && (state.watermark === null || utc(pre.started) - utc(state.watermark) >= refreshMs));
      if (updates.length || stale) {
        const next = signState(keys, { seq, hash: prev.toString('hex'), watermark: nextWatermark, sealedAt });
        await writeDbState(client, next);
        written = { database: pre.database, state: next };
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
    sealed += rowCount;
    // After the commit, never before: the file must not claim a head the database does not have.
    if (written) {
      try {
        writeFileState(keys.stateFile, written.database, written.state);
      } catch (err) {
        throw new Error(
          `sealed ${sealed} audit events, but could not write the sealer's state file ${keys.stateFile} (${(err as Error).message}): without it a database rolled back or emptied is not found; make its folder writable or set KVALREG_AUDIT_STATE_FILE`,
        );
      }
    }
    if (rowCount < BATCH) return sealed;
  }
}

export interface VerifyResult {
  ok: boolean;
  checked: number;
  unsealed: number;
  /** Where verification started: after the newest checkpoint left by pruning, if any. */
  from?: { seq: number; prunedBefore: string };
  /** The newest sealed link (the chain's head) when the chain holds. */
  head?: { seq: number; hash: string };
  /** The first problem: where the trail stops holding, and why. */
  broken?: Problem;
  /** Every problem found, in the order found; the walk stops at the first broken link, not at a back-dated event. */
  problems: Problem[];
  /** Events sealed with the legacy key before the trail had its own, pinned by the signed migration checkpoint. */
  legacy?: { seq: number; pinnedAt: string };
  /** Restores from a backup accepted with `kvalreg audit accept-restore`. */
  restores: Array<{ seq: number; stateSeq: number; at: string; reason: string }>;
}

/**
 * Walks the chain from the start (or the newest pruning checkpoint), reading in pages so that it
 * works on any size of trail, then compares where it ends with the sealer's signed state.
 * `upTo` proves only the part up to that sequence number (pruning does, before removing it).
 */
export async function verifyAudit(
  pool: Pool,
  keys: AuditKeys,
  onProgress?: (checked: number) => void,
  opts: { upTo?: number } = {},
): Promise<VerifyResult> {
  let prev: Buffer = GENESIS;
  let expected = 1;
  let checked = 0;
  let from: VerifyResult['from'];
  let keyed = false; // once a row is sealed with the trail's own key, no later row may claim the legacy key
  const cps = await readCheckpoints(pool, keys);
  const problems: Problem[] = [...cps.problems];
  const legacy = cps.legacy ? { seq: Number(cps.legacy.seq), pinnedAt: `${cps.legacy.created}Z` } : undefined;
  const restores = cps.restores.map((r) => ({
    seq: Number(r.seq),
    stateSeq: Number(r.state_seq),
    at: `${r.created}Z`,
    reason: r.note ?? '',
  }));
  const restoreAt = new Map(cps.restores.map((r) => [Number(r.seq), r]));
  let unsealed = 0;
  const result = (): VerifyResult => ({
    ok: problems.length === 0,
    checked,
    unsealed,
    ...(from ? { from } : {}),
    ...(problems.length ? { broken: problems[0] } : { head: { seq: expected - 1, hash: prev.toString('hex') } }),
    problems,
    ...(legacy ? { legacy } : {}),
    restores,
  });
  const add = (kind: Problem['kind'], seq: number, id: number | null, problem: string) => {
    problems.push({ kind, seq, id, problem });
  };

  // Pruned events: the newest pruning checkpoint stands in for them, if its signature holds.
  const first = (await pool.query('SELECT min(seq) AS seq FROM audit_event WHERE seq IS NOT NULL')).rows[0].seq as number | null;
  const cp = cps.prune;
  if (cp) {
    if (!cps.pruneHolds) return result();
    if (first !== null && Number(first) <= Number(cp.seq)) {
      add(
        'checkpoint-not-pruned',
        Number(first),
        null,
        `events up to ${cp.seq} should have been pruned behind the checkpoint, but event ${first} is still there`,
      );
      return result();
    }
    prev = cp.hash;
    expected = Number(cp.seq) + 1;
    from = { seq: Number(cp.seq), prunedBefore: new Date(cp.pruned_before!).toISOString() };
  }
  walk: for (;;) {
    const limit = opts.upTo !== undefined ? Math.min(BATCH, opts.upTo - expected + 1) : BATCH;
    if (limit <= 0) break;
    const rows = (await pool.query<Row>(`SELECT ${ROW_COLUMNS} FROM audit_event WHERE seq >= $1 ORDER BY seq LIMIT ${limit}`, [expected]))
      .rows;
    for (const r of rows) {
      if (Number(r.seq) !== expected) {
        if (expected === 1 || (!checked && !from))
          add(
            'removed-from-start',
            expected,
            null,
            `events ${expected} to ${Number(r.seq) - 1} are missing and no signed checkpoint stands in for them: they were deleted`,
          );
        else add('deleted', expected, null, `event ${expected} is missing (the next is ${r.seq}): a row was deleted`);
        break walk;
      }
      if (!r.prev_hash || !r.prev_hash.equals(prev)) {
        add('relinked', expected, r.id, 'its link to the previous event does not match: a row before it was changed, removed or inserted');
        break walk;
      }
      let key: Buffer | undefined;
      if (r.key_id === null) {
        // The legacy key is derived from the identity hash key, which the database's owner may
        // hold: its seals count only where the signed migration checkpoint pinned them.
        if (keyed) {
          add(
            'legacy-seal',
            expected,
            r.id,
            'it claims the legacy key (derived from the identity hash key) after events sealed with the audit key: it was re-sealed without the audit key',
          );
          break walk;
        }
        if (!cps.legacy) {
          add(
            'legacy-seal',
            expected,
            r.id,
            'it is sealed with the legacy key (derived from the identity hash key), and no migration checkpoint signed with the audit key vouches for legacy seals: the trail was re-sealed without the audit key',
          );
          break walk;
        }
        if (expected > Number(cps.legacy.seq)) {
          add(
            'legacy-seal',
            expected,
            r.id,
            `it is sealed with the legacy key (derived from the identity hash key), after the last legacy seal pinned by the migration checkpoint (event ${cps.legacy.seq}): it was re-sealed without the audit key`,
          );
          break walk;
        }
        key = keys.legacy;
      } else {
        keyed = true;
        key = keys.chain.get(r.key_id);
        if (!key) {
          add(
            'key-not-loaded',
            expected,
            r.id,
            `it was sealed with audit key "${r.key_id}", which is not loaded: add that key to KVALREG_AUDIT_KEYS_OLD or the audit key file`,
          );
          break walk;
        }
      }
      if (!r.hash || !r.hash.equals(linkHash(key, prev, expected, r, r.key_id))) {
        add('changed', expected, r.id, 'its content does not match its seal: the row was changed, or inserted without the key');
        break walk;
      }
      if (cps.legacy && expected === Number(cps.legacy.seq) && !r.hash.equals(cps.legacy.hash)) {
        add(
          'legacy-seal',
          expected,
          r.id,
          `the events sealed with the legacy key no longer end in the hash the migration checkpoint pinned on ${cps.legacy.created}Z: they were rewritten and re-sealed with the legacy key`,
        );
        break walk;
      }
      const restore = restoreAt.get(expected);
      if (restore && !restore.hash.equals(r.hash))
        add(
          're-sealed',
          expected,
          r.id,
          `it no longer has the hash the restore checkpoint of ${restore.created}Z recorded: the trail was rewritten and re-sealed since`,
        );
      // The event's own time against its sealing, both covered by the seal. An event written
      // before the watermark would have been sealed in an earlier batch: it was inserted later,
      // around the insert trigger, with an earlier time.
      if (r.sealed_at !== null) {
        if (r.watermark !== null && utc(r.at) < utc(r.watermark) - TIME_TOLERANCE_MS) {
          add(
            'back-dated',
            expected,
            r.id,
            `it says it happened at ${r.at}Z, but every event written before ${r.watermark}Z had already been sealed when it was (at ${r.sealed_at}Z): it was inserted later with an earlier time`,
          );
        } else if (utc(r.at) > utc(r.sealed_at) + TIME_TOLERANCE_MS) {
          add(
            'forward-dated',
            expected,
            r.id,
            `it says it happened at ${r.at}Z, after it was sealed at ${r.sealed_at}Z: it was inserted with a later time`,
          );
        }
      }
      prev = r.hash;
      expected += 1;
      checked += 1;
    }
    onProgress?.(checked);
    if (rows.length < limit) break;
  }
  unsealed = Number((await pool.query('SELECT count(*) FROM audit_event WHERE seq IS NULL')).rows[0].count);
  // Where the chain ends against where the sealer signed that it ended: read under the sealer's
  // lock, so that no sealing runs between reading the chain and reading the sealer's file (which
  // it writes after its commit, so that the file is then never ahead of what is read here).
  if (opts.upTo === undefined) {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [SEAL_LOCK]);
      problems.push(...(await stateProblems(client, keys, await chainView(client), await readCheckpoints(client, keys))));
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }
  return result();
}

// ---------------------------------------------------------------------------------------------
// Restores from a backup

/**
 * After a database backup was restored, the trail ends before the sealer's signed state, and
 * sealing is refused. With the audit key, this records that as a fact: a restore checkpoint (the
 * head the trail now has, how far it had been sealed, the reason, the time) signed with the
 * audit key, a new signed state at the restored head, and an event. Verification then reports
 * the restore instead of a shortened trail; events sealed between the backup and the restore stay
 * lost, and every witness statement of them keeps failing.
 */
export async function acceptRestore(pool: Pool, keys: AuditKeys, reason: string): Promise<{ seq: number; stateSeq: number }> {
  const why = reason.trim();
  if (!why) throw new Error('give the reason for accepting the shorter trail (which backup was restored, and why): --reason "…"');
  // The chain itself must hold: a restore explains a trail that ends early, not one that was
  // changed. (Back-dated events stay reported whatever is accepted.)
  const walk = await verifyAudit(pool, keys, undefined, { upTo: Number.MAX_SAFE_INTEGER });
  const chainProblems = walk.problems.filter((p) => p.kind !== 'back-dated' && p.kind !== 'forward-dated');
  if (chainProblems.length)
    throw new Error(
      `the audit trail is broken at event ${chainProblems[0].seq} (${chainProblems[0].problem}); a restore checkpoint explains only a trail that ends early, so nothing was recorded`,
    );
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [SEAL_LOCK]);
    const database = (await client.query('SELECT current_database() AS name')).rows[0].name as string;
    const chain = await chainView(client);
    const cps = await readCheckpoints(client, keys);
    const problems = await stateProblems(client, keys, chain, cps);
    if (!problems.length) throw new Error('nothing to accept: the audit trail reaches its signed state');
    const dbState = await readDbState(client);
    const file = readFileState(keys.stateFile, database);
    const stateSeq = Math.max(dbState?.seq ?? 0, 'state' in file ? (file.state?.seq ?? 0) : 0);
    const created = (await client.query(`SELECT ${utcText('pg_catalog.clock_timestamp()')} AS t`)).rows[0].t as string;
    const head = { seq: chain.head?.seq ?? 0, hash: chain.head?.hash ?? GENESIS };
    const c = {
      kind: 'restore' as const,
      seq: head.seq,
      hash: head.hash,
      event_at: null,
      pruned_before: null,
      pruned_count: null,
      state_seq: stateSeq,
      note: why,
      created,
    };
    const saved = (
      await client.query(
        `INSERT INTO audit_checkpoint (kind, seq, hash, state_seq, note, created_at, key_id, signature) VALUES ('restore', $1, $2, $3, $4, ${fromUtcText('$5')}, $6, $7) RETURNING id`,
        [c.seq, c.hash, stateSeq, why, created, keys.current, signCheckpoint(keys, c)],
      )
    ).rows[0];
    // The watermark is kept only from a state in the database that holds and matches the restored chain.
    const dbStateHolds =
      dbState && !stateSignatureProblem(keys, dbState, 'database') && !(await compareWithState(chain, dbState, 'database'));
    const watermark = dbStateHolds ? dbState.watermark : null;
    const next = signState(keys, { seq: head.seq, hash: head.hash.toString('hex'), watermark, sealedAt: created });
    await writeDbState(client, next);
    await writeEvents(client, [
      {
        actor: 'platform:audit-restore',
        role: 'platform',
        unit: null,
        personId: null,
        action: 'accept-restore',
        object: `audit/checkpoint/${saved.id}`,
        purpose: `restored trail ends at event ${head.seq}, had reached ${stateSeq}: ${why}`.slice(0, 1000),
        outcome: 'ok',
        client: null,
      },
    ]);
    await client.query('COMMIT');
    writeFileState(keys.stateFile, database, next, { force: true });
    return { seq: head.seq, stateSeq };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

// ---------------------------------------------------------------------------------------------
// Retention

export interface PruneResult {
  pruned: number;
  checkpoint: { seq: number; prunedBefore: string } | null;
}

/**
 * Removes sealed events older than `retentionDays`, after proving the part to be removed, behind a
 * checkpoint signed with the sealing key. Needs the owning role: the application role has no
 * DELETE on the trail, and the trigger lets a DELETE through only up to a checkpoint recorded in
 * the same transaction. The pruning itself is recorded as an event.
 */
export async function pruneAudit(pool: Pool, keys: AuditKeys, retentionDays: number, now = new Date()): Promise<PruneResult> {
  if (!Number.isInteger(retentionDays) || retentionDays < 1)
    throw new Error('the retention period must be a whole number of days, 1 or more');
  await sealAudit(pool, keys);
  const cutoff = new Date(now.getTime() - retentionDays * 86_400_000);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [SEAL_LOCK]);
    // The boundary: every event up to it is older than the cutoff (events are sealed in id order,
    // and times follow ids to within the microseconds of concurrent inserts).
    const b = (
      await client.query(
        `SELECT coalesce((SELECT min(seq) - 1 FROM audit_event WHERE seq IS NOT NULL AND at >= $1), (SELECT max(seq) FROM audit_event WHERE seq IS NOT NULL)) AS seq`,
        [cutoff],
      )
    ).rows[0];
    const boundary = b.seq === null ? null : Number(b.seq);
    const since = Number((await client.query('SELECT coalesce(min(seq), 0) AS seq FROM audit_event WHERE seq IS NOT NULL')).rows[0].seq);
    if (boundary === null || boundary < since || since === 0) {
      await client.query('COMMIT');
      return { pruned: 0, checkpoint: null };
    }
    // Never remove what cannot be proven: the part to be removed must verify first.
    const proof = await verifyAudit(pool, keys, undefined, { upTo: boundary });
    if (!proof.ok)
      throw new Error(
        `the audit trail is broken at event ${proof.broken!.seq} (${proof.broken!.problem}); nothing was pruned, so the evidence is kept`,
      );
    const last = (await client.query<Row>(`SELECT ${ROW_COLUMNS} FROM audit_event WHERE seq = $1`, [boundary])).rows[0];
    const count = Number((await client.query('SELECT count(*) FROM audit_event WHERE seq <= $1', [boundary])).rows[0].count);
    const cp = {
      kind: 'prune' as const,
      seq: boundary,
      hash: last.hash!,
      event_at: last.at,
      pruned_before: cutoff,
      pruned_count: count,
      state_seq: null,
      note: null,
      created: '',
    };
    const signature = signCheckpoint(keys, cp);
    const saved = (
      await client.query(
        `INSERT INTO audit_checkpoint (kind, seq, hash, event_at, pruned_before, pruned_count, key_id, signature) VALUES ('prune', $1, $2, $3, $4, $5, $6, $7) RETURNING id`,
        [cp.seq, cp.hash, cp.event_at, cutoff, count, keys.current, signature],
      )
    ).rows[0];
    await client.query("SELECT set_config('kvalreg.audit_prune', $1, true)", [String(boundary)]);
    const deleted = await client.query('DELETE FROM audit_event WHERE seq <= $1', [boundary]);
    await writeEvents(client, [
      {
        actor: 'platform:audit-prune',
        role: 'platform',
        unit: null,
        personId: null,
        action: 'prune',
        object: `audit/checkpoint/${saved.id}`,
        purpose: `retention ${retentionDays} days`,
        outcome: 'ok',
        client: null,
      },
    ]);
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
  const body = {
    statement: 'kvalreg audit chain head' as const,
    seq: Number(r.seq),
    id: Number(r.id),
    hash: r.hash!.toString('hex'),
    at: `${r.at}Z`,
    issuedAt: new Date().toISOString(),
    keyId: keys.current,
  };
  const signature = crypto.sign(null, statementBytes(body), keys.signing.get(keys.current)!.privateKey).toString('base64');
  return { ...body, signature };
}

export interface WitnessCheck {
  seq: number;
  ok: boolean;
  note: string;
}

/** Reads statements from a witness file: one JSON statement, a JSON array, or one per line. */
export function parseWitness(text: string): HeadStatement[] {
  const t = text.trim();
  if (!t) throw new Error('the witness file is empty');
  let items: unknown[];
  try {
    items = t.startsWith('[')
      ? JSON.parse(t)
      : t
          .split('\n')
          .filter((l) => l.trim())
          .map((l) => JSON.parse(l));
  } catch {
    try {
      items = [JSON.parse(t)];
    } catch {
      throw new Error('the witness file must hold statements printed by `kvalreg audit head` (JSON, one per line)');
    }
  }
  return items.map((s, i) => {
    const x = s as Partial<HeadStatement>;
    if (
      x?.statement !== 'kvalreg audit chain head' ||
      !Number.isSafeInteger(x.seq) ||
      typeof x.hash !== 'string' ||
      typeof x.signature !== 'string' ||
      typeof x.keyId !== 'string'
    ) {
      throw new Error(`statement ${i + 1} of the witness file is not a statement printed by \`kvalreg audit head\``);
    }
    return x as HeadStatement;
  });
}

/** Checks that the chain still holds each witnessed head, unchanged. Run after verifyAudit has proven the chain. */
export async function checkWitness(pool: Pool, keys: AuditKeys, statements: HeadStatement[]): Promise<WitnessCheck[]> {
  const out: WitnessCheck[] = [];
  const headSeq = (await lastLink(pool))?.seq ?? 0;
  const cp = (await pool.query("SELECT seq, hash FROM audit_checkpoint WHERE kind = 'prune' ORDER BY seq DESC LIMIT 1")).rows[0];
  for (const s of statements) {
    const signer = keys.signing.get(s.keyId);
    if (!signer) {
      out.push({ seq: s.seq, ok: false, note: `signed with audit key "${s.keyId}", which is not loaded` });
      continue;
    }
    const { signature, ...body } = s;
    if (!crypto.verify(null, statementBytes(body), signer.publicKey, Buffer.from(signature, 'base64'))) {
      out.push({
        seq: s.seq,
        ok: false,
        note: 'the statement does not match its signature: it was not issued by this platform, or was changed',
      });
      continue;
    }
    if (s.seq > headSeq) {
      out.push({
        seq: s.seq,
        ok: false,
        note: `the chain ends at event ${headSeq}, before the witnessed event ${s.seq}: the newest events were removed`,
      });
      continue;
    }
    const row = (await pool.query('SELECT hash FROM audit_event WHERE seq = $1', [s.seq])).rows[0];
    const hash: Buffer | undefined = row?.hash ?? (cp && Number(cp.seq) === s.seq ? cp.hash : undefined);
    if (!hash) {
      out.push({
        seq: s.seq,
        ok: true,
        note: `event ${s.seq} was pruned under the retention rule (checkpoint at ${cp?.seq}); the witness can no longer be compared`,
      });
    } else if (hash.toString('hex') !== s.hash) {
      out.push({
        seq: s.seq,
        ok: false,
        note: `event ${s.seq} no longer has the witnessed hash: the chain was rewritten and re-sealed since ${s.issuedAt}`,
      });
    } else {
      out.push({ seq: s.seq, ok: true, note: `event ${s.seq} is in the chain unchanged (witnessed ${s.issuedAt})` });
    }
  }
  return out;
}
