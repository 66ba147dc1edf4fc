// The capture pipeline: one inbound message → identities → captured resources (idempotent on
// the sender's identifiers) → every registry whose inclusion rules match → cases and values.
// Runs inside one transaction opened by the data-access door; any error a sender caused is
// thrown as a CaptureError before anything is written, so nothing partial is ever stored.
import { prepared } from '../db/pool.ts';
import crypto from 'node:crypto';
import type { PersonTx } from '../access/door.ts';
import { encryptNin, type IdentityKeys } from '../identity/crypto.ts';
import { assignEvents } from '../records/events.ts';
import { lockPersons, RetryableConflict } from '../records/locks.ts';
import { isRetracted, restoreRetracted, retract as retractValues } from '../records/retraction.ts';
import { linkedValues } from './relink.ts';
import { resolveCapturedPersons } from '../records/persons.ts';
import { holds } from '../registry/expr.ts';
import { isDateTime, isRealDate } from '../registry/values.ts';
import { osloDate } from '../time/oslo.ts';
import type { Registry } from '../registry/load.ts';
import { applyUpdates, ensureCases, type ValueUpdate } from '../records/cases.ts';
import { caseValues, type PersonValues } from '../records/evaluate.ts';
import { linksOf, parseBundle, parseJson, type ParsedBundle, type ResourceEntry } from './bundle.ts';
import { identityFromIdentifier, identityOfPatient, type Identity } from './identity.ts';
import { anchorRefs, contributions, extractValues, isAnchor, linkKeysOf, toMapped, type Anchor, type Extracted, type MappedResource } from './mapper.ts';
import { CaptureError, issue, type Issue } from './outcome.ts';

export interface CaptureEnv {
  keys: IdentityKeys;
  registries: Registry[];
  today?: Date;
  /** Work another module does with the message's resources in the same transaction (see CaptureHook). */
  afterWrite?: CaptureHook;
  /** [identity] Accept test identity numbers (config `allowTestIdentities`); refused when unset. */
  allowTestIdentities?: boolean;
  /** [identity] Every registry, also those this sender does not report to: a merge of persons moves cases in all (default: `registries`). */
  allRegistries?: Registry[];
}

/** A resource of the message as the pipeline left it: `changed` (a new version was written), `unchanged` (a resend) or `stale` (older than what is stored: not applied). */
export interface HookResource { index: number; resourceType: string; rkey: string; personId: number; resource: Record<string, any>; state: 'changed' | 'unchanged' | 'stale' }
export interface HookInput {
  bundleType: 'transaction' | 'batch';
  sender: string;
  messageId: number;
  /** The registries this sender reports to. */
  registries: string[];
  /** Every resource of the accepted patients (refused and failed ones are not here). */
  resources: HookResource[];
  /** Resources taken back in this message (entered-in-error, or deleted), by person. */
  retracted: Array<{ personId: number; rkey: string }>;
  personIds: number[];
}
/** What a hook has to say per entry; `failed` marks the entry refused (a batch then counts it failed; a transaction hook throws instead). */
export interface HookOutput { issues: Array<{ index: number; issue: Issue; failed?: boolean }> }
/**
 * Runs in the write phase of every message, after the captured resources and every registry's
 * cases are written, in the same transaction, with the message's persons locked (records/locks.ts).
 * A sender error in a transaction Bundle is thrown as a CaptureError (nothing is stored); in a
 * batch it is returned as a failed entry.
 */
export type CaptureHook = (tx: PersonTx, input: HookInput) => Promise<HookOutput>;

export interface EntryResult {
  index: number;
  status: string;               // FHIR entry.response.status
  issues: Issue[];
}

export interface CaptureResult {
  bundleType: 'transaction' | 'batch';
  entries: EntryResult[];
  personIds: number[];
  /** Entries refused because the patient has opted out. */
  refusedReservation: number;
  /** Entries rejected in a batch (their groups were skipped). */
  failedEntries: number;
  counts: { created: number; updated: number; unchanged: number; cases: number; referred: number; retracted: number };
}

interface Group {
  identity: Identity;
  patient?: { index: number; resource: Record<string, any> };
  resources: ResourceEntry[];
  issues: Issue[];
  extracted: Map<string, Map<string, Extracted[]>>; // registry → rkey → values
  refused?: boolean;
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as any)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function parseMessage(body: string): ParsedBundle {
  return parseBundle(parseJson(body));
}

