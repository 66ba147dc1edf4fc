// Apply: what the accepted patients' part of a message changes, decided in memory on what the read
// returned, and collected as writes (capture/changes.ts) — the persons, the captured resources
// (a resend is a no-op, a changed one a new version), what senders take back — and, rare, the
// retractions, which read and write on their own (records/retraction.ts).
import type { PersonTx } from '../access/door.ts';
import { encryptNin, type IdentityKeys } from '../identity/crypto.ts';
import { assignEvents } from '../records/events.ts';
import type { PersonValues } from '../records/evaluate.ts';
import { isRetracted, retract as retractValues } from '../records/retraction.ts';
import type { Registry } from '../registry/load.ts';
import type { EntryAnswers } from './answers.ts';
import type { ParsedBundle } from './bundle.ts';
import type { CaptureChanges } from './changes.ts';
import type { Candidate } from './checks.ts';
import type { MappedResource } from './mapper.ts';
import { issue, type Issue } from './outcome.ts';
import { nameRows, patientName } from './patient-name.ts';
import { deceasedOf, type Group } from './patients.ts';
import { linkedValues } from './relink.ts';
import type { RoutedRegistry } from './route.ts';
import type { Snapshot } from './snapshot.ts';

export interface CaptureCounts {
  created: number;
  updated: number;
  unchanged: number;
  cases: number;
  referred: number;
  retracted: number;
}

/** The message's persons as they now stand. */
export interface PlannedPersons {
  idByHash: Map<string, number>;
  byId: Map<number, { hashHex: string; kind: string; values: PersonValues }>;
  /** Persons whose date of death the message changes (their cases are checked again). */
  deceasedChanged: number[];
}

/**
 * Persons: created when they have resources; a Patient-only message (e.g. a death notice from the
 * population register) updates only persons already known. [workbench] A person step that stores
 * more of the Patient (e.g. its encrypted name) adds to these rows.
 */
export function planPersons(
  keys: IdentityKeys,
  accepted: Group[],
  snap: Snapshot,
  changes: CaptureChanges,
  answers: EntryAnswers,
): PlannedPersons {
  const idByHash = new Map<string, number>();
  const byId = new Map<number, { hashHex: string; kind: string; values: PersonValues }>();
  const deceasedChanged: number[] = [];
  for (const g of accepted) {
    const p = g.patient?.resource;
    const row = {
      hash: g.identity.hashHex,
      enc: encryptNin(keys, g.identity.nin).toString('hex'),
      kind: g.identity.kind,
      birth: (typeof p?.birthDate === 'string' ? p.birthDate : null) ?? g.identity.birthDate,
      sex: p?.gender === 'male' || p?.gender === 'female' ? p.gender : g.identity.sex,
      deceased: deceasedOf(p),
    };
    const k = snap.personOf(row.hash);
    if (k) {
      // Update what changed of the persons already known.
      idByHash.set(row.hash, k.id);
      const next = { birth: row.birth ?? k.birth_date, sex: row.sex ?? k.sex, deceased: row.deceased ?? k.deceased_date };
      if (next.birth !== k.birth_date || next.sex !== k.sex || next.deceased !== k.deceased_date)
        changes.personUpdates.push({ id: k.id, ...next });
      if (row.deceased && row.deceased !== k.deceased_date) deceasedChanged.push(k.id);
      byId.set(k.id, { hashHex: row.hash, kind: k.kind, values: { birth_date: next.birth, sex: next.sex, deceased_date: next.deceased } });
    } else if (g.resources.length > 0) {
      // Insert the rest, under the id the read drew for them (their lock is held: nobody else creates them).
      const newId = snap.newPersonId(row.hash)!;
      idByHash.set(row.hash, newId);
      changes.personInserts.push({
        id: newId,
        hash: row.hash,
        enc: row.enc,
        kind: row.kind,
        birth: row.birth,
        sex: row.sex,
        deceased: row.deceased,
      });
      byId.set(newId, { hashHex: row.hash, kind: row.kind, values: { birth_date: row.birth, sex: row.sex, deceased_date: row.deceased } });
    }
  }
  for (const g of accepted) if (g.patient) answers.setStatus(g.patient.index, '200 OK');
  // [workbench] The patient's name, encrypted like the identity number, so a registrar can tell
  // who a registration is about (capture/patient-name.ts). Read from Patient.name only.
  // Written with the rest (capture/changes.ts), after the persons a message creates.
  changes.names.push(
    ...nameRows(
      keys,
      accepted.flatMap((g) => {
        const id = idByHash.get(g.identity.hashHex),
          name = patientName(g.patient?.resource);
        return id !== undefined && name ? [{ personId: id, name }] : [];
      }),
    ),
  );
  return { idByHash, byId, deceasedChanged };
}

/** A resource whose new content is written, with its person. */
export type ChangedResource = Candidate & { personId: number };

/**
 * Captured resources: unchanged content is a no-op (a resend), content from a message received
 * before the current version's is not applied, changed content is a new version.
 */
