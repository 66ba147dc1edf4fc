// What the capture of one message reads, in one round trip: the server-side function
// `kvalreg_capture_read` (migrations 110 and 120) takes the message's locks in the order of
// records/locks.ts — its persons, then the cases it concerns in id order — and returns everything
// the pipeline needs to decide: the persons, the stored versions of the message's resources, the
// cases its resources belong to with their forms, what was stored before its new anchors, ids
// for what it may create, and what the PROM module's hook needs (its persons' waiting answers). The pipeline then decides in memory (capture/pipeline.ts) and writes in
// one round trip (capture/changes.ts).
import type { PersonTx } from '../access/door.ts';
import { prepared } from '../db/pool.ts';
import type { FormRow } from '../records/cases.ts';

export interface SnapshotRequest {
  /** The message's id when it is stored already (recovery, reprocessing, a dry run); otherwise one is drawn. */
  messageId: number | null;
  sender: string;
  /** Keyed hashes to lock: every identity number the message names (its text included). */
  lock: Buffer[];
  /** Keyed hashes of the message's patients, looked up as persons. */
  identities: Buffer[];
  /** Dates of death the message gives, by the keyed hash (hex) of the patient's number. */
  deceased: Map<string, string>;
  /** rkeys of the message's resources and of the resources it deletes. */
  resources: string[];
  deletions: string[];
  registries: Array<{
    id: string;
    event: boolean;
    anchorKeys: string[];
    sharedKeys: string[];
    anchors: Array<{ rkey: string; refs: string[] }>;
  }>;
}

export interface StoredPerson {
  id: number;
  hash: Buffer;
  hashHex: string;
  kind: string;
  birth_date: string | null;
  sex: string | null;
  deceased_date: string | null;
  reserved: boolean;
}
export interface StoredResource {
  rkey: string;
  content_sha256: Buffer;
  version: number;
  message_id: number;
  sender: string;
  owner: string;
}
export interface StoredDeletionTarget {
  rkey: string;
  sender: string;
  person_id: number;
  message_id: number;
  deleted: boolean;
  nin_hash: string;
}
export interface StoredCase {
  registry: string;
  id: number;
  person_id: number;
  anchor_key: string;
  unit_resh: string | null;
  unit_path: string[];
  event_key: string | null;
  invalid_reason: string | null;
  merged_into: number | null;
  forms: FormRow[];
}
export interface RegistrySnapshot {
  /** Stored cases of the message's persons that its resources concern, with their anchors. */
  known: Array<{ id: number; anchor_key: string; person_id: number; resource: Record<string, any> }>;
  /** Resources of the message's persons stored before its new anchors and linked to them. */
  earlier: Array<{ rkey: string; resource_type: string; resource: Record<string, any>; person_id: number }>;
  /** Cases of persons whose date of death the message changes. */
  recheck: number[];
  /** Every case of the message's persons (registries with event identity). */
  event: number[];
}

/** A completed PROM answer of one of the message's persons that no schedule's item took yet (src/prom/capture.ts). */
export interface WaitingResponse {
  id: number;
  person_id: number;
  instrument: string;
  recall: 'current' | 'pre-injury';
  answered_at: string;
  provenance: Record<string, any> | null;
  source_key: string;
}

/** What the PROM module's capture hook needs from the read (migration 120), so that it reads nothing itself for most messages. */
export interface PromSnapshot {
  /** rkeys of the message's QuestionnaireResponses already kept as PROM responses. */
  kept: Set<string>;
  /** The message's persons' completed answers still waiting for a case (read after the persons' locks). */
  waiting: WaitingResponse[];
}

export interface Snapshot {
  messageId: number;
  /** The registries the sender reports to, when it is limited to some. */
  senderRegistries: string[] | null;
  /** The person a keyed hash (hex) names now: its own, or the one its number was merged into. */
  personOf(hashHex: string): StoredPerson | undefined;
  /** A person read, by id. */
  person(id: number): StoredPerson | undefined;
  /** Whether this number itself opted out (a number without a person). */
  reservedNumber(hashHex: string): boolean;
  /** The id drawn for a person the message may create. */
  newPersonId(hashHex: string): number | undefined;
  /** Ids drawn for the cases the message may create, in order. */
  newCaseIds: number[];
  existing: Map<string, StoredResource>;
  deletions: Map<string, StoredDeletionTarget>;
  registries: Map<string, RegistrySnapshot>;
  /** Every case read (and locked), by `${registry}:${id}`. */
  cases: Map<string, StoredCase>;
  prom: PromSnapshot;
}