export async function captureBundle(tx: PersonTx, env: CaptureEnv, sender: string, messageId: number, bundle: ParsedBundle): Promise<CaptureResult> {
  const db = tx.client;
  const entries = new Map<number, EntryResult>();
  const entry = (index: number) => {
    let e = entries.get(index);
    if (!e) { e = { index, status: '200 OK', issues: [] }; entries.set(index, e); }
    return e;
  };

  // One response entry per request entry, in order.
  for (let i = 0; i < bundle.entryCount; i++) entry(i);
  const unidentified = new Set<number>();
  const idOpts = { today: env.today, allowTestIdentities: env.allowTestIdentities }; // [identity]

  // 1. Identities, grouped per patient: a batch succeeds or fails per patient.
  const groups = new Map<string, Group>();
  const patientIdentity = new Map<number, Identity | undefined>();
  const topIssues: Issue[] = [];
  for (const p of bundle.patients) {
    const local: Issue[] = [];
    const identity = identityOfPatient(env.keys, p.resource, `Bundle.entry[${p.index}].resource`, local, idOpts);
    patientIdentity.set(p.index, identity);
    if (!identity) { entry(p.index).issues.push(...local); topIssues.push(...local); unidentified.add(p.index); continue; }
    const g: Group = groups.get(identity.hashHex) ?? { identity, resources: [], issues: [], extracted: new Map() };
    g.patient = { index: p.index, resource: p.resource };
    groups.set(identity.hashHex, g);
  }
  for (const r of bundle.resources) {
    let identity: Identity | undefined;
    if ('patientIndex' in r.subject) identity = patientIdentity.get(r.subject.patientIndex);
    else {
      const local: Issue[] = [];
      identity = identityFromIdentifier(env.keys, r.subject.system, r.subject.value, `Bundle.entry[${r.index}].resource.subject.identifier.value`, local, idOpts);
      if (!identity && local.length === 0) local.push(issue.error('value', `Bundle.entry[${r.index}].resource.subject.identifier.system`, 'The subject identifier must be a Norwegian identity number (the OID of the fødselsnummer, D-number or felles hjelpenummer, or the auxiliary-number system).', { rule: 'patient-identity' }));
      entry(r.index).issues.push(...local); topIssues.push(...local);
    }
    if (!identity) {
      if (!entry(r.index).issues.length) entry(r.index).issues.push(issue.error('processing', `Bundle.entry[${r.index}]`, 'The patient of this resource could not be identified (see the Patient entry).'));
      unidentified.add(r.index);
      continue;
    }
    const g: Group = groups.get(identity.hashHex) ?? { identity, resources: [], issues: [], extracted: new Map() };
    g.resources.push(r);
    groups.set(identity.hashHex, g);
  }

  // [identity] Earlier numbers of these patients (a temporary number resolved to the real one) are
  // joined with them, and a number merged away earlier is captured as its person (records/persons.ts).
  await resolveCapturedPersons(tx, { keys: env.keys, registries: env.allRegistries ?? env.registries }, groups,
    { label: `system:${sender}`, role: 'system', source: 'message', messageId });

  // 2. Opted-out patients: refused, counted without identity. Checked before any other error is
  // reported, so that a message about someone who opted out is never kept in quarantine.
  const hashes = [...groups.values()].map((g) => g.identity.hash);
  // Deletions name a resource, not a patient: its person is the one it was stored for.
  const deletionKeys = bundle.deletions.map((d) => d.rkey);
  const storedForDeletion = async () => new Map((deletionKeys.length ? (await prepared(db, 'cap-deletions',
    `SELECT s.rkey, s.sender, s.person_id, s.message_id, s.deleted_at IS NOT NULL AS deleted, p.nin_hash FROM source_resource s JOIN person p ON p.id = s.person_id WHERE s.rkey = ANY($1)`,
    [deletionKeys])).rows : []).map((r) => [r.rkey as string, r]));
  const deletionTargets = await storedForDeletion();
  hashes.push(...[...deletionTargets.values()].map((r) => r.nin_hash as Buffer));
  // One look-up per message: who has opted out, and who is already known.
  // Each person is locked (records/locks.ts) before anything about them is read: a capture, a
  // registrar, a merge or a reservation touching the same person waits for this message, and this
  // message sees everything they committed. The inbox locked the persons its text names already;
  // this covers the rest (re-locking is free).
  await lockPersons(db, hashes);
  const deletionRows = deletionKeys.length ? await storedForDeletion() : deletionTargets;
  for (const [rkey, row] of deletionRows) {
    // Moved to another person (a merge) between the look-up and the lock: that person is not locked yet.
    if (!deletionTargets.has(rkey) || Number(deletionTargets.get(rkey).person_id) !== Number(row.person_id)) throw new RetryableConflict('A resource to delete changed owner while the message waited; processing again.');
  }
  const lookup = hashes.length
    ? (await prepared(db, 'cap-persons',
      `SELECT encode(h, 'hex') AS hash, p.id, p.birth_date, p.sex, p.deceased_date, r.reserved IS NOT NULL AS reserved
       FROM unnest($1::bytea[]) AS h
       LEFT JOIN LATERAL (SELECT id, birth_date, sex, deceased_date FROM person WHERE nin_hash = h LIMIT 1) AS p ON true
       LEFT JOIN LATERAL (SELECT 1 AS reserved FROM reservation WHERE nin_hash = h LIMIT 1) AS r ON true`, [hashes])).rows
    : [];
  const reserved = new Set(lookup.filter((r) => r.reserved).map((r) => r.hash as string));
  let refusedReservation = 0;
  for (const g of groups.values()) {
    if (!reserved.has(g.identity.hashHex)) continue;
    g.refused = true;
    const refusal = issue.error('forbidden', undefined, 'The patient has opted out of the medical quality registries (reservation right); nothing about them is stored. Do not resend.', { rule: 'reservation' });
    for (const idx of [g.patient?.index, ...g.resources.map((r) => r.index)]) if (idx !== undefined) { entry(idx).status = '403 Forbidden'; entry(idx).issues.push(refusal); refusedReservation++; }
  }
  if (bundle.type === 'transaction' && refusedReservation) {
    throw new CaptureError([issue.error('forbidden', undefined, 'The patient has opted out of the medical quality registries (reservation right); nothing about them is stored. Do not resend.', { rule: 'reservation' })], 403);
  }
  if (bundle.type === 'transaction' && topIssues.length) throw new CaptureError(topIssues);

  // 3. Every value every registry would take, typed and checked, before anything is written.
  const unitsOk = (value: unknown) => tx.units.has(String(value));
  for (const g of groups.values()) {
    if (g.refused) continue;
    if (g.patient) {
      const p = g.patient.resource, at = `Bundle.entry[${g.patient.index}].resource`;
      const local: Issue[] = [];
      if (p.birthDate !== undefined && !(typeof p.birthDate === 'string' && isRealDate(p.birthDate))) {
        local.push(issue.error('value', `${at}.birthDate`, 'birthDate must be a real calendar date written YYYY-MM-DD (or left out: it is derived from the identity number).', { value: p.birthDate }));
      }
      const d = p.deceasedDateTime;
      if (d !== undefined && !(typeof d === 'string' && (isRealDate(d) || isDateTime(d)))) {
        local.push(issue.error('value', `${at}.deceasedDateTime`, 'deceasedDateTime must be a real date (YYYY-MM-DD) or a date-time with a time zone.', { value: d }));
      }
      if (local.length) { g.issues.push(...local); entry(g.patient.index).issues.push(...local); }
    }
    for (const r of g.resources) {
      const mapped = toMapped(r.rkey, r.resourceType, r.resource, `Bundle.entry[${r.index}].resource`);
      for (const registry of env.registries) {
        const local: Issue[] = [];
        const values = extractValues(registry, mapped, local);
        for (const v of values) {
          if (v.variable === registry.mapping.unitVariable && !unitsOk(v.value)) {
            local.push(issue.error('code-invalid', mapped.location, `${registry.id}: the unit with RESH id ${v.value} is not known to the platform. Check the RESH id in the resource, or ask the registry to add the unit.`, { rule: 'unit-known', value: v.value }));
          }
        }
        if (local.length) { g.issues.push(...local); entry(r.index).issues.push(...local); }
        if (!g.extracted.has(registry.id)) g.extracted.set(registry.id, new Map());
        g.extracted.get(registry.id)!.set(r.rkey, values);
      }
    }
  }
  // Earlier versions of these resources: unchanged content is a resend, content older than what
  // is stored is a late replay, and an identifier already used for another patient is an error.
  const candidates = [...groups.values()].filter((g) => !g.refused && !g.issues.length)
    .flatMap((g) => g.resources.map((r) => ({ r, g, sha: crypto.createHash('sha256').update(canonical(r.resource)).digest() })));
  const existing = candidates.length
    ? new Map((await prepared(db, 'cap-existing',
      `SELECT s.rkey, s.content_sha256, s.version, s.message_id, s.sender, encode(p.nin_hash, 'hex') AS owner
       FROM source_resource s JOIN person p ON p.id = s.person_id WHERE s.rkey = ANY($1)`, [candidates.map((c) => c.r.rkey)])).rows.map((r) => [r.rkey as string, r]))
    : new Map();
  for (const c of candidates) {
    const old = existing.get(c.r.rkey);
    if (old && old.sender !== sender) {
      // Identifiers are the sender's own: another system reusing one would overwrite data it did not send.
      const problem = issue.error('business-rule', `Bundle.entry[${c.r.index}].resource.identifier`, `A resource with this identifier was sent by another system (${old.sender}). Use your own identifier system for the resources you send.`, { rule: 'identifier-sender', value: c.r.rkey });
      c.g.issues.push(problem);
      entry(c.r.index).issues.push(problem);
      continue;
    }
    if (old && old.owner !== c.g.identity.hashHex) {
      const problem = issue.error('business-rule', `Bundle.entry[${c.r.index}].resource.identifier`, 'A resource with this identifier was sent earlier for another patient. Identifiers must be unique per resource; correct the patient or the identifier.', { rule: 'identifier-owner', value: c.r.rkey });
      c.g.issues.push(problem);
      entry(c.r.index).issues.push(problem);
    }
  }
  const deletionIssues: Issue[] = [];
  for (const d of bundle.deletions) {
    const row = deletionRows.get(d.rkey);
    if (row && row.sender !== sender) {
      const problem = issue.error('business-rule', `Bundle.entry[${d.index}].request.url`, `This resource was sent by another system (${row.sender}); only its sender can delete it.`, { rule: 'identifier-sender', value: d.rkey });
      deletionIssues.push(problem);
      entry(d.index).issues.push(problem);
      entry(d.index).status = '422 Unprocessable Entity';
    }
  }
  const failed = [...groups.values()].filter((g) => g.issues.length && !g.refused);
  if (bundle.type === 'transaction' && (failed.length || deletionIssues.length)) throw new CaptureError([...failed.flatMap((g) => g.issues), ...deletionIssues]);
  let failedEntries = deletionIssues.length;
  for (const idx of unidentified) { entry(idx).status = '422 Unprocessable Entity'; failedEntries++; }
  for (const g of failed) {
    for (const idx of [g.patient?.index, ...g.resources.map((r) => r.index)]) if (idx !== undefined) { entry(idx).status = '422 Unprocessable Entity'; failedEntries++; }
  }
  const accepted = [...groups.values()].filter((g) => !g.refused && !g.issues.length);

  // 4. Persons: created when they have resources; a Patient-only message (e.g. a death notice
  // from the population register) updates only persons already known.
  const personRows = accepted.map((g) => {
    const p = g.patient?.resource;
    const d = p?.deceasedDateTime;
    const deceased = typeof d === 'string' ? (d.length > 10 ? osloDate(d) : d) : null;
    return {
      hash: g.identity.hash.toString('hex'), enc: encryptNin(env.keys, g.identity.nin).toString('hex'), kind: g.identity.kind,
      birth: (typeof p?.birthDate === 'string' ? p.birthDate : null) ?? g.identity.birthDate,
      sex: p?.gender === 'male' || p?.gender === 'female' ? p.gender : g.identity.sex,
      deceased, create: g.resources.length > 0,
    };
  });
  const personIdByHash = new Map<string, number>();
  const deceasedChanged: number[] = [];
  if (personRows.length) {
    // Update what changed of the persons already known, insert the rest.
    const known = lookup.filter((r) => r.id !== null);
    const knownByHash = new Map(known.map((k) => [k.hash as string, k]));
    const changedPersons: Array<{ id: number; birth: string | null; sex: string | null; deceased: string | null }> = [];
    for (const p of personRows) {
      const k = knownByHash.get(p.hash);
      if (!k) continue;
      personIdByHash.set(p.hash, k.id);
      const next = { birth: p.birth ?? k.birth_date, sex: p.sex ?? k.sex, deceased: p.deceased ?? k.deceased_date };
      if (next.birth !== k.birth_date || next.sex !== k.sex || next.deceased !== k.deceased_date) changedPersons.push({ id: k.id, ...next });
      if (p.deceased && p.deceased !== k.deceased_date) deceasedChanged.push(k.id);
    }
    if (changedPersons.length) {
      await prepared(db, 'cap2', `UPDATE person p SET birth_date = u.birth, sex = u.sex, deceased_date = u.deceased, updated_at = now()
         FROM jsonb_to_recordset($1::jsonb) AS u(id bigint, birth date, sex text, deceased date) WHERE p.id = u.id`, [JSON.stringify(changedPersons)]);
    }
    const fresh = personRows.filter((p) => p.create && !knownByHash.has(p.hash));
    if (fresh.length) {
      const inserted = await prepared(db, 'cap3', `INSERT INTO person (nin_hash, nin_enc, nin_kind, birth_date, sex, deceased_date)
         SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::text[], $4::date[], $5::text[], $6::date[])
         ON CONFLICT (nin_hash) DO NOTHING RETURNING id, encode(nin_hash, 'hex') AS hash`,
        [fresh.map((p) => Buffer.from(p.hash, 'hex')), fresh.map((p) => Buffer.from(p.enc, 'hex')), fresh.map((p) => p.kind), fresh.map((p) => p.birth), fresh.map((p) => p.sex), fresh.map((p) => p.deceased)]);
      for (const r of inserted.rows) personIdByHash.set(r.hash, r.id);
    }
    // A concurrent message may have created the same person between our read and insert.
    const lost = personRows.filter((p) => p.create && !personIdByHash.has(p.hash));
    if (lost.length) {
      const again = await prepared(db, 'cap4', "SELECT id, encode(nin_hash, 'hex') AS hash FROM person WHERE nin_hash = ANY($1::bytea[])", [lost.map((p) => Buffer.from(p.hash, 'hex'))]);
      for (const r of again.rows) personIdByHash.set(r.hash, r.id);
    }
  }
  const personValues = new Map<number, PersonValues>();
  for (const p of personRows) {
    const id = personIdByHash.get(p.hash);
    if (id === undefined) continue;
    const k = lookup.find((r) => r.hash === p.hash && r.id !== null);
    personValues.set(id, { birth_date: p.birth ?? k?.birth_date ?? null, sex: p.sex ?? k?.sex ?? null, deceased_date: p.deceased ?? k?.deceased_date ?? null });
  }
  for (const g of accepted) if (g.patient) entry(g.patient.index).status = '200 OK';

  // 5. Captured resources: unchanged content is a no-op (a resend); changed content is a new version.
  const changed: Array<(typeof candidates)[number] & { personId: number }> = [];
  const counts = { created: 0, updated: 0, unchanged: 0, cases: 0, referred: 0, retracted: 0 };
  for (const c of candidates) {
    if (c.g.issues.length) continue;
    const old = existing.get(c.r.rkey);
    const e = entry(c.r.index);
    if (old && Buffer.compare(old.content_sha256, c.sha) === 0) { e.issues.push(issue.info(undefined, `unchanged: identical to version ${old.version} already received`)); counts.unchanged++; continue; }
    if (old && old.message_id > messageId) {
      // A message received before the one that gave the current version, processed late (e.g. by
      // recovery after a crash): it must not take the data back to older content.
      e.issues.push(issue.info(undefined, `not applied: message ${old.message_id}, received later, already gave version ${old.version}`));
      counts.unchanged++;
      continue;
    }
    e.status = old ? '200 OK' : '201 Created';
    e.issues.push(issue.info(undefined, old ? `updated: stored as version ${old.version + 1}` : 'created'));
    if (old) counts.updated++; else counts.created++;
    changed.push({ ...c, personId: personIdByHash.get(c.g.identity.hashHex)! });
  }
  if (changed.length) {
    // The rules that decide between writers are part of the write itself, so no interleaving can
    // break them: a new version only from the same sender for the same person, only with content
    // that differs, and only from a message received after the one that gave the current version.
    const written = await prepared(db, 'cap6', `INSERT INTO source_resource (resource_type, rkey, person_id, sender, message_id, content_sha256, links, resource)
       SELECT r.type, r.rkey, r.person, $2, $3, decode(r.sha, 'hex'), r.links, r.resource
       FROM jsonb_to_recordset($1::jsonb) AS r(type text, rkey text, person bigint, sha text, links text[], resource jsonb)
       ON CONFLICT (rkey) DO UPDATE SET version = source_resource.version + 1, sender = EXCLUDED.sender, message_id = EXCLUDED.message_id,
         content_sha256 = EXCLUDED.content_sha256, links = EXCLUDED.links, resource = EXCLUDED.resource, deleted_at = NULL, updated_at = now()
       WHERE source_resource.sender = EXCLUDED.sender AND source_resource.person_id = EXCLUDED.person_id
         AND source_resource.content_sha256 <> EXCLUDED.content_sha256 AND source_resource.message_id < EXCLUDED.message_id
       RETURNING rkey`,
      [JSON.stringify(changed.map((c) => ({ type: c.r.resourceType, rkey: c.r.rkey, person: c.personId, sha: c.sha.toString('hex'), links: linksOf(c.r.resource), resource: c.r.resource }))), sender, messageId]);
    if (written.rows.length !== changed.length) {
      // Every writer of these resources' person waited for this message's lock, so what was read
      // above still holds; a resource written in between can only belong to another person or
      // sender (an identifier reused across patients, racing). Start again: the checks above
      // then see it and answer the sender properly.
      throw new RetryableConflict('A resource of this message was written by a concurrent message about another patient; processing again.');
    }
  }

  // Deletions: the stored content goes (the row stays, so a resend of the deletion is a no-op and
  // a later message can send the resource again); a deletion received before the current version
  // is a late replay and changes nothing.
  const retractions = new Map<number, string[]>();
  const retract = (personId: number, rkey: string) => retractions.set(personId, [...(retractions.get(personId) ?? []), rkey]);
  const ownDeletions = bundle.deletions.filter((d) => !deletionIssues.some((i) => i.value === d.rkey));
  if (ownDeletions.length) {
    const deleted = new Map((await prepared(db, 'cap-delete', `UPDATE source_resource SET resource = '{}', links = '{}', content_sha256 = '\\x'::bytea,
         version = version + 1, message_id = $3, deleted_at = now(), updated_at = now()
       WHERE rkey = ANY($1) AND sender = $2 AND deleted_at IS NULL AND message_id < $3 RETURNING rkey, person_id`,
      [ownDeletions.map((d) => d.rkey), sender, messageId])).rows.map((r) => [r.rkey as string, Number(r.person_id)]));
    for (const d of ownDeletions) {
      const e = entry(d.index);
      const row = deletionRows.get(d.rkey);
      e.status = '204 No Content';
      if (deleted.has(d.rkey)) { e.issues.push(issue.info(undefined, 'deleted: the values it gave are taken back')); retract(deleted.get(d.rkey)!, d.rkey); counts.retracted++; }
      else if (!row) e.issues.push(issue.info(undefined, 'nothing is stored with this identifier; nothing to delete'));
      else if (row.deleted) e.issues.push(issue.info(undefined, 'already deleted'));
      else e.issues.push(issue.info(undefined, `not applied: message ${row.message_id}, received later, sent the resource again`));
    }
  }
  for (const c of changed) {
    if (!isRetracted(c.r.resource)) continue;
    retract(c.personId, c.r.rkey);
    entry(c.r.index).issues.push(issue.info(undefined, 'entered-in-error: the values it gave are taken back'));
    counts.retracted++;
  }

  // 6. Every registry takes what is theirs.
  for (const registry of env.registries) {
    const routed = await routeToRegistry(tx, env.keys, registry, sender, messageId, changed.map((c) => ({
      mapped: toMapped(c.r.rkey, c.r.resourceType, c.r.resource, `Bundle.entry[${c.r.index}].resource`),
      extracted: c.g.extracted.get(registry.id)?.get(c.r.rkey) ?? [],
      personId: c.personId, index: c.r.index,
    })), deceasedChanged, personValues, retractions);
    for (const [index, note] of routed.notes) entry(index).issues.push(issue.info(undefined, note));
    counts.cases += routed.cases;
    counts.referred += routed.referred;
  }

  const personIds = [...new Set(personIdByHash.values())];

  // 7. HOOK — another module's work on this message's resources (PROM: QuestionnaireResponses are
  // scored and matched to the schedules, src/prom/capture.ts), after every write above.
  if (env.afterWrite) {
    const changedKeys = new Set(changed.map((c) => c.r.rkey));
    const hooked = await env.afterWrite(tx, {
      bundleType: bundle.type, sender, messageId, registries: env.registries.map((r) => r.id), personIds,
      resources: candidates.filter((c) => !c.g.issues.length).map((c) => ({
        index: c.r.index, resourceType: c.r.resourceType, rkey: c.r.rkey, personId: personIdByHash.get(c.g.identity.hashHex)!, resource: c.r.resource,
        state: changedKeys.has(c.r.rkey) ? 'changed' as const : Buffer.compare(existing.get(c.r.rkey)?.content_sha256 ?? Buffer.alloc(0), c.sha) === 0 ? 'unchanged' as const : 'stale' as const,
      })),
      retracted: [...retractions].flatMap(([personId, rkeys]) => rkeys.map((rkey) => ({ personId, rkey }))),
    });
    for (const h of hooked.issues) {
      entry(h.index).issues.push(h.issue);
      if (h.failed && !entry(h.index).status.startsWith('422')) { entry(h.index).status = '422 Unprocessable Entity'; failedEntries++; }
    }
  }

  if (personIds.length) tx.audit({ action: 'capture', object: `inbox/${messageId}`, personIds, actor: { label: `system:${sender}`, role: 'system' } });
  return {
    bundleType: bundle.type,
    entries: [...entries.values()].sort((a, b) => a.index - b.index),
    personIds, refusedReservation, failedEntries, counts,
  };
}

