// The capture pipeline: one inbound message → identities → captured resources (idempotent on
// the sender's identifiers) → every registry whose inclusion rules match → cases and values.
// Runs inside one transaction opened by the data-access door; any error a sender caused is
// thrown as a CaptureError before anything is written, so nothing partial is ever stored.
// The database is read once, after the message's locks (capture/snapshot.ts); everything is then
// decided here, in memory, and written in one statement with the commit (capture/changes.ts). The
// rare steps — a temporary number joined with the real one, a retraction — read and write on their
// own (records/persons.ts, records/retraction.ts).
import crypto from 'node:crypto';
import type { PersonTx } from '../access/door.ts';
import { encryptNin, type IdentityKeys } from '../identity/crypto.ts';
import { assignEvents, planEvents, type EventRow } from '../records/events.ts';
import { isRetracted, RETRACTED, retract as retractValues } from '../records/retraction.ts';
import { linkedValues } from './relink.ts';
import { regroupByPerson, resolveCapturedPersons } from '../records/persons.ts';
import { nameRows, patientName } from './patient-name.ts';
import { inclusionDecision } from './routing.ts';
import { isDateTime, isRealDate } from '../registry/values.ts';
import { osloDate } from '../time/oslo.ts';
import type { Registry } from '../registry/load.ts';
import { CaseWorkspace, type ValueUpdate } from '../records/cases.ts';
import { caseValues, type PersonValues } from '../records/evaluate.ts';
import { linksOf, parseBundle, parseJson, type ParsedBundle, type ResourceEntry } from './bundle.ts';
import { identityFromIdentifier, identityOfPatient, type Identity } from './identity.ts';
import {
  anchorRefs,
  contributions,
  extractValues,
  isAnchor,
  linkKeysOf,
  toMapped,
  type Anchor,
  type Extracted,
  type MappedResource,
} from './mapper.ts';
import { CaptureError, issue, type Issue } from './outcome.ts';
import { CaptureChanges } from './changes.ts';
import { readSnapshot, type PromSnapshot, type Snapshot } from './snapshot.ts';

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
export interface HookResource {
  index: number;
  resourceType: string;
  rkey: string;
  personId: number;
  resource: Record<string, any>;
  state: 'changed' | 'unchanged' | 'stale';
}
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
  /** What the message's read found for the PROM module (capture/snapshot.ts), read with everything else. */
  prom: PromSnapshot;
}
/** What a hook has to say per entry; `failed` marks the entry refused (a batch then counts it failed; a transaction hook throws instead). */
export interface HookOutput {
  issues: Array<{ index: number; issue: Issue; failed?: boolean }>;
}
/**
 * Runs in the write phase of every message, after the captured resources and every registry's
 * cases are written, in the same transaction, with the message's persons locked (records/locks.ts).
 * A sender error in a transaction Bundle is thrown as a CaptureError (nothing is stored); in a
 * batch it is returned as a failed entry.
 */
export type CaptureHook = (tx: PersonTx, input: HookInput) => Promise<HookOutput>;

export interface EntryResult {
  index: number;
  status: string; // FHIR entry.response.status
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
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as any)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

export function parseMessage(body: string): ParsedBundle {
  return parseBundle(parseJson(body));
}

/** What `captureBundle` decided, and what it left to write in the round trip that commits. */
export interface CaptureOutcome {
  result: CaptureResult;
  /** The message's id (drawn by the read when it was not stored before). */
  messageId: number;
  /** Everything still to write; the inbox adds the raw message and sends it with the commit. */
  changes: CaptureChanges;
}

export interface CaptureOptions {
  /** Keyed hashes of every identity number the message's text names: locked with its persons. */
  lock?: Buffer[];
}

/**
 * Captures one parsed message inside `tx`: reads everything it needs in one round trip (its locks
 * first: capture/snapshot.ts), decides in memory, and returns what to write (capture/changes.ts).
 * `messageId` is null for a message not stored yet: the read draws its id.
 */
