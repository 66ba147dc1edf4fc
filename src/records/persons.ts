// One patient known by two numbers. A patient who arrives unconscious or unidentified is registered
// under a temporary number (a felles hjelpenummer, a local H-number, an auxiliary number); when
// their real number becomes known — the sending system says so, or a registry admin joins the two
// — the two persons become one: every case, captured resource and routing decision moves to the
// surviving person, value history goes with its case, the merge is recorded (`person_merge`) and
// audited, events are recomputed and every registry re-evaluates the cases (a case that waited for
// an identity number stops waiting). A reservation under either number applies to the person.
//
// Lock order (records/locks.ts): both persons first, in one call; then the messages naming them,
// then their cases in id order. A number merged away earlier is only found by reading
// `person_merge` after its own lock is held, so the surviving person is locked after it — the one
// place where a second lock call follows; rows of `person_merge` never change once a number is
// merged, and a deadlock this could cause in a rare interleaving is retried by the door.
import type { PersonTx } from '../access/door.ts';
import type { Queryable } from '../db/pool.ts';
import type { Identity } from '../capture/identity.ts';
import { encryptNin, type IdentityKeys } from '../identity/crypto.ts';
import type { Registry } from '../registry/load.ts';
import { movePromRecords } from '../prom/merge.ts';
import { applyUpdates } from './cases.ts';
import { assignEvents } from './events.ts';
import { lockPersons, lockPersonsById } from './locks.ts';
import { reserveByHash } from './reservation.ts';

export interface PersonsContext {
  keys: IdentityKeys;
  /** Every registry (a merge moves the person's cases in all of them). */
  registries: Registry[];
}

/** Who joins two persons: a sending system by a message, or a user of the registry. */
export interface MergeActor {
  label: string;
  role: string;
  source: 'message' | 'registry';
  messageId?: number | null;
}

export interface LivePerson {
  id: number;
  hash: Buffer;
  hashHex: string;
  kind: string;
}

export interface MergeResult {
  fromId: number;
  intoId: number;
  /** Cases moved to the surviving person. */
  movedCases: number;
  /** A reservation under either number applied: everything about the person was removed. */
  reserved: boolean;
}

/** The person each keyed hash names now: its own row, or the person its number was merged into. */
export async function livePersons(db: Queryable, hashes: Buffer[]): Promise<Map<string, LivePerson>> {
  const out = new Map<string, LivePerson>();
  if (hashes.length === 0) return out;
  const rows = (
    await db.query(
      `SELECT encode(h, 'hex') AS asked, p.id, p.nin_hash, p.nin_kind
     FROM unnest($1::bytea[]) AS h
     CROSS JOIN LATERAL (SELECT coalesce((SELECT id FROM person WHERE nin_hash = h), (SELECT into_id FROM person_merge WHERE from_hash = h)) AS id) AS r
     JOIN person p ON p.id = r.id`,
      [hashes],
    )
  ).rows;
  for (const r of rows)
    out.set(r.asked, { id: Number(r.id), hash: r.nin_hash, hashHex: (r.nin_hash as Buffer).toString('hex'), kind: r.nin_kind });
  return out;
}

/**
 * For each keyed hash: the person it names now (if any) and whether the number has opted out, in
 * one statement (the capture asks this for every message).
 */
async function lookUpNumbers(db: Queryable, hashes: Buffer[]): Promise<{ live: Map<string, LivePerson>; reserved: Set<string> }> {
  const live = new Map<string, LivePerson>(),
    reserved = new Set<string>();
  if (hashes.length === 0) return { live, reserved };
  const rows = (
    await db.query(
      `SELECT encode(h, 'hex') AS asked, p.id, p.nin_hash, p.nin_kind, EXISTS (SELECT 1 FROM reservation r WHERE r.nin_hash = h) AS reserved
     FROM unnest($1::bytea[]) AS h
     CROSS JOIN LATERAL (SELECT coalesce((SELECT id FROM person WHERE nin_hash = h), (SELECT into_id FROM person_merge WHERE from_hash = h)) AS id) AS r
     LEFT JOIN person p ON p.id = r.id`,
      [hashes],
    )
  ).rows;
  for (const r of rows) {
    if (r.reserved) reserved.add(r.asked);
    if (r.id !== null)
      live.set(r.asked, { id: Number(r.id), hash: r.nin_hash, hashHex: (r.nin_hash as Buffer).toString('hex'), kind: r.nin_kind });
  }
  return { live, reserved };
}