export function planResources(
  candidates: Candidate[],
  mapped: Map<string, MappedResource>,
  snap: Snapshot,
  persons: PlannedPersons,
  changes: CaptureChanges,
  answers: EntryAnswers,
  counts: CaptureCounts,
): ChangedResource[] {
  const changed: ChangedResource[] = [];
  for (const c of candidates) {
    if (c.g.issues.length) continue;
    const old = snap.existing.get(c.r.rkey);
    if (old && Buffer.compare(old.content_sha256, c.sha) === 0) {
      answers.note(c.r.index, issue.info(undefined, `unchanged: identical to version ${old.version} already received`));
      counts.unchanged++;
      continue;
    }
    if (old && old.message_id > snap.messageId) {
      // A message received before the one that gave the current version, processed late (e.g. by
      // recovery after a crash): it must not take the data back to older content.
      answers.note(
        c.r.index,
        issue.info(undefined, `not applied: message ${old.message_id}, received later, already gave version ${old.version}`),
      );
      counts.unchanged++;
      continue;
    }
    answers.setStatus(c.r.index, old ? '200 OK' : '201 Created');
    answers.note(c.r.index, issue.info(undefined, old ? `updated: stored as version ${old.version + 1}` : 'created'));
    if (old) counts.updated++;
    else counts.created++;
    changed.push({ ...c, personId: persons.idByHash.get(c.g.identity.hashHex)! });
  }
  // The rules that decide between writers are part of the write itself (migration 110), so no
  // interleaving can break them: a new version only from the same sender for the same person, only
  // with content that differs, and only from a message received after the one that gave the
  // current version. Every writer of these resources' person waited for this message's lock, so
  // what was read holds; a resource written in between can only belong to another person or sender
  // (an identifier reused across patients, racing): the write then aborts and the door starts
  // again, and the checks above see it and answer the sender properly.
  for (const c of changed) {
    changes.resources.push({
      type: c.r.resourceType,
      rkey: c.r.rkey,
      person: c.personId,
      sha: c.sha.toString('hex'),
      links: mapped.get(c.r.rkey)!.links,
      resource: c.r.resource,
    });
  }
  return changed;
}

/** What senders take back in this message, by person: rkeys. */
export type Retractions = Map<number, string[]>;

/**
 * Deletions: the stored content goes (the row stays, so a resend of the deletion is a no-op and a
 * later message can send the resource again); a deletion received before the current version is a
 * late replay and changes nothing. Resources sent as entered-in-error are taken back too.
 */
export function planRetractions(
  bundle: ParsedBundle,
  deletionIssues: Issue[],
  changed: ChangedResource[],
  snap: Snapshot,
  sender: string,
  changes: CaptureChanges,
  answers: EntryAnswers,
  counts: CaptureCounts,
): Retractions {
  const retractions: Retractions = new Map();
  const retract = (personId: number, rkey: string) => retractions.set(personId, [...(retractions.get(personId) ?? []), rkey]);
  const ownDeletions = bundle.deletions.filter((d) => !deletionIssues.some((i) => i.value === d.rkey));
  for (const d of ownDeletions) {
    const row = snap.deletions.get(d.rkey);
    answers.setStatus(d.index, '204 No Content');
    if (row && row.sender === sender && !row.deleted && row.message_id < snap.messageId) {
      changes.deletions.push(d.rkey);
      answers.note(d.index, issue.info(undefined, 'deleted: the values it gave are taken back'));
      retract(row.person_id, d.rkey);
      counts.retracted++;
    } else if (!row) answers.note(d.index, issue.info(undefined, 'nothing is stored with this identifier; nothing to delete'));
    else if (row.deleted) answers.note(d.index, issue.info(undefined, 'already deleted'));
    else answers.note(d.index, issue.info(undefined, `not applied: message ${row.message_id}, received later, sent the resource again`));
  }
  for (const c of changed) {
    if (!isRetracted(c.r.resource)) continue;
    retract(c.personId, c.r.rkey);
    answers.note(c.r.index, issue.info(undefined, 'entered-in-error: the values it gave are taken back'));
    counts.retracted++;
  }
  return retractions;
}

/**
 * What senders took back (entered-in-error, or deleted) goes after the new values, so that a
 * replacement sent in the same message takes the variable's place; then event identity is
 * recomputed over what is left. Rare: these steps read and write on their own (records/retraction.ts).
 */
export async function applyRetractions(
  tx: PersonTx,
  keys: IdentityKeys,
  registries: Registry[],
  routed: RoutedRegistry[],
  retractions: Retractions,
  sender: string,
  changes: CaptureChanges,
  answers: EntryAnswers,
): Promise<void> {
  if (!retractions.size) return;
  const db = tx.client;
  const id = changes.messageId;
  await changes.flush(db);
  for (const [i, registry] of registries.entries()) {
    const touched = [...routed[i].touched];
    for (const [personId, rkeys] of retractions) {
      const r = await retractValues(db, registry, personId, rkeys, { kind: 'system', sender, message: id }, () =>
        linkedValues(db, registry, personId),
      );
      if (r.withdrawnCases || r.removedValues || r.deletedInstances) touched.push(personId);
    }
    const eventChanges = await assignEvents(db, keys, registry, touched);
    for (const ch of eventChanges) {
      if (!ch.invalidReason) continue;
      const index = routed[i].anchorIndexOfCase.get(ch.caseId);
      if (index !== undefined)
        answers.note(
          index,
          issue.info(
            undefined,
            `${registry.id}: case ${ch.caseId} is a second registration of the same event the same day; merged into case ${ch.mergedInto} and marked invalid`,
          ),
        );
    }
  }
}
