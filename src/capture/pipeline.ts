// The capture pipeline: one inbound message → identities → captured resources (idempotent on
// the sender's identifiers) → every registry whose inclusion rules match → cases and values.
// Runs inside one transaction opened by the data-access door; any error a sender caused is
// thrown as a CaptureError before anything is written, so nothing partial is ever stored.
// The database is read once, after the message's locks (capture/snapshot.ts); everything is then
// decided in memory, and written in one statement with the commit (capture/changes.ts). The
// rare steps — a temporary number joined with the real one, a retraction — read and write on their
// own (records/persons.ts, records/retraction.ts).
//
// The steps, each in the module where it belongs (receiving, storing durably and answering are
// capture/inbox.ts's; parsing is capture/bundle.ts's):
//   identify the patients  capture/patients.ts   entries grouped per patient, opted-out patients refused
//   map and check          capture/checks.ts     every registry's values, typed and checked; stored versions
//   apply                  capture/apply.ts      persons, captured resources, what senders take back
//   route to registries    capture/route.ts      cases and values per registry
//   answer                 capture/answers.ts    one response entry per request entry
import type { PersonTx } from '../access/door.ts';
import type { IdentityKeys } from '../identity/crypto.ts';
import type { Registry } from '../registry/load.ts';
import { EntryAnswers, type EntryResult } from './answers.ts';
import {
  applyRetractions,
  planPersons,
  planResources,
  planRetractions,
  type CaptureCounts,
  type ChangedResource,
  type Retractions,
} from './apply.ts';
import { parseBundle, parseJson, type ParsedBundle } from './bundle.ts';
import { CaptureChanges } from './changes.ts';
import { acceptOrRefuse, checkDeletions, checkStoredVersions, checkValues, mapResources, type Candidate } from './checks.ts';
import { anchorRefs, isAnchor, linkKeysOf, type MappedResource } from './mapper.ts';
import { CaptureError, type Issue } from './outcome.ts';
import { asStoredPersons, deceasedOf, identifyPatients, joinEarlierNumbers, refuseOptedOut, type Group } from './patients.ts';
import { routeToRegistries } from './route.ts';
import { readSnapshot, type PromSnapshot, type Snapshot, type SnapshotRequest } from './snapshot.ts';

export type { EntryResult } from './answers.ts';

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

export interface CaptureResult {
  bundleType: 'transaction' | 'batch';
  entries: EntryResult[];
  personIds: number[];
  /** Entries refused because the patient has opted out. */
  refusedReservation: number;
  /** Entries rejected in a batch (their groups were skipped). */
  failedEntries: number;
  counts: CaptureCounts;
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
  const answers = new EntryAnswers(bundle.entryCount);
  // Entries of a batch that are not valid FHIR R4 fail alone, with their findings (capture/bundle.ts).
  for (const bad of bundle.invalid) answers.fail(bad.index, ...bad.issues);

  // Identify the patients; read everything the message concerns, its persons locked first.
  const patients = identifyPatients(env, bundle, answers);
  messageId = await joinEarlierNumbers(tx, env, sender, messageId, patients.groups);
  const mapped = mapResources(patients.groups);
  const snap = await readSnapshot(tx, snapshotRequest(env, sender, messageId, bundle, patients.groups, mapped, opts));
  asStoredPersons(patients.groups, snap);
  const registries = reportedTo(env, snap);

  // Refuse the opted-out; map and check every value; a transaction with an error is refused here.
  const refusedReservation = refuseOptedOut(bundle, patients.groups, snap, answers);
  if (bundle.type === 'transaction' && patients.issues.length) throw new CaptureError(patients.issues);
  checkValues(patients.groups, mapped, registries, (resh) => tx.units.has(resh), answers);
  const candidates = checkStoredVersions(patients.groups, snap, sender, answers);
  const deletionIssues = checkDeletions(bundle, snap, sender, answers);
  const accepted = acceptOrRefuse(bundle, patients, deletionIssues, answers);

  // Apply: persons, captured resources and what senders take back; route to every registry, per case.
  const changes = new CaptureChanges(snap.messageId, sender);
  const counts: CaptureCounts = { created: 0, updated: 0, unchanged: 0, cases: 0, referred: 0, retracted: 0 };
  const persons = planPersons(env.keys, accepted, snap, changes, answers);
  const changed = planResources(candidates, mapped, snap, persons, changes, answers, counts);
  const retractions = planRetractions(bundle, deletionIssues, changed, snap, sender, changes, answers, counts);
  const routed = routeToRegistries(
    tx,
    env.keys,
    registries,
    changed,
    mapped,
    { sender, snap, persons, changes, retracting: retractions.size > 0 },
    answers,
    counts,
  );
  await applyRetractions(tx, env.keys, registries, routed, retractions, sender, changes, answers);