/** Every keyed hash a person is known by: their own number's and every number merged into them. */
export async function personHashes(db: Queryable, personId: number): Promise<Buffer[]> {
  return (
    await db.query('SELECT nin_hash AS h FROM person WHERE id = $1 UNION SELECT from_hash FROM person_merge WHERE into_id = $1', [personId])
  ).rows.map((r) => r.h as Buffer);
}

/**
 * Joins person `fromId` into person `intoId`. The caller has checked who may; the persons are
 * locked here (free when the caller holds the locks already).
 */
export async function mergePersons(
  tx: PersonTx,
  ctx: PersonsContext,
  fromId: number,
  intoId: number,
  actor: MergeActor,
): Promise<MergeResult> {
  const db = tx.client;
  if (fromId === intoId) return { fromId, intoId, movedCases: 0, reserved: false };
  // 1. Both persons, in one call (a person's keyed hash never changes, so reading it needs no lock).
  await lockPersonsById(db, [fromId, intoId]);
  const persons = (await db.query('SELECT id, nin_hash, nin_kind FROM person WHERE id = ANY($1::bigint[])', [[fromId, intoId]])).rows;
  const from = persons.find((p) => Number(p.id) === fromId),
    into = persons.find((p) => Number(p.id) === intoId);
  if (!from || !into) throw new Error(`mergePersons: person ${!from ? fromId : intoId} does not exist`);
  // 2. The raw messages that name the merged-away person name the survivor instead.
  await db.query(
    `UPDATE inbox_message SET person_ids = (SELECT array_agg(DISTINCT CASE WHEN x = $1 THEN $2 ELSE x END) FROM unnest(person_ids) AS x)
     WHERE person_ids @> ARRAY[$1]::bigint[]`,
    [fromId, intoId],
  );
  // 3. Their cases, in id order, then everything else that names the person.
  await db.query('SELECT 1 FROM registry_case WHERE person_id = ANY($1::bigint[]) ORDER BY id FOR UPDATE', [[fromId, intoId]]);
  const moved = (
    await db.query('UPDATE registry_case SET person_id = $2, updated_at = now() WHERE person_id = $1 RETURNING registry, id', [
      fromId,
      intoId,
    ])
  ).rows;
  await db.query('UPDATE source_resource SET person_id = $2 WHERE person_id = $1', [fromId, intoId]);
  await db.query('UPDATE routing_decision SET person_id = $2 WHERE person_id = $1', [fromId, intoId]);
  // The patient's PROM answers, questions, invitations, contact details and objections.
  await movePromRecords(db, fromId, intoId);
  // What the survivor's own number does not say, the merged-away record may (an estimated birth
  // date, a date of death registered while the patient was unidentified).
  await db.query(
    `UPDATE person p SET birth_date = coalesce(p.birth_date, f.birth_date), sex = coalesce(p.sex, f.sex), deceased_date = coalesce(p.deceased_date, f.deceased_date), updated_at = now()
     FROM person f WHERE p.id = $2 AND f.id = $1`,
    [fromId, intoId],
  );
  // 4. The record of the merge; earlier merges into the merged-away person now point to the survivor.
  await db.query('UPDATE person_merge SET into_id = $2 WHERE into_id = $1', [fromId, intoId]);
  await db.query(
    `INSERT INTO person_merge (from_id, from_hash, from_kind, into_id, first_into_id, by_actor, source, message_id) VALUES ($1, $2, $3, $4, $4, $5, $6, $7)`,
    [fromId, from.nin_hash, from.nin_kind, intoId, actor.label, actor.source, actor.messageId ?? null],
  );
  await db.query('DELETE FROM person WHERE id = $1', [fromId]);
  // A case's row in the analytics tables carries its person: recompute it.
  if (moved.length) {
    await db.query('INSERT INTO analytics_change (registry, case_id) SELECT r, c FROM unnest($1::text[], $2::bigint[]) AS t(r, c)', [
      moved.map((m) => m.registry),
      moved.map((m) => Number(m.id)),
    ]);
  }
  tx.audit({
    action: 'merge',
    object: `person/${fromId}:into:person/${intoId}`,
    personIds: [fromId, intoId],
    actor: { label: actor.label, role: actor.role },
  });
  // 5. A reservation under either number (or any number merged into either) is the person's.
  const hashes = await personHashes(db, intoId);
  const reserved = (await db.query('SELECT nin_hash FROM reservation WHERE nin_hash = ANY($1::bytea[]) LIMIT 1', [hashes])).rows[0];
  if (reserved) {
    await reserveByHash(tx, reserved.nin_hash, 'merge', ctx.keys, { label: actor.label, role: actor.role });
    return { fromId, intoId, movedCases: moved.length, reserved: true };
  }
  // 6. Every registry looks at the survivor's cases again: what waited for an identity number may
  //    count now, and events (keyed by the person) are recomputed over all their cases.
  await reassessPerson(db, ctx, intoId);
  return { fromId, intoId, movedCases: moved.length, reserved: false };
}