export async function captureBundle(
  tx: PersonTx,
  env: CaptureEnv,
  sender: string,
  messageId: number | null,
  bundle: ParsedBundle,
  opts: CaptureOptions = {},
): Promise<CaptureOutcome> {
  const db = tx.client;
  const entries = new Map<number, EntryResult>();
  const entry = (index: number) => {
    let e = entries.get(index);
    if (!e) {
      e = { index, status: '200 OK', issues: [] };
      entries.set(index, e);
    }
    return e;
  };

  // One response entry per request entry, in order.
  for (let i = 0; i < bundle.entryCount; i++) entry(i);
  // Entries of a batch that are not valid FHIR R4 fail alone, with their findings (capture/bundle.ts).
  for (const bad of bundle.invalid) {
    entry(bad.index).status = '422 Unprocessable Entity';
    entry(bad.index).issues.push(...bad.issues);
  }
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
    if (!identity) {
      entry(p.index).issues.push(...local);
      topIssues.push(...local);
      unidentified.add(p.index);
      continue;
    }
    const g: Group = groups.get(identity.hashHex) ?? { identity, resources: [], issues: [], extracted: new Map() };
    g.patient = { index: p.index, resource: p.resource };
    groups.set(identity.hashHex, g);
  }
  for (const r of bundle.resources) {
    let identity: Identity | undefined;
    if ('patientIndex' in r.subject) identity = patientIdentity.get(r.subject.patientIndex);
    else {
      const local: Issue[] = [];
      identity = identityFromIdentifier(
        env.keys,
        r.subject.system,
        r.subject.value,
        `Bundle.entry[${r.index}].resource.subject.identifier.value`,
        local,
        idOpts,
      );
      if (!identity && local.length === 0)
        local.push(
          issue.error(
            'value',
            `Bundle.entry[${r.index}].resource.subject.identifier.system`,
            'The subject identifier must be a Norwegian identity number (the OID of the fødselsnummer, D-number or felles hjelpenummer, or the auxiliary-number system).',
            { rule: 'patient-identity' },
          ),
        );
      entry(r.index).issues.push(...local);
      topIssues.push(...local);
    }
    if (!identity) {
      if (!entry(r.index).issues.length)
        entry(r.index).issues.push(
          issue.error(
            'processing',
            `Bundle.entry[${r.index}]`,
            'The patient of this resource could not be identified (see the Patient entry).',
          ),
        );
      unidentified.add(r.index);
      continue;
    }
    const g: Group = groups.get(identity.hashHex) ?? { identity, resources: [], issues: [], extracted: new Map() };
    g.resources.push(r);
    groups.set(identity.hashHex, g);
  }

  // [identity] Earlier numbers of these patients (a temporary number resolved to the real one) are
  // joined with them first (records/persons.ts: their own locks and reads, a few round trips, rare).
  if ([...groups.values()].some((g) => g.identity.aliases?.length)) {
    if (messageId === null) {
      // The merge records the message that asked for it: its id is drawn here, before the read.
      const res = await db.query(`${tx.begin()}SELECT nextval(pg_get_serial_sequence('inbox_message', 'id')) AS id`);
      messageId = Number((Array.isArray(res) ? res[res.length - 1] : res).rows[0].id);
    }
    await resolveCapturedPersons(tx, { keys: env.keys, registries: env.allRegistries ?? env.registries }, groups, {
      label: `system:${sender}`,
      role: 'system',
      source: 'message',
      messageId,
    });
  }

  // What the read needs to know: the message's resources as each registry links them.
  const mappedByKey = new Map<string, MappedResource>();
  for (const g of groups.values())
    for (const r of g.resources) mappedByKey.set(r.rkey, toMapped(r.rkey, r.resourceType, r.resource, `Bundle.entry[${r.index}].resource`));
  // A date of death, as a date in Norwegian time (null when there is none, or it is not a date: step 3 reports that).
  const deceasedOf = (p: Record<string, any> | undefined): string | null => {
    const d = p?.deceasedDateTime;
    if (typeof d !== 'string' || !(isRealDate(d) || isDateTime(d))) return null;
    return d.length > 10 ? osloDate(d) : d;
  };
  const deceasedGiven = new Map<string, string>();
  for (const g of groups.values()) {
    const d = deceasedOf(g.patient?.resource);
    if (d) deceasedGiven.set(g.identity.hashHex, d);
  }
  const linkKeys = (registry: Registry, list: MappedResource[]) => {
    const anchorKeys = new Set<string>(),
      sharedKeys = new Set<string>();
    for (const m of list) {
      const k = linkKeysOf(registry, m);
      k.anchors.forEach((x) => anchorKeys.add(x));
      k.shared.forEach((x) => sharedKeys.add(x));
    }
    return { anchorKeys, sharedKeys };
  };
  const allMapped = [...mappedByKey.values()];
  // Each person is locked (records/locks.ts) before anything about them is read: a capture, a
  // registrar, a merge or a reservation touching the same person waits for this message, and this
  // message sees everything they committed. The persons of resources the message deletes are
  // locked too (a deletion names a resource, not a patient).
  const snap = await readSnapshot(tx, {
    messageId,
    sender,
    lock: [...(opts.lock ?? []), ...[...groups.values()].map((g) => g.identity.hash)],
    identities: [...groups.values()].map((g) => g.identity.hash),
    deceased: deceasedGiven,
    resources: [...mappedByKey.keys()],
    deletions: bundle.deletions.map((d) => d.rkey),
    registries: env.registries.map((registry) => {
      const { anchorKeys, sharedKeys } = linkKeys(registry, allMapped);
      return {
        id: registry.id,
        event: !!registry.event,
        anchorKeys: [...anchorKeys],
        sharedKeys: [...sharedKeys],
        anchors: allMapped.filter((m) => isAnchor(registry, m)).map((m) => ({ rkey: m.rkey, refs: anchorRefs(registry, m.resource) })),
      };
    }),
  });
  const id = snap.messageId;
  // A sending system registered for some registries only reports to those.
  const registries = snap.senderRegistries ? env.registries.filter((r) => snap.senderRegistries!.includes(r.id)) : env.registries;
  // [identity] A number merged into another person earlier is captured as that person.
  regroupByPerson(groups, (g) => {
    const p = snap.personOf(g.identity.hashHex);
    return p && { id: p.id, hash: p.hash, hashHex: p.hashHex, kind: p.kind };
  });

  // 2. Opted-out patients: refused, counted without identity. Checked before any other error is
  // reported, so that a message about someone who opted out is never kept in quarantine.
  const deletionRows = snap.deletions;
  let refusedReservation = 0;
  for (const g of groups.values()) {
    const reserved = snap.personOf(g.identity.hashHex)?.reserved ?? snap.reservedNumber(g.identity.hashHex);
    if (!reserved) continue;
    g.refused = true;
    const refusal = issue.error(
      'forbidden',
      undefined,
      'The patient has opted out of the medical quality registries (reservation right); nothing about them is stored. Do not resend.',
      { rule: 'reservation' },
    );
    for (const idx of [g.patient?.index, ...g.resources.map((r) => r.index)])
      if (idx !== undefined) {
        entry(idx).status = '403 Forbidden';
        entry(idx).issues.push(refusal);
        refusedReservation++;
      }
  }
  if (bundle.type === 'transaction' && refusedReservation) {
    throw new CaptureError(
      [
        issue.error(
          'forbidden',
          undefined,
          'The patient has opted out of the medical quality registries (reservation right); nothing about them is stored. Do not resend.',
          { rule: 'reservation' },
        ),
      ],
      403,
    );
  }
  if (bundle.type === 'transaction' && topIssues.length) throw new CaptureError(topIssues);

  // 3. Every value every registry would take, typed and checked, before anything is written.
  const unitsOk = (value: unknown) => tx.units.has(String(value));
  for (const g of groups.values()) {
    if (g.refused) continue;
    if (g.patient) {
      const p = g.patient.resource,
        at = `Bundle.entry[${g.patient.index}].resource`;
      const local: Issue[] = [];
      if (p.birthDate !== undefined && !(typeof p.birthDate === 'string' && isRealDate(p.birthDate))) {
        local.push(
          issue.error(
            'value',
            `${at}.birthDate`,
            'birthDate must be a real calendar date written YYYY-MM-DD (or left out: it is derived from the identity number).',
            { value: p.birthDate },
          ),
        );
      }
      const d = p.deceasedDateTime;
      if (d !== undefined && !(typeof d === 'string' && (isRealDate(d) || isDateTime(d)))) {
        local.push(
          issue.error(
            'value',
            `${at}.deceasedDateTime`,
            'deceasedDateTime must be a real date (YYYY-MM-DD) or a date-time with a time zone.',
            { value: d },
          ),
        );
      }
      if (local.length) {
        g.issues.push(...local);
        entry(g.patient.index).issues.push(...local);
      }
    }
    for (const r of g.resources) {
      const mapped = mappedByKey.get(r.rkey)!;
      for (const registry of registries) {
        const local: Issue[] = [];
        const values = extractValues(registry, mapped, local);
        for (const v of values) {
          if (v.variable === registry.mapping.unitVariable && !unitsOk(v.value)) {
            local.push(
              issue.error(
                'code-invalid',
                mapped.location,
                `${registry.id}: the unit with RESH id ${v.value} is not known to the platform. Check the RESH id in the resource, or ask the registry to add the unit.`,
                { rule: 'unit-known', value: v.value },
              ),
            );
          }
        }
        if (local.length) {
          g.issues.push(...local);
          entry(r.index).issues.push(...local);
        }
        if (!g.extracted.has(registry.id)) g.extracted.set(registry.id, new Map());
        g.extracted.get(registry.id)!.set(r.rkey, values);
      }
    }
  }
  // Earlier versions of these resources: unchanged content is a resend, content older than what
  // is stored is a late replay, and an identifier already used for another patient is an error.
  const candidates = [...groups.values()]
    .filter((g) => !g.refused && !g.issues.length)
    .flatMap((g) => g.resources.map((r) => ({ r, g, sha: crypto.createHash('sha256').update(canonical(r.resource)).digest() })));
  const existing = snap.existing;
  for (const c of candidates) {
    const old = existing.get(c.r.rkey);
    if (old && old.sender !== sender) {
      // Identifiers are the sender's own: another system reusing one would overwrite data it did not send.
      const problem = issue.error(
        'business-rule',
        `Bundle.entry[${c.r.index}].resource.identifier`,
        `A resource with this identifier was sent by another system (${old.sender}). Use your own identifier system for the resources you send.`,
        { rule: 'identifier-sender', value: c.r.rkey },
      );
      c.g.issues.push(problem);
      entry(c.r.index).issues.push(problem);
      continue;
    }
    if (old && old.owner !== c.g.identity.hashHex) {
      const problem = issue.error(
        'business-rule',
        `Bundle.entry[${c.r.index}].resource.identifier`,
        'A resource with this identifier was sent earlier for another patient. Identifiers must be unique per resource; correct the patient or the identifier.',
        { rule: 'identifier-owner', value: c.r.rkey },
      );
      c.g.issues.push(problem);
      entry(c.r.index).issues.push(problem);
    }
  }
  const deletionIssues: Issue[] = [];
  for (const d of bundle.deletions) {
    const row = deletionRows.get(d.rkey);
    if (row && row.sender !== sender) {
      const problem = issue.error(
        'business-rule',
        `Bundle.entry[${d.index}].request.url`,
        `This resource was sent by another system (${row.sender}); only its sender can delete it.`,
        { rule: 'identifier-sender', value: d.rkey },
      );
      deletionIssues.push(problem);
      entry(d.index).issues.push(problem);
      entry(d.index).status = '422 Unprocessable Entity';
    }
  }
  const failed = [...groups.values()].filter((g) => g.issues.length && !g.refused);
  if (bundle.type === 'transaction' && (failed.length || deletionIssues.length))
    throw new CaptureError([...failed.flatMap((g) => g.issues), ...deletionIssues]);
  let failedEntries = deletionIssues.length + bundle.invalid.length;
  for (const idx of unidentified) {
    entry(idx).status = '422 Unprocessable Entity';
    failedEntries++;
  }
  for (const g of failed) {
    for (const idx of [g.patient?.index, ...g.resources.map((r) => r.index)])
      if (idx !== undefined) {
        entry(idx).status = '422 Unprocessable Entity';
        failedEntries++;
      }
  }
  const accepted = [...groups.values()].filter((g) => !g.refused && !g.issues.length);
  const changes = new CaptureChanges(id, sender);

  // 4. Persons: created when they have resources; a Patient-only message (e.g. a death notice
  // from the population register) updates only persons already known. [workbench] A person step
  // that stores more of the Patient (e.g. its encrypted name) adds to these rows.
  const personRows = accepted.map((g) => {
    const p = g.patient?.resource;
    return {
      hash: g.identity.hashHex,
      enc: encryptNin(env.keys, g.identity.nin).toString('hex'),
      kind: g.identity.kind,
      birth: (typeof p?.birthDate === 'string' ? p.birthDate : null) ?? g.identity.birthDate,
      sex: p?.gender === 'male' || p?.gender === 'female' ? p.gender : g.identity.sex,
      deceased: deceasedOf(p),
      create: g.resources.length > 0,
    };
  });
  const personIdByHash = new Map<string, number>();
  const personById = new Map<number, { hashHex: string; kind: string; values: PersonValues }>();
  const deceasedChanged: number[] = [];
  for (const p of personRows) {
    const k = snap.personOf(p.hash);
    if (k) {
      // Update what changed of the persons already known.
      personIdByHash.set(p.hash, k.id);
      const next = { birth: p.birth ?? k.birth_date, sex: p.sex ?? k.sex, deceased: p.deceased ?? k.deceased_date };
      if (next.birth !== k.birth_date || next.sex !== k.sex || next.deceased !== k.deceased_date)
        changes.personUpdates.push({ id: k.id, ...next });
      if (p.deceased && p.deceased !== k.deceased_date) deceasedChanged.push(k.id);
      personById.set(k.id, {
        hashHex: p.hash,
        kind: k.kind,
        values: { birth_date: next.birth, sex: next.sex, deceased_date: next.deceased },
      });
    } else if (p.create) {
      // Insert the rest, under the id the read drew for them (their lock is held: nobody else creates them).
      const newId = snap.newPersonId(p.hash)!;
      personIdByHash.set(p.hash, newId);
      changes.personInserts.push({ id: newId, hash: p.hash, enc: p.enc, kind: p.kind, birth: p.birth, sex: p.sex, deceased: p.deceased });
      personById.set(newId, { hashHex: p.hash, kind: p.kind, values: { birth_date: p.birth, sex: p.sex, deceased_date: p.deceased } });
    }
  }
  const personValues = new Map<number, PersonValues>([...personById].map(([pid, p]) => [pid, p.values]));
  for (const g of accepted) if (g.patient) entry(g.patient.index).status = '200 OK';
  // [workbench] The patient's name, encrypted like the identity number, so a registrar can tell
  // who a registration is about (capture/patient-name.ts). Read from Patient.name only.
  // Written with the rest (capture/changes.ts), after the persons a message creates.
  changes.names.push(
    ...nameRows(
      env.keys,
      accepted.flatMap((g) => {
        const id = personIdByHash.get(g.identity.hashHex),
          name = patientName(g.patient?.resource);
        return id !== undefined && name ? [{ personId: id, name }] : [];
      }),
    ),
  );

  // 5. Captured resources: unchanged content is a no-op (a resend); changed content is a new version.
  const changed: Array<(typeof candidates)[number] & { personId: number }> = [];
  const counts = { created: 0, updated: 0, unchanged: 0, cases: 0, referred: 0, retracted: 0 };
  for (const c of candidates) {
    if (c.g.issues.length) continue;
    const old = existing.get(c.r.rkey);
    const e = entry(c.r.index);
    if (old && Buffer.compare(old.content_sha256, c.sha) === 0) {
      e.issues.push(issue.info(undefined, `unchanged: identical to version ${old.version} already received`));
      counts.unchanged++;
      continue;
    }
    if (old && old.message_id > id) {
      // A message received before the one that gave the current version, processed late (e.g. by
      // recovery after a crash): it must not take the data back to older content.
      e.issues.push(issue.info(undefined, `not applied: message ${old.message_id}, received later, already gave version ${old.version}`));
      counts.unchanged++;
      continue;
    }
    e.status = old ? '200 OK' : '201 Created';
    e.issues.push(issue.info(undefined, old ? `updated: stored as version ${old.version + 1}` : 'created'));
    if (old) counts.updated++;
    else counts.created++;
    changed.push({ ...c, personId: personIdByHash.get(c.g.identity.hashHex)! });
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
      links: mappedByKey.get(c.r.rkey)!.links,
      resource: c.r.resource,
    });
  }

  // Deletions: the stored content goes (the row stays, so a resend of the deletion is a no-op and
  // a later message can send the resource again); a deletion received before the current version
  // is a late replay and changes nothing.
  const retractions = new Map<number, string[]>();
  const retract = (personId: number, rkey: string) => retractions.set(personId, [...(retractions.get(personId) ?? []), rkey]);
  const ownDeletions = bundle.deletions.filter((d) => !deletionIssues.some((i) => i.value === d.rkey));
  for (const d of ownDeletions) {
    const e = entry(d.index);
    const row = deletionRows.get(d.rkey);
    e.status = '204 No Content';
    if (row && row.sender === sender && !row.deleted && row.message_id < id) {
      changes.deletions.push(d.rkey);
      e.issues.push(issue.info(undefined, 'deleted: the values it gave are taken back'));
      retract(row.person_id, d.rkey);
      counts.retracted++;
    } else if (!row) e.issues.push(issue.info(undefined, 'nothing is stored with this identifier; nothing to delete'));
    else if (row.deleted) e.issues.push(issue.info(undefined, 'already deleted'));
    else e.issues.push(issue.info(undefined, `not applied: message ${row.message_id}, received later, sent the resource again`));
  }
  for (const c of changed) {
    if (!isRetracted(c.r.resource)) continue;
    retract(c.personId, c.r.rkey);
    entry(c.r.index).issues.push(issue.info(undefined, 'entered-in-error: the values it gave are taken back'));
    counts.retracted++;
  }

  // 6. Every registry takes what is theirs. [prom] A message's QuestionnaireResponse reaches the
  // PROM module here, beside the registries (it is captured as a resource like any other above).
  const routed = registries.map((registry) =>
    routeToRegistry(
      { tx, keys: env.keys, registry, sender, messageId: id, snap, personById, changes, eventsHere: retractions.size === 0 },
      changed.map((c) => ({
        mapped: mappedByKey.get(c.r.rkey)!,
        extracted: c.g.extracted.get(registry.id)?.get(c.r.rkey) ?? [],
        personId: c.personId,
        index: c.r.index,
      })),
      deceasedChanged,
      personValues,
    ),
  );
  for (const r of routed) {
    for (const [index, note] of r.notes) entry(index).issues.push(issue.info(undefined, note));
    counts.cases += r.cases;
    counts.referred += r.referred;
  }
  if (retractions.size) {
    // What senders took back (entered-in-error, or deleted) goes after the new values, so that a
    // replacement sent in the same message takes the variable's place; then event identity is
    // recomputed over what is left. Rare: these steps read and write on their own (records/retraction.ts).
    await changes.flush(db);
    for (const [i, registry] of registries.entries()) {
      const touched = [...routed[i].touched];
      for (const [personId, rkeys] of retractions) {
        const r = await retractValues(db, registry, personId, rkeys, { kind: 'system', sender, message: id }, () =>
          linkedValues(db, registry, personId),
        );
        if (r.withdrawnCases || r.removedValues || r.deletedInstances) touched.push(personId);
      }
      const eventChanges = await assignEvents(db, env.keys, registry, touched);
      for (const ch of eventChanges) {
        if (!ch.invalidReason) continue;
        const index = routed[i].anchorIndexOfCase.get(ch.caseId);
        if (index !== undefined)
          entry(index).issues.push(
            issue.info(
              undefined,
              `${registry.id}: case ${ch.caseId} is a second registration of the same event the same day; merged into case ${ch.mergedInto} and marked invalid`,
            ),
          );
      }
    }
  }

  const personIds = [...new Set(personIdByHash.values())];
  // 7. HOOK — another module's work on this message's resources (PROM: QuestionnaireResponses are
  // scored and matched to the schedules, src/prom/capture.ts), after every write above. The writes
  // wait for the commit (changes.ts): they are sent before the hook's first statement, so that
  // whatever it reads sees them, and not at all when it reads nothing.
  if (env.afterWrite) {
    const changedKeys = new Set(changed.map((c) => c.r.rkey));
    const hooked = await env.afterWrite(
      flushingBeforeFirstQuery(tx, () => changes.flush(db)),
      {
        bundleType: bundle.type,
        sender,
        messageId: id,
        registries: env.registries.map((r) => r.id),
        personIds,
        resources: candidates
          .filter((c) => !c.g.issues.length)
          .map((c) => ({
            index: c.r.index,
            resourceType: c.r.resourceType,
            rkey: c.r.rkey,
            personId: personIdByHash.get(c.g.identity.hashHex)!,
            resource: c.r.resource,
            state: changedKeys.has(c.r.rkey)
              ? ('changed' as const)
              : Buffer.compare(existing.get(c.r.rkey)?.content_sha256 ?? Buffer.alloc(0), c.sha) === 0
                ? ('unchanged' as const)
                : ('stale' as const),
          })),
        retracted: [...retractions].flatMap(([personId, rkeys]) => rkeys.map((rkey) => ({ personId, rkey }))),
        prom: snap.prom,
      },
    );
    for (const h of hooked.issues) {
      entry(h.index).issues.push(h.issue);
      if (h.failed && !entry(h.index).status.startsWith('422')) {
        entry(h.index).status = '422 Unprocessable Entity';
        failedEntries++;
      }
    }
  }

  if (personIds.length)
    tx.audit({ action: 'capture', object: `inbox/${id}`, personIds, actor: { label: `system:${sender}`, role: 'system' } });
  return {
    messageId: id,
    changes,
    result: {
      bundleType: bundle.type,
      entries: [...entries.values()].sort((a, b) => a.index - b.index),
      personIds,
      refusedReservation,
      failedEntries,
      counts,
    },
  };
}