  // Another module's work on the message (PROM), then the answer: one entry per entry sent.
  const personIds = [...new Set(persons.idByHash.values())];
  await runHook(
    tx,
    env,
    { bundle, sender, snap, personIds, personIdByHash: persons.idByHash, candidates, changed, retractions, changes },
    answers,
  );
  if (personIds.length)
    tx.audit({ action: 'capture', object: `inbox/${snap.messageId}`, personIds, actor: { label: `system:${sender}`, role: 'system' } });
  return {
    messageId: snap.messageId,
    changes,
    result: {
      bundleType: bundle.type,
      entries: answers.list(),
      personIds,
      refusedReservation,
      failedEntries: answers.failed,
      counts,
    },
  };
}

/**
 * What the read needs to know: the message's locks (each person is locked, records/locks.ts,
 * before anything about them is read: a capture, a registrar, a merge or a reservation touching
 * the same person waits for this message, and this message sees everything they committed; the
 * persons of resources the message deletes are locked too, as a deletion names a resource, not a
 * patient), its persons and resources, and each registry's keys linking them to stored cases.
 */
function snapshotRequest(
  env: CaptureEnv,
  sender: string,
  messageId: number | null,
  bundle: ParsedBundle,
  groups: Map<string, Group>,
  mapped: Map<string, MappedResource>,
  opts: CaptureOptions,
): SnapshotRequest {
  const deceased = new Map<string, string>();
  for (const g of groups.values()) {
    const d = deceasedOf(g.patient?.resource);
    if (d) deceased.set(g.identity.hashHex, d);
  }
  const all = [...mapped.values()];
  return {
    messageId,
    sender,
    lock: [...(opts.lock ?? []), ...[...groups.values()].map((g) => g.identity.hash)],
    identities: [...groups.values()].map((g) => g.identity.hash),
    deceased,
    resources: [...mapped.keys()],
    deletions: bundle.deletions.map((d) => d.rkey),
    registries: env.registries.map((registry) => {
      const anchorKeys = new Set<string>(),
        sharedKeys = new Set<string>();
      for (const m of all) {
        const k = linkKeysOf(registry, m);
        k.anchors.forEach((x) => anchorKeys.add(x));
        k.shared.forEach((x) => sharedKeys.add(x));
      }
      return {
        id: registry.id,
        event: !!registry.event,
        anchorKeys: [...anchorKeys],
        sharedKeys: [...sharedKeys],
        anchors: all.filter((m) => isAnchor(registry, m)).map((m) => ({ rkey: m.rkey, refs: anchorRefs(registry, m.resource) })),
      };
    }),
  };
}

/** A sending system registered for some registries only reports to those. */
function reportedTo(env: CaptureEnv, snap: Snapshot): Registry[] {
  return snap.senderRegistries ? env.registries.filter((r) => snap.senderRegistries!.includes(r.id)) : env.registries;
}

/**
 * HOOK — another module's work on this message's resources (PROM: QuestionnaireResponses are
 * scored and matched to the schedules, src/prom/capture.ts), after every write above. The writes
 * wait for the commit (changes.ts): they are sent before the hook's first statement, so that
 * whatever it reads sees them, and not at all when it reads nothing.
 */
async function runHook(
  tx: PersonTx,
  env: CaptureEnv,
  m: {
    bundle: ParsedBundle;
    sender: string;
    snap: Snapshot;
    personIds: number[];
    personIdByHash: Map<string, number>;
    candidates: Candidate[];
    changed: ChangedResource[];
    retractions: Retractions;
    changes: CaptureChanges;
  },
  answers: EntryAnswers,
): Promise<void> {
  if (!env.afterWrite) return;
  const changedKeys = new Set(m.changed.map((c) => c.r.rkey));
  const hooked = await env.afterWrite(
    flushingBeforeFirstQuery(tx, () => m.changes.flush(tx.client)),
    {
      bundleType: m.bundle.type,
      sender: m.sender,
      messageId: m.snap.messageId,
      registries: env.registries.map((r) => r.id),
      personIds: m.personIds,
      resources: m.candidates
        .filter((c) => !c.g.issues.length)
        .map((c) => ({
          index: c.r.index,
          resourceType: c.r.resourceType,
          rkey: c.r.rkey,
          personId: m.personIdByHash.get(c.g.identity.hashHex)!,
          resource: c.r.resource,
          state: changedKeys.has(c.r.rkey)
            ? ('changed' as const)
            : Buffer.compare(m.snap.existing.get(c.r.rkey)?.content_sha256 ?? Buffer.alloc(0), c.sha) === 0
              ? ('unchanged' as const)
              : ('stale' as const),
        })),
      retracted: [...m.retractions].flatMap(([personId, rkeys]) => rkeys.map((rkey) => ({ personId, rkey }))),
      prom: m.snap.prom,
    },
  );
  for (const h of hooked.issues) {
    if (h.failed) answers.fail(h.index, h.issue);
    else answers.note(h.index, h.issue);
  }
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