/** Re-evaluates every case of a person in every registry, then recomputes their events. */
export async function reassessPerson(db: Queryable, ctx: PersonsContext, personId: number): Promise<void> {
  const cases = (await db.query('SELECT registry, id FROM registry_case WHERE person_id = $1 ORDER BY id', [personId])).rows;
  for (const registry of ctx.registries) {
    const ids = cases.filter((c) => c.registry === registry.id).map((c) => Number(c.id));
    if (ids.length === 0) continue;
    await applyUpdates(db, registry, [], { recheck: ids });
    await assignEvents(db, ctx.keys, registry, [personId]);
  }
}

/** Creates the person of an identity not seen before (the survivor of a merge by message). */
async function createPerson(db: Queryable, keys: IdentityKeys, identity: Identity): Promise<LivePerson> {
  const row = (
    await db.query(
      `INSERT INTO person (nin_hash, nin_enc, nin_kind, birth_date, sex) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (nin_hash) DO UPDATE SET updated_at = person.updated_at RETURNING id, nin_hash, nin_kind`,
      [identity.hash, encryptNin(keys, identity.nin), identity.kind, identity.birthDate, identity.sex],
    )
  ).rows[0];
  return { id: Number(row.id), hash: row.nin_hash, hashHex: identity.hashHex, kind: row.nin_kind };
}

interface GroupLike {
  identity: Identity;
  resources: unknown[];
  issues: unknown[];
  patient?: unknown;
}

/**
 * For the capture (capture/pipeline.ts), before it looks its persons up: the numbers a Patient
 * names beside its identity are earlier numbers of the same patient — what was registered under
 * them is joined with the patient; and a number that was merged away earlier is captured as the
 * person it was merged into. `groups` (keyed by the identity's hash) is updated in place.
 */
