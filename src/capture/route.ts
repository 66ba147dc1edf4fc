// Route to registries and apply per case: every registry takes what is theirs of a message. Decided
// in memory on what the read returned (capture/snapshot.ts): which stored cases the incoming
// resources concern, which new anchors the registry includes (capture/routing.ts), the values each
// case gets (records/cases.ts), event identity (records/events.ts), and what to write
// (capture/changes.ts).
import type { PersonTx } from '../access/door.ts';
import type { IdentityKeys } from '../identity/crypto.ts';
import { CaseWorkspace, type ValueUpdate } from '../records/cases.ts';
import { caseValues, type PersonValues } from '../records/evaluate.ts';
import { planEvents, type EventRow } from '../records/events.ts';
import { RETRACTED } from '../records/retraction.ts';
import type { Registry } from '../registry/load.ts';
import type { EntryAnswers } from './answers.ts';
import type { ChangedResource, CaptureCounts, PlannedPersons } from './apply.ts';
import { linksOf } from './bundle.ts';
import type { CaptureChanges } from './changes.ts';
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
import { issue } from './outcome.ts';
import { inclusionDecision } from './routing.ts';
import type { Snapshot } from './snapshot.ts';

/** A resource of the message (or, index -1, one stored earlier) as one registry takes it. */
export interface Incoming {
  mapped: MappedResource;
  extracted: Extracted[];
  personId: number;
  index: number;
}

/** One registry's part of a message, for the steps after it (retractions recompute event identity for `touched`). */
export interface RoutedRegistry {
  notes: Array<[number, string]>;
  cases: number;
  referred: number;
  touched: number[];
  anchorIndexOfCase: Map<number, number>;
}

/**
 * Every registry the sender reports to takes the changed resources' values. [prom] A message's
 * QuestionnaireResponse reaches the PROM module after this, beside the registries (it is captured
 * as a resource like any other).
 */
export function routeToRegistries(
  tx: PersonTx,
  keys: IdentityKeys,
  registries: Registry[],
  changed: ChangedResource[],
  mapped: Map<string, MappedResource>,
  ctx: { sender: string; snap: Snapshot; persons: PlannedPersons; changes: CaptureChanges; retracting: boolean },
  answers: EntryAnswers,
  counts: CaptureCounts,
): RoutedRegistry[] {
  const personValues = new Map<number, PersonValues>([...ctx.persons.byId].map(([pid, p]) => [pid, p.values]));
  const routed = registries.map((registry) =>
    routeToRegistry(
      {
        tx,
        keys,
        registry,
        sender: ctx.sender,
        messageId: ctx.snap.messageId,
        snap: ctx.snap,
        personById: ctx.persons.byId,
        changes: ctx.changes,
        eventsHere: !ctx.retracting,
      },
      changed.map((c) => ({
        mapped: mapped.get(c.r.rkey)!,
        extracted: c.g.extracted.get(registry.id)?.get(c.r.rkey) ?? [],
        personId: c.personId,
        index: c.r.index,
      })),
      ctx.persons.deceasedChanged,
      personValues,
    ),
  );
  for (const r of routed) {
    for (const [index, note] of r.notes) answers.note(index, issue.info(undefined, note));
    counts.cases += r.cases;
    counts.referred += r.referred;
  }
  return routed;
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
): RoutedRegistry {
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
