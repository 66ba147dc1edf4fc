// Identify the patient: every entry of a message is grouped by the patient it is about (the Patient
// entry, or the subject's identity number), because a batch succeeds or fails per patient. Earlier
// numbers of a patient (a temporary number resolved to the real one) are joined with them, and a
// patient who has opted out of the registries is refused before anything else is said about them.
import type { PersonTx } from '../access/door.ts';
import { regroupByPerson, resolveCapturedPersons } from '../records/persons.ts';
import { isDateTime, isRealDate } from '../registry/values.ts';
import { osloDate } from '../time/oslo.ts';
import type { EntryAnswers } from './answers.ts';
import type { ParsedBundle, ResourceEntry } from './bundle.ts';
import { identityFromIdentifier, identityOfPatient, type Identity } from './identity.ts';
import type { Extracted } from './mapper.ts';
import { CaptureError, issue, type Issue } from './outcome.ts';
import type { CaptureEnv } from './pipeline.ts';
import type { Snapshot } from './snapshot.ts';

/** One patient's part of a message. */
export interface Group {
  identity: Identity;
  patient?: { index: number; resource: Record<string, any> };
  resources: ResourceEntry[];
  issues: Issue[];
  extracted: Map<string, Map<string, Extracted[]>>; // registry → rkey → values
  refused?: boolean;
}

export interface Patients {
  /** By the keyed hash (hex) of the patient's number. */
  groups: Map<string, Group>;
  /** Entries whose patient could not be identified: they fail. */
  unidentified: Set<number>;
  /** What was wrong with the identities (a transaction is refused for any of them). */
  issues: Issue[];
}

/** Groups the message's entries by patient; an entry whose patient cannot be identified is reported. */
export function identifyPatients(env: CaptureEnv, bundle: ParsedBundle, answers: EntryAnswers): Patients {
  const idOpts = { today: env.today, allowTestIdentities: env.allowTestIdentities }; // [identity]
  const groups = new Map<string, Group>();
  const unidentified = new Set<number>();
  const issues: Issue[] = [];
  const groupOf = (identity: Identity) => {
    const g: Group = groups.get(identity.hashHex) ?? { identity, resources: [], issues: [], extracted: new Map() };
    groups.set(identity.hashHex, g);
    return g;
  };
  const patientIdentity = new Map<number, Identity | undefined>();
  for (const p of bundle.patients) {
    const local: Issue[] = [];
    const identity = identityOfPatient(env.keys, p.resource, `Bundle.entry[${p.index}].resource`, local, idOpts);
    patientIdentity.set(p.index, identity);
    if (!identity) {
      answers.note(p.index, ...local);
      issues.push(...local);
      unidentified.add(p.index);
      continue;
    }
    groupOf(identity).patient = { index: p.index, resource: p.resource };
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
      answers.note(r.index, ...local);
      issues.push(...local);
    }
    if (!identity) {
      if (!answers.of(r.index).issues.length)
        answers.note(
          r.index,
          issue.error(
            'processing',
            `Bundle.entry[${r.index}]`,
            'The patient of this resource could not be identified (see the Patient entry).',
          ),
        );
      unidentified.add(r.index);
      continue;
    }
    groupOf(identity).resources.push(r);
  }
  return { groups, unidentified, issues };
}

/**
 * [identity] Earlier numbers of these patients (a temporary number resolved to the real one) are
 * joined with them first (records/persons.ts: their own locks and reads, a few round trips, rare).
 * Returns the message's id: the merge records the message that asked for it, so it is drawn here
 * when the message has none yet.
 */
export async function joinEarlierNumbers(
  tx: PersonTx,
  env: CaptureEnv,
  sender: string,
  messageId: number | null,
  groups: Map<string, Group>,
): Promise<number | null> {
  if (![...groups.values()].some((g) => g.identity.aliases?.length)) return messageId;
  if (messageId === null) {
    const res = await tx.client.query(`${tx.begin()}SELECT nextval(pg_get_serial_sequence('inbox_message', 'id')) AS id`);
    messageId = Number((Array.isArray(res) ? res[res.length - 1] : res).rows[0].id);
  }
  await resolveCapturedPersons(tx, { keys: env.keys, registries: env.allRegistries ?? env.registries }, groups, {
    label: `system:${sender}`,
    role: 'system',
    source: 'message',
    messageId,
  });
  return messageId;
}

/** [identity] A number merged into another person earlier (as the read found it) is captured as that person. */
export function asStoredPersons(groups: Map<string, Group>, snap: Snapshot): void {
  regroupByPerson(groups, (g) => {
    const p = snap.personOf(g.identity.hashHex);
    return p && { id: p.id, hash: p.hash, hashHex: p.hashHex, kind: p.kind };
  });
}

const RESERVATION =
  'The patient has opted out of the medical quality registries (reservation right); nothing about them is stored. Do not resend.';

/**
 * Opted-out patients: refused, counted without identity. Checked before any other error is
 * reported, so that a message about someone who opted out is never kept in quarantine; a
 * transaction about them is refused whole. Returns the number of entries refused.
 */
export function refuseOptedOut(bundle: ParsedBundle, groups: Map<string, Group>, snap: Snapshot, answers: EntryAnswers): number {
  let refused = 0;
  for (const g of groups.values()) {
    const reserved = snap.personOf(g.identity.hashHex)?.reserved ?? snap.reservedNumber(g.identity.hashHex);
    if (!reserved) continue;
    g.refused = true;
    const refusal = issue.error('forbidden', undefined, RESERVATION, { rule: 'reservation' });
    for (const idx of [g.patient?.index, ...g.resources.map((r) => r.index)])
      if (idx !== undefined) {
        answers.setStatus(idx, '403 Forbidden');
        answers.note(idx, refusal);
        refused++;
      }
  }
  if (bundle.type === 'transaction' && refused)
    throw new CaptureError([issue.error('forbidden', undefined, RESERVATION, { rule: 'reservation' })], 403);
  return refused;
}

/** A date of death, as a date in Norwegian time (null when there is none, or it is not a date: checks.ts reports that). */
export function deceasedOf(p: Record<string, any> | undefined): string | null {
  const d = p?.deceasedDateTime;
  if (typeof d !== 'string' || !(isRealDate(d) || isDateTime(d))) return null;
  return d.length > 10 ? osloDate(d) : d;
}