export async function resolveCapturedPersons<G extends GroupLike>(
  tx: PersonTx,
  ctx: PersonsContext,
  groups: Map<string, G>,
  actor: MergeActor,
): Promise<void> {
  const db = tx.client;
  const all = [...groups.values()].flatMap((g) => [g.identity, ...(g.identity.aliases ?? [])]);
  if (all.length === 0) return;
  const locked = new Set(all.map((i) => i.hashHex));
  await lockPersons(
    db,
    all.map((i) => i.hash),
  );
  // Who each number names now; a survivor found through person_merge is locked too, then looked
  // up again (it may itself have been merged while we waited for its lock).
  let { live, reserved } = await lookUpNumbers(
    db,
    all.map((i) => i.hash),
  );
  for (let round = 0; round < 4; round++) {
    const extra = [...live.values()].filter((p) => !locked.has(p.hashHex));
    if (extra.length === 0) break;
    await lockPersons(
      db,
      extra.map((p) => p.hash),
    );
    for (const p of extra) locked.add(p.hashHex);
    ({ live, reserved } = await lookUpNumbers(
      db,
      all.map((i) => i.hash),
    ));
  }
  const primaries = new Map<G, LivePerson | undefined>();
  for (const g of groups.values()) {
    let primary = live.get(g.identity.hashHex);
    for (const alias of g.identity.aliases ?? []) {
      const earlier = live.get(alias.hashHex);
      if (!earlier || earlier.id === primary?.id) continue;
      // The patient is known by the earlier number only: their record moves to the real number.
      primary ??= await createPerson(db, ctx.keys, g.identity);
      await mergePersons(tx, ctx, earlier.id, primary.id, actor);
      live.set(alias.hashHex, primary);
    }
    // An earlier number that opted out is the patient's reservation (its person is gone already):
    // the patient is reserved under this number too, and the capture then refuses the message.
    if (!reserved.has(g.identity.hashHex) && (g.identity.aliases ?? []).some((a) => reserved.has(a.hashHex))) {
      await reserveByHash(tx, primary?.hash ?? g.identity.hash, 'merge', ctx.keys, { label: actor.label, role: actor.role });
      primary = undefined;
    }
    primaries.set(g, primary);
  }
  regroupByPerson(groups, (g) => primaries.get(g));
}

/**
 * The capture's groups (one per patient, keyed by the identity's hash) as the persons they name
 * now: a number that was merged into another person is captured as that person — what the
 * temporary number encodes (an estimated birth date) must not overwrite what they have — and groups
 * that now name one person become one. The identities lose their aliases (already resolved).
 */
export function regroupByPerson<G extends GroupLike>(groups: Map<string, G>, personOf: (g: G) => LivePerson | undefined): void {
  let changed = false;
  for (const g of groups.values()) {
    const primary = personOf(g);
    const { aliases: _, ...identity } = g.identity;
    g.identity = identity;
    if (primary && primary.hashHex !== g.identity.hashHex) {
      g.identity = {
        ...g.identity,
        hash: primary.hash,
        hashHex: primary.hashHex,
        kind: primary.kind as Identity['kind'],
        birthDate: null,
        sex: null,
      };
      changed = true;
    }
  }
  if (!changed) return;
  // Groups that now name one person become one.
  const merged = new Map<string, G>();
  for (const g of groups.values()) {
    const same = merged.get(g.identity.hashHex);
    if (!same) {
      merged.set(g.identity.hashHex, g);
      continue;
    }
    same.resources.push(...g.resources);
    same.issues.push(...g.issues);
    if (!same.patient && g.patient) same.patient = g.patient;
  }
  groups.clear();
  for (const [k, g] of merged) groups.set(k, g);
}

/**
 * A registry admin joins the person registered under `from` into the one registered under
 * `into` (POST /api/persons/merge). When nobody is registered under `into` yet, the person is
 * recorded under it: a new person with the real number, into which the temporary one is merged.
 */
export async function mergeByNumbers(
  tx: PersonTx,
  ctx: PersonsContext,
  from: Identity,
  into: Identity,
  actor: MergeActor,
): Promise<MergeResult | { error: 'not-found' | 'same'; message: string }> {
  const db = tx.client;
  await lockPersons(db, [from.hash, into.hash]);
  let live = await livePersons(db, [from.hash, into.hash]);
  const extra = [...live.values()].filter((p) => !p.hash.equals(from.hash) && !p.hash.equals(into.hash));
  if (extra.length) {
    await lockPersons(
      db,
      extra.map((p) => p.hash),
    );
    live = await livePersons(db, [from.hash, into.hash]);
  }
  const a = live.get(from.hashHex);
  if (!a)
    return {
      error: 'not-found',
      message: 'Nobody is registered under the number to merge from ("from"); check the number and its system.',
    };
  const b = live.get(into.hashHex) ?? (await createPerson(db, ctx.keys, into));
  if (a.id === b.id) return { error: 'same', message: 'The two numbers already name the same person; nothing to merge.' };
  return mergePersons(tx, ctx, a.id, b.id, actor);
}