const hex = (b: Buffer) => b.toString('hex');

export async function readSnapshot(tx: PersonTx, req: SnapshotRequest): Promise<Snapshot> {
  const input = JSON.stringify({
    message_id: req.messageId,
    sender: req.sender,
    lock: [...new Set(req.lock.map(hex))],
    identities: [...new Set(req.identities.map(hex))],
    deceased: Object.fromEntries(req.deceased),
    resources: req.resources,
    deletions: req.deletions,
    registries: req.registries.map((r) => ({
      id: r.id,
      event: r.event,
      anchor_keys: r.anchorKeys,
      shared_keys: r.sharedKeys,
      anchors: r.anchors,
    })),
  });
  // The transaction's opening statements go in the same round trip when the door left them to us.
  const opening = tx.begin();
  const res = opening
    ? await tx.client.query(`${opening}SELECT kvalreg_capture_read(${tx.client.escapeLiteral(input)}::jsonb) AS s`)
    : await prepared(tx.client, 'cap-read', 'SELECT kvalreg_capture_read($1::jsonb) AS s', [input]);
  const last = Array.isArray(res) ? res[res.length - 1] : res;
  return parseSnapshot(last.rows[0].s);
}

function parseSnapshot(s: any): Snapshot {
  const people = new Map<string, StoredPerson>();
  for (const [h, p] of Object.entries<any>(s.people)) {
    people.set(h, {
      id: Number(p.id),
      hash: Buffer.from(h, 'hex'),
      hashHex: h,
      kind: p.kind,
      birth_date: p.birth_date,
      sex: p.sex,
      deceased_date: p.deceased_date,
      reserved: p.reserved,
    });
  }
  const persons = s.persons as Record<string, { live: string | null; reserved: boolean }>;
  const registries = new Map<string, RegistrySnapshot>();
  for (const r of s.registries as any[]) {
    registries.set(r.id, {
      known: r.known.map((k: any) => ({ ...k, id: Number(k.id), person_id: Number(k.person_id) })),
      earlier: r.earlier.map((e: any) => ({ ...e, person_id: Number(e.person_id) })),
      recheck: (r.recheck as any[]).map(Number),
      event: (r.event as any[]).map(Number),
    });
  }
  const cases = new Map<string, StoredCase>();
  for (const c of s.cases as any[]) {
    cases.set(`${c.registry}:${c.id}`, {
      ...c,
      id: Number(c.id),
      person_id: Number(c.person_id),
      merged_into: c.merged_into === null ? null : Number(c.merged_into),
      forms: (c.forms as any[]).map((f) => ({ ...f, case_id: Number(c.id) })),
    });
  }
  return {
    messageId: Number(s.message_id),
    senderRegistries: s.sender_registries ?? null,
    personOf: (h) => {
      const live = persons[h]?.live;
      return live ? people.get(live) : people.get(h);
    },
    person: (id) => [...people.values()].find((p) => p.id === id),
    reservedNumber: (h) => persons[h]?.reserved ?? false,
    newPersonId: (h) => (s.new_persons[h] === undefined ? undefined : Number(s.new_persons[h])),
    newCaseIds: (s.new_case_ids as any[]).map(Number),
    existing: new Map(
      (s.existing as any[]).map((r) => [
        r.rkey,
        { ...r, content_sha256: Buffer.from(r.content_sha256, 'hex'), version: Number(r.version), message_id: Number(r.message_id) },
      ]),
    ),
    deletions: new Map(
      (s.deletions as any[]).map((r) => [r.rkey, { ...r, person_id: Number(r.person_id), message_id: Number(r.message_id) }]),
    ),
    registries,
    cases,
    prom: {
      kept: new Set<string>(s.prom_kept ?? []),
      waiting: ((s.prom_waiting ?? []) as any[]).map((w) => ({ ...w, id: Number(w.id), person_id: Number(w.person_id) })),
    },
  };
}