interface Incoming { mapped: MappedResource; extracted: Extracted[]; personId: number; index: number }

async function routeToRegistry(tx: PersonTx, keys: IdentityKeys, registry: Registry, sender: string, messageId: number, incoming: Incoming[], recheckPersons: number[], personValues: Map<number, PersonValues>,
  retractions: Map<number, string[]>): Promise<{ notes: Array<[number, string]>; cases: number; referred: number }> {
  const db = tx.client;
  const notes: Array<[number, string]> = [];
  const anchorsIn = incoming.filter((i) => isAnchor(registry, i.mapped));
  const anchorKeys = new Set<string>(), sharedKeys = new Set<string>();
  for (const i of incoming) {
    const k = linkKeysOf(registry, i.mapped);
    k.anchors.forEach((x) => anchorKeys.add(x));
    k.shared.forEach((x) => sharedKeys.add(x));
  }

  // Cases already known that the incoming resources concern: by the anchor's own key, or by
  // something the anchor refers to (its encounter). Two index look-ups, merged here.
  const known = new Map<string, { id: number; anchor_key: string; person_id: number; resource: Record<string, any> }>();
  if (incoming.length) {
    // The LATERAL … LIMIT 1 keeps this an index look-up per candidate: the planner cannot
    // estimate the && match and would otherwise hash-join against the whole case table.
    const rows = (await prepared(db, 'cap-known',
      `SELECT c.id, c.anchor_key, c.person_id, a.resource
       FROM (SELECT rkey, resource FROM source_resource WHERE rkey = ANY($2)
             UNION ALL SELECT rkey, resource FROM source_resource WHERE links && $3) AS a
       CROSS JOIN LATERAL (SELECT id, anchor_key, person_id FROM registry_case WHERE registry = $1 AND anchor_key = a.rkey LIMIT 1) AS c`,
      [registry.id, [...anchorKeys], [...sharedKeys]])).rows;
    for (const r of rows) known.set(r.anchor_key, r);
  }
  const knownByKey = known;

  // New anchors: does the registry include them? Decided on the anchor's own values.
  const newCases: Array<{ anchorKey: string; personId: number }> = [];
  const decisions: Array<{ anchor: string; person: number; decision: string; target: string }> = [];
  const anchors: Array<Anchor & { personId: number }> = [];
  for (const k of known.values()) anchors.push({ rkey: k.anchor_key, resource: k.resource, refs: anchorRefs(registry, k.resource), personId: k.person_id });
  for (const a of anchorsIn) {
    if (knownByKey.has(a.mapped.rkey)) continue;
    const p = personValues.get(a.personId);
    const own = contributions({ rkey: a.mapped.rkey, resource: a.mapped.resource, refs: [] }, a.mapped, a.extracted);
    const values = caseValues(registry, { birth_date: p?.birth_date ?? null, sex: p?.sex ?? null, deceased_date: p?.deceased_date ?? null },
      [{ form: '', instance: '', data: Object.fromEntries(own.map((c) => [c.variable, c.value])) }]);
    const refer = registry.refer.find((r) => holds(r.when(values)));
    if (refer) { decisions.push({ anchor: a.mapped.rkey, person: a.personId, decision: 'referred', target: refer.to }); notes.push([a.index, `${registry.id}: referred to ${refer.name.en}`]); continue; }
    if (!holds(registry.include(values))) { decisions.push({ anchor: a.mapped.rkey, person: a.personId, decision: 'not-included', target: '' }); notes.push([a.index, `${registry.id}: not included by the registry's inclusion rules`]); continue; }
    decisions.push({ anchor: a.mapped.rkey, person: a.personId, decision: 'included', target: '' });
    newCases.push({ anchorKey: a.mapped.rkey, personId: a.personId });
    anchors.push({ rkey: a.mapped.rkey, resource: a.mapped.resource, refs: anchorRefs(registry, a.mapped.resource), personId: a.personId });
  }
  const caseIds = await ensureCases(db, registry, newCases);
  for (const k of known.values()) caseIds.set(k.anchor_key, { id: k.id, created: false });
  for (const a of anchorsIn) {
    const c = caseIds.get(a.mapped.rkey);
    if (c) notes.push([a.index, `${registry.id}: case ${c.id}${c.created ? ' created' : ' updated'}`]);
  }

  // Resources stored earlier that belong to a new case (they arrived before its anchor).
  const pool: Incoming[] = [...incoming];
  const created = anchors.filter((a) => caseIds.get(a.rkey)?.created);
  if (created.length) {
    const createdKeys = created.map((a) => a.rkey);
    const createdLinks = created.flatMap((a) => a.refs);
    const inMessage = new Set(incoming.map((i) => i.mapped.rkey));
    // Three index look-ups: resources referring to the anchors, resources the anchors refer to,
    // and resources referring to what the anchors refer to (e.g. the same encounter).
    const earlier = await prepared(db, 'cap9', `SELECT rkey, resource_type, resource, person_id FROM source_resource WHERE links && $1
       UNION SELECT rkey, resource_type, resource, person_id FROM source_resource WHERE rkey = ANY($2)
       UNION SELECT rkey, resource_type, resource, person_id FROM source_resource WHERE links && $2`, [createdKeys, createdLinks]);
    for (const r of earlier.rows) {
      if (inMessage.has(r.rkey)) continue;
      const mapped = toMapped(r.rkey, r.resource_type, r.resource);
      pool.push({ mapped, extracted: extractValues(registry, mapped, []), personId: r.person_id, index: -1 });
    }
  }

  const updates: ValueUpdate[] = [];
  for (const anchor of anchors) {
    const c = caseIds.get(anchor.rkey);
    if (!c) continue;
    for (const i of pool) {
      if (i.personId !== anchor.personId || i.extracted.length === 0) continue;
      for (const contribution of contributions(anchor, i.mapped, i.extracted)) {
        updates.push({ caseId: c.id, form: contribution.form, instance: contribution.instance, variable: contribution.variable, value: contribution.value,
          provenance: { kind: 'system', sender, message: messageId, resource: contribution.resourceKey } });
      }
    }
  }
  const recheck = recheckPersons.length
    ? (await prepared(db, 'cap10', 'SELECT id FROM registry_case WHERE registry = $1 AND person_id = ANY($2)', [registry.id, recheckPersons])).rows.map((r) => r.id as number)
    : [];
  const createdIds = new Set([...caseIds.values()].filter((c) => c.created).map((c) => c.id));
  await applyUpdates(db, registry, updates, { recheck: [...recheck, ...createdIds], created: createdIds });
  // An anchor sent again after its sender retracted it: its case counts again.
  const restored = anchorsIn.filter((a) => known.has(a.mapped.rkey)).map((a) => a.mapped.rkey);
  if (restored.length) await restoreRetracted(db, registry, restored);
  // What senders took back (entered-in-error, or deleted): after the new values, so that a
  // replacement sent in the same message takes the variable's place.
  const touched = [...anchors.map((a) => a.personId)];
  for (const [personId, rkeys] of retractions) {
    const r = await retractValues(db, registry, personId, rkeys, { kind: 'system', sender, message: messageId },
      () => linkedValues(db, registry, personId));
    if (r.withdrawnCases || r.removedValues || r.deletedInstances) touched.push(personId);
  }
  // Event identity (a registry's `event` declaration): recomputed over every case of the persons
  // touched, so a transfer joins the event another unit registered and a second registration the
  // same day is merged. Capture sees every unit's cases, as this needs.
  const eventChanges = await assignEvents(db, keys, registry, touched);
  for (const ch of eventChanges) {
    if (!ch.invalidReason) continue;
    const a = anchorsIn.find((x) => caseIds.get(x.mapped.rkey)?.id === ch.caseId);
    if (a) notes.push([a.index, `${registry.id}: case ${ch.caseId} is a second registration of the same event the same day; merged into case ${ch.mergedInto} and marked invalid`]);
  }
  if (decisions.length) {
    await prepared(db, 'cap11', `INSERT INTO routing_decision (registry, anchor_key, person_id, decision, target)
       SELECT $1, d.anchor, d.person, d.decision, d.target FROM jsonb_to_recordset($2::jsonb) AS d(anchor text, person bigint, decision text, target text)
       ON CONFLICT (registry, anchor_key) DO UPDATE SET decision = EXCLUDED.decision, target = EXCLUDED.target, decided_at = now()`,
      [registry.id, JSON.stringify(decisions)]);
  }
  return { notes, cases: newCases.length, referred: decisions.filter((d) => d.decision === 'referred').length };
}