interface Incoming {
  mapped: MappedResource;
  extracted: Extracted[];
  personId: number;
  index: number;
}

/** The transaction as a hook sees it: `before` runs (once) ahead of the first statement the hook sends. */
function flushingBeforeFirstQuery(tx: PersonTx, before: () => Promise<void>): PersonTx {
  let pending: Promise<void> | undefined;
  const client = new Proxy(tx.client, {
    get(target, prop, receiver) {
      if (prop === 'query') {
        return (...args: unknown[]) => {
          pending ??= before();
          const run = pending.then(() => (target.query as (...a: unknown[]) => unknown).apply(target, args));
          return run;
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return Object.assign(Object.create(tx) as PersonTx, { client });
}

interface RouteContext {
  tx: PersonTx;
  keys: IdentityKeys;
  registry: Registry;
  sender: string;
  messageId: number;
  snap: Snapshot;
  personById: Map<number, { hashHex: string; kind: string; values: PersonValues }>;
  changes: CaptureChanges;
  /** Event identity is decided here, in memory (no retraction in the message: it is then recomputed after them). */
  eventsHere: boolean;
}

/**
 * One registry's part of a message, decided in memory on what the read returned: which stored
 * cases the incoming resources concern, which new anchors the registry includes, the values each
 * case gets (records/cases.ts), event identity (records/events.ts), and what to write.
 */
function routeToRegistry(
  ctx: RouteContext,
  incoming: Incoming[],
  recheckPersons: number[],
  personValues: Map<number, PersonValues>,
): { notes: Array<[number, string]>; cases: number; referred: number; touched: number[]; anchorIndexOfCase: Map<number, number> } {
  const { registry, snap, changes, sender, messageId } = ctx;
  const stored = snap.registries.get(registry.id)!;
  const notes: Array<[number, string]> = [];
  const anchorsIn = incoming.filter((i) => isAnchor(registry, i.mapped));
  const anchorKeys = new Set<string>(),
    sharedKeys = new Set<string>();
  for (const i of incoming) {
    const k = linkKeysOf(registry, i.mapped);
    k.anchors.forEach((x) => anchorKeys.add(x));
    k.shared.forEach((x) => sharedKeys.add(x));
  }

  // Cases already known that the incoming resources concern: by the anchor's own key, or by
  // something the anchor refers to (its encounter). The read returned the message's persons'
  // cases that any of its resources concern; these are the ones its new content concerns.
  const known = new Map<string, { id: number; anchor_key: string; person_id: number; resource: Record<string, any> }>();
  if (incoming.length) {
    for (const k of stored.known)
      if (anchorKeys.has(k.anchor_key) || linksOf(k.resource).some((l) => sharedKeys.has(l))) known.set(k.anchor_key, k);
  }

  // New anchors: does the registry include them? Decided on the anchor's own values.
  const newCases: Array<{ anchorKey: string; personId: number }> = [];
  const decisions: Array<{ anchor: string; person: number; decision: string; target: string }> = [];
  const anchors: Array<Anchor & { personId: number }> = [];
  for (const k of known.values())
    anchors.push({ rkey: k.anchor_key, resource: k.resource, refs: anchorRefs(registry, k.resource), personId: k.person_id });
  for (const a of anchorsIn) {
    if (known.has(a.mapped.rkey)) continue;
    const p = personValues.get(a.personId);
    const own = contributions({ rkey: a.mapped.rkey, resource: a.mapped.resource, refs: [] }, a.mapped, a.extracted);
    const values = caseValues(
      registry,
      { birth_date: p?.birth_date ?? null, sex: p?.sex ?? null, deceased_date: p?.deceased_date ?? null },
      [{ form: '', instance: '', data: Object.fromEntries(own.map((c) => [c.variable, c.value])) }],
    );
    // [workbench] The same decision a registration by hand gets (capture/routing.ts).
    const decided = inclusionDecision(registry, values);
    if (decided.decision === 'referred') {
      decisions.push({ anchor: a.mapped.rkey, person: a.personId, decision: 'referred', target: decided.target });
      notes.push([a.index, `${registry.id}: referred to ${decided.name.en}`]);
      continue;
    }
    if (decided.decision === 'not-included') {
      decisions.push({ anchor: a.mapped.rkey, person: a.personId, decision: 'not-included', target: '' });
      notes.push([a.index, `${registry.id}: not included by the registry's inclusion rules`]);
      continue;
    }
    decisions.push({ anchor: a.mapped.rkey, person: a.personId, decision: 'included', target: '' });
    newCases.push({ anchorKey: a.mapped.rkey, personId: a.personId });
    anchors.push({ rkey: a.mapped.rkey, resource: a.mapped.resource, refs: anchorRefs(registry, a.mapped.resource), personId: a.personId });
  }

  // The cases in memory: those read (locked, with their forms) and those created now, under the
  // ids the read drew for them.
  const workspace = new CaseWorkspace(registry);
  const eventState = new Map<
    number,
    {
      person_id: number;
      anchor_key: string;
      unit_path: string[] | null;
      event_key: string | null;
      merged_into: number | null;
      created: boolean;
    }
  >();
  // A person of this message as it now stands, or (a person whose part of a batch failed) as read.
  const personOfCase = (personId: number) => {
    const p = ctx.personById.get(personId);
    if (p) return p;
    const q = snap.person(personId);
    return q && { hashHex: q.hashHex, kind: q.kind, values: { birth_date: q.birth_date, sex: q.sex, deceased_date: q.deceased_date } };
  };
  for (const c of snap.cases.values()) {
    if (c.registry !== registry.id) continue;
    const p = personOfCase(c.person_id);
    workspace.load(
      {
        id: c.id,
        person: p?.values ?? { birth_date: null, sex: null, deceased_date: null },
        identityKind: p?.kind,
        invalidReason: c.invalid_reason,
        unit: c.unit_resh,
      },
      c.forms,
    );
    eventState.set(c.id, {
      person_id: c.person_id,
      anchor_key: c.anchor_key,
      unit_path: c.unit_path,
      event_key: c.event_key,
      merged_into: c.merged_into,
      created: false,
    });
  }
  const caseIds = new Map<string, { id: number; created: boolean }>();
  for (const n of newCases) {
    const caseId = snap.newCaseIds.shift();
    if (caseId === undefined) throw new Error('capture: the read drew fewer case ids than the message has new anchors');
    const p = personOfCase(n.personId);
    workspace.create({
      id: caseId,
      person: p?.values ?? { birth_date: null, sex: null, deceased_date: null },
      identityKind: p?.kind,
      invalidReason: null,
      unit: null,
    });
    eventState.set(caseId, {
      person_id: n.personId,
      anchor_key: n.anchorKey,
      unit_path: null,
      event_key: null,
      merged_into: null,
      created: true,
    });
    caseIds.set(n.anchorKey, { id: caseId, created: true });
  }
  for (const k of known.values()) caseIds.set(k.anchor_key, { id: k.id, created: false });
  const anchorIndexOfCase = new Map<number, number>();
  for (const a of anchorsIn) {
    const c = caseIds.get(a.mapped.rkey);
    if (c) {
      notes.push([a.index, `${registry.id}: case ${c.id}${c.created ? ' created' : ' updated'}`]);
      anchorIndexOfCase.set(c.id, a.index);
    }
  }

  // Resources stored earlier that belong to a new case (they arrived before its anchor): resources
  // referring to the anchors, resources the anchors refer to, and resources referring to what the
  // anchors refer to (e.g. the same encounter).
  const pool: Incoming[] = [...incoming];
  const created = anchors.filter((a) => caseIds.get(a.rkey)?.created);
  if (created.length) {
    const createdKeys = new Set(created.map((a) => a.rkey));
    const createdLinks = new Set(created.flatMap((a) => a.refs));
    const inMessage = new Set(incoming.map((i) => i.mapped.rkey));
    for (const r of stored.earlier) {
      if (inMessage.has(r.rkey)) continue;
      const links = linksOf(r.resource);
      if (!(links.some((l) => createdKeys.has(l) || createdLinks.has(l)) || createdLinks.has(r.rkey))) continue;
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
        updates.push({
          caseId: c.id,
          form: contribution.form,
          instance: contribution.instance,
          variable: contribution.variable,
          value: contribution.value,
          provenance: { kind: 'system', sender, message: messageId, resource: contribution.resourceKey },
        });
      }
    }
  }
  const recheckSet = new Set(recheckPersons);
  const recheck = stored.recheck.filter((caseId) => recheckSet.has(snap.cases.get(`${registry.id}:${caseId}`)?.person_id ?? -1));
  const createdIds = new Set([...caseIds.values()].filter((c) => c.created).map((c) => c.id));
  const at = changes.at;
  changes.addForms(registry.id, workspace.apply(updates, { recheck: [...recheck, ...createdIds], at }));
  // An anchor sent again after its sender retracted it: its case counts again.
  for (const a of anchorsIn) {
    const k = known.get(a.mapped.rkey);
    if (!k || workspace.state(k.id)?.invalidReason !== RETRACTED) continue;
    workspace.setInvalidReason(k.id, null);
    decisions.push({ anchor: a.mapped.rkey, person: k.person_id, decision: 'included', target: '' });
  }
  const touched = [...anchors.map((a) => a.personId)];

  // Event identity (a registry's `event` declaration): recomputed over every case of the persons
  // touched, so a transfer joins the event another unit registered and a second registration the
  // same day is merged. Capture sees every unit's cases, as this needs.
  if (registry.event && ctx.eventsHere && touched.length) {
    const persons = new Set(touched);
    const rows: EventRow[] = [];
    for (const [caseId, e] of [...eventState].sort((a, b) => a[0] - b[0])) {
      const s = workspace.state(caseId)!;
      if (!persons.has(e.person_id) || s.invalidReason === RETRACTED) continue;
      const p = personOfCase(e.person_id);
      if (!p) continue;
      const unitPath =
        e.created || s.unit !== snap.cases.get(`${registry.id}:${caseId}`)?.unit_resh
          ? s.unit
            ? (ctx.tx.units.get(s.unit)?.path ?? [s.unit])
            : [s.unit as unknown as string]
          : e.unit_path;
      rows.push({
        id: caseId,
        person_id: e.person_id,
        unit_resh: s.unit,
        unit_path: unitPath,
        event_key: e.event_key,
        invalid_reason: s.invalidReason,
        merged_into: e.merged_into,
        person_hash: p.hashHex,
        ...p.values,
        forms: workspace.forms(caseId),
      });
    }
    const planned = planEvents(ctx.keys, registry, rows);
    for (const ch of planned.changes) {
      const e = eventState.get(ch.caseId)!;
      e.event_key = ch.eventKey;
      e.merged_into = ch.mergedInto;
      workspace.setInvalidReason(ch.caseId, ch.invalidReason);
      if (!ch.invalidReason) continue;
      const index = anchorIndexOfCase.get(ch.caseId);
      if (index !== undefined)
        notes.push([
          index,
          `${registry.id}: case ${ch.caseId} is a second registration of the same event the same day; merged into case ${ch.mergedInto} and marked invalid`,
        ]);
    }
    if (planned.copies.length) changes.addForms(registry.id, workspace.apply(planned.copies, { at }));
  }

  // What to write: the new cases as they now stand, what changed of the cases read, and every decision.
  for (const [caseId, e] of eventState) {
    const s = workspace.state(caseId)!;
    if (e.created) {
      changes.cases.push({
        registry: registry.id,
        id: caseId,
        person: e.person_id,
        anchor: e.anchor_key,
        version: registry.version,
        unit: s.unit,
        event_key: e.event_key,
        invalid_reason: s.invalidReason,
        merged_into: e.merged_into,
      });
      continue;
    }
    const was = snap.cases.get(`${registry.id}:${caseId}`)!;
    if (
      s.unit !== was.unit_resh ||
      s.invalidReason !== was.invalid_reason ||
      e.event_key !== was.event_key ||
      e.merged_into !== was.merged_into
    ) {
      changes.caseUpdates.push({
        registry: registry.id,
        id: caseId,
        unit: s.unit,
        event_key: e.event_key,
        invalid_reason: s.invalidReason,
        merged_into: e.merged_into,
      });
    }
  }
  for (const d of decisions) changes.decisions.push({ registry: registry.id, ...d });
  return { notes, cases: newCases.length, referred: decisions.filter((d) => d.decision === 'referred').length, touched, anchorIndexOfCase };
}
