// The capture pipeline: one inbound message → identities → captured resources (idempotent on
// the sender's identifiers) → every registry whose inclusion rules match → cases and values.
// Runs inside one transaction opened by the data-access door; any error a sender caused is
// thrown as a CaptureError before anything is written, so nothing partial is ever stored.
import crypto from 'node:crypto';
import type { PersonTx } from '../access/door.ts';
import { encryptNin, type IdentityKeys } from '../identity/crypto.ts';
import { holds } from '../registry/expr.ts';
import type { Registry } from '../registry/load.ts';
import { applyUpdates, ensureCases, type ValueUpdate } from '../records/cases.ts';
import { caseValues } from '../records/evaluate.ts';
import { linksOf, parseBundle, parseJson, type ParsedBundle, type ResourceEntry } from './bundle.ts';
import { identityFromIdentifier, identityOfPatient, type Identity } from './identity.ts';
import { contributions, extractValues, isAnchor, toMapped, type Anchor, type Extracted, type MappedResource } from './mapper.ts';
import { CaptureError, issue, type Issue } from './outcome.ts';

export interface CaptureEnv {
  keys: IdentityKeys;
  registries: Registry[];
  today?: Date;
}

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
  counts: { created: number; updated: number; unchanged: number; cases: number; referred: number };
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

  // 1. Identities, grouped per patient: a batch succeeds or fails per patient.
  const groups = new Map<string, Group>();
  const patientIdentity = new Map<number, Identity | undefined>();
  const topIssues: Issue[] = [];
  for (const p of bundle.patients) {
    const local: Issue[] = [];
    const identity = identityOfPatient(env.keys, p.resource, `Bundle.entry[${p.index}].resource`, local, env.today);
    patientIdentity.set(p.index, identity);
    if (!identity) { entry(p.index).issues.push(...local); topIssues.push(...local); continue; }
    const g: Group = groups.get(identity.hashHex) ?? { identity, resources: [], issues: [], extracted: new Map() };
    g.patient = { index: p.index, resource: p.resource };
    groups.set(identity.hashHex, g);
  }
  for (const r of bundle.resources) {
    let identity: Identity | undefined;
    if ('patientIndex' in r.subject) identity = patientIdentity.get(r.subject.patientIndex);
    else {
      const local: Issue[] = [];
      identity = identityFromIdentifier(env.keys, r.subject.system, r.subject.value, `Bundle.entry[${r.index}].resource.subject.identifier.value`, local, env.today);
      if (!identity && local.length === 0) local.push(issue.error('value', `Bundle.entry[${r.index}].resource.subject.identifier.system`, 'The subject identifier must be a Norwegian identity number (fødselsnummer, D- or H-number OID).', { rule: 'patient-identity' }));
      entry(r.index).issues.push(...local); topIssues.push(...local);
    }
    if (!identity) { if (!entry(r.index).issues.length) entry(r.index).issues.push(issue.error('processing', `Bundle.entry[${r.index}]`, 'The patient of this resource could not be identified (see the Patient entry).')); continue; }
    const g: Group = groups.get(identity.hashHex) ?? { identity, resources: [], issues: [], extracted: new Map() };
    g.resources.push(r);
    groups.set(identity.hashHex, g);
  }
  if (bundle.type === 'transaction' && topIssues.length) throw new CaptureError(topIssues);

  // 2. Opted-out patients: refused, counted without identity.
  const hashes = [...groups.values()].map((g) => g.identity.hash);
  const reserved = hashes.length
    ? new Set((await db.query('SELECT encode(nin_hash, \'hex\') AS h FROM reservation WHERE nin_hash = ANY($1)', [hashes])).rows.map((r) => r.h as string))
    : new Set<string>();
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

  // 3. Every value every registry would take, typed and checked, before anything is written.
  const unitsOk = (value: unknown) => tx.units.has(String(value));
  for (const g of groups.values()) {
    if (g.refused) continue;
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
  const failed = [...groups.values()].filter((g) => g.issues.length && !g.refused);
  if (bundle.type === 'transaction' && failed.length) throw new CaptureError(failed.flatMap((g) => g.issues));
  let failedEntries = 0;
  for (const g of failed) {
    for (const idx of [g.patient?.index, ...g.resources.map((r) => r.index)]) if (idx !== undefined) { entry(idx).status = '422 Unprocessable Entity'; failedEntries++; }
  }
  const accepted = [...groups.values()].filter((g) => !g.refused && !g.issues.length);

  // 4. Persons: created when they have resources; a Patient-only message (e.g. a death notice
  // from the population register) updates only persons already known.
  const personRows = accepted.map((g) => {
    const p = g.patient?.resource;
    const deceased = typeof p?.deceasedDateTime === 'string' ? p.deceasedDateTime.slice(0, 10) : null;
    return {
      hash: g.identity.hash.toString('hex'), enc: encryptNin(env.keys, g.identity.nin).toString('hex'), kind: g.identity.kind,
      birth: (typeof p?.birthDate === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(p.birthDate) ? p.birthDate : null) ?? g.identity.birthDate,
      sex: p?.gender === 'male' || p?.gender === 'female' ? p.gender : g.identity.sex,
      deceased, create: g.resources.length > 0,
    };
  });
  const personIdByHash = new Map<string, number>();
  const deceasedChanged: number[] = [];
  if (personRows.length) {
    const res = await db.query(
      `WITH input AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(hash text, enc text, kind text, birth date, sex text, deceased date, "create" boolean)),
       existing AS (SELECT p.id, p.deceased_date AS old_deceased, i.* FROM input i JOIN person p ON p.nin_hash = decode(i.hash, 'hex')),
       updated AS (
         UPDATE person p SET birth_date = COALESCE(e.birth, p.birth_date), sex = COALESCE(e.sex, p.sex),
           deceased_date = COALESCE(e.deceased, p.deceased_date), updated_at = now()
         FROM existing e WHERE p.id = e.id
           AND (p.birth_date IS DISTINCT FROM COALESCE(e.birth, p.birth_date) OR p.sex IS DISTINCT FROM COALESCE(e.sex, p.sex)
                OR p.deceased_date IS DISTINCT FROM COALESCE(e.deceased, p.deceased_date))
         RETURNING p.id),
       inserted AS (
         INSERT INTO person (nin_hash, nin_enc, nin_kind, birth_date, sex, deceased_date)
         SELECT decode(i.hash, 'hex'), decode(i.enc, 'hex'), i.kind, i.birth, i.sex, i.deceased FROM input i
         WHERE i."create" AND NOT EXISTS (SELECT 1 FROM existing e WHERE e.hash = i.hash)
         ON CONFLICT (nin_hash) DO NOTHING RETURNING id, encode(nin_hash, 'hex') AS hash)
       SELECT id, hash, false AS deceased_changed FROM inserted
       UNION ALL SELECT e.id, e.hash, (e.deceased IS NOT NULL AND e.old_deceased IS DISTINCT FROM e.deceased) FROM existing e`,
      [JSON.stringify(personRows)]);
    for (const r of res.rows) { personIdByHash.set(r.hash, r.id); if (r.deceased_changed) deceasedChanged.push(r.id); }
    // A concurrent message may have created the same person between our read and insert.
    const lost = personRows.filter((p) => p.create && !personIdByHash.has(p.hash));
    if (lost.length) {
      const again = await db.query("SELECT id, encode(nin_hash, 'hex') AS hash FROM person WHERE nin_hash = ANY($1)", [lost.map((p) => Buffer.from(p.hash, 'hex'))]);
      for (const r of again.rows) personIdByHash.set(r.hash, r.id);
    }
  }
  for (const g of accepted) if (g.patient) entry(g.patient.index).status = '200 OK';

  // 5. Captured resources: unchanged content is a no-op (a resend); changed content is a new version.
  const candidates = accepted.flatMap((g) => g.resources.map((r) => ({ r, g, personId: personIdByHash.get(g.identity.hashHex)!,
    sha: crypto.createHash('sha256').update(canonical(r.resource)).digest() })));
  const existing = candidates.length
    ? new Map((await db.query('SELECT rkey, content_sha256, version, person_id FROM source_resource WHERE rkey = ANY($1)', [candidates.map((c) => c.r.rkey)])).rows.map((r) => [r.rkey as string, r]))
    : new Map();
  const changed: typeof candidates = [];
  const counts = { created: 0, updated: 0, unchanged: 0, cases: 0, referred: 0 };
  const ownerIssues: Issue[] = [];
  for (const c of candidates) {
    const old = existing.get(c.r.rkey);
    const e = entry(c.r.index);
    if (old && old.person_id !== c.personId) {
      ownerIssues.push(issue.error('business-rule', `Bundle.entry[${c.r.index}].resource.identifier`, 'A resource with this identifier was sent earlier for another patient. Identifiers must be unique per resource; correct the patient or the identifier.', { rule: 'identifier-owner', value: c.r.rkey }));
      continue;
    }
    if (old && Buffer.compare(old.content_sha256, c.sha) === 0) { e.status = '200 OK'; e.issues.push(issue.info(undefined, `unchanged: identical to version ${old.version} already received`)); counts.unchanged++; continue; }
    e.status = old ? '200 OK' : '201 Created';
    e.issues.push(issue.info(undefined, old ? `updated: stored as version ${old.version + 1}` : 'created'));
    if (old) counts.updated++; else counts.created++;
    changed.push(c);
  }
  if (ownerIssues.length) throw new CaptureError(ownerIssues);
  if (changed.length) {
    await db.query(
      `INSERT INTO source_resource (resource_type, rkey, person_id, sender, message_id, content_sha256, links, resource)
       SELECT r.type, r.rkey, r.person, $2, $3, decode(r.sha, 'hex'), r.links, r.resource
       FROM jsonb_to_recordset($1::jsonb) AS r(type text, rkey text, person bigint, sha text, links text[], resource jsonb)
       ON CONFLICT (rkey) DO UPDATE SET version = source_resource.version + 1, sender = EXCLUDED.sender, message_id = EXCLUDED.message_id,
         content_sha256 = EXCLUDED.content_sha256, links = EXCLUDED.links, resource = EXCLUDED.resource, updated_at = now()`,
      [JSON.stringify(changed.map((c) => ({ type: c.r.resourceType, rkey: c.r.rkey, person: c.personId, sha: c.sha.toString('hex'), links: linksOf(c.r.resource), resource: c.r.resource }))), sender, messageId]);
  }

  // 6. Every registry takes what is theirs.
  for (const registry of env.registries) {
    const routed = await routeToRegistry(tx, registry, sender, messageId, changed.map((c) => ({
      mapped: toMapped(c.r.rkey, c.r.resourceType, c.r.resource, `Bundle.entry[${c.r.index}].resource`),
      extracted: c.g.extracted.get(registry.id)?.get(c.r.rkey) ?? [],
      personId: c.personId, index: c.r.index,
    })), deceasedChanged);
    for (const [index, note] of routed.notes) entry(index).issues.push(issue.info(undefined, note));
    counts.cases += routed.cases;
    counts.referred += routed.referred;
  }

  const personIds = [...new Set(personIdByHash.values())];
  return {
    bundleType: bundle.type,
    entries: [...entries.values()].sort((a, b) => a.index - b.index),
    personIds, refusedReservation, failedEntries, counts,
  };
}

interface Incoming { mapped: MappedResource; extracted: Extracted[]; personId: number; index: number }

async function routeToRegistry(tx: PersonTx, registry: Registry, sender: string, messageId: number, incoming: Incoming[], recheckPersons: number[]):
  Promise<{ notes: Array<[number, string]>; cases: number; referred: number }> {
  const db = tx.client;
  const notes: Array<[number, string]> = [];
  const anchorsIn = incoming.filter((i) => isAnchor(registry, i.mapped));
  const keys = new Set<string>();
  for (const i of incoming) { keys.add(i.mapped.rkey); for (const l of i.mapped.links) keys.add(l); }

  // Cases already known that the incoming resources may concern (anchor itself, or linked).
  const known = keys.size
    ? (await db.query(
      `SELECT c.id, c.anchor_key, c.person_id, a.links, a.resource FROM registry_case c JOIN source_resource a ON a.rkey = c.anchor_key
       WHERE c.registry = $1 AND (c.anchor_key = ANY($2) OR a.links && $2)`, [registry.id, [...keys]])).rows
    : [];
  const knownByKey = new Map(known.map((k) => [k.anchor_key as string, k]));

  // New anchors: does the registry include them? Decided on the anchor's own values.
  const newCases: Array<{ anchorKey: string; personId: number }> = [];
  const day = new Date().toISOString().slice(0, 10);
  const routing = new Map<string, number>();
  const count = (decision: string, target = '') => routing.set(`${decision}|${target}`, (routing.get(`${decision}|${target}`) ?? 0) + 1);
  const anchors: Array<Anchor & { personId: number }> = [];
  for (const k of known) anchors.push({ rkey: k.anchor_key, links: k.links, resource: k.resource, personId: k.person_id });
  const personRows = anchorsIn.length
    ? new Map((await db.query('SELECT id, birth_date, sex, deceased_date FROM person WHERE id = ANY($1)', [[...new Set(anchorsIn.map((a) => a.personId))]])).rows.map((r) => [r.id, r]))
    : new Map();
  for (const a of anchorsIn) {
    if (knownByKey.has(a.mapped.rkey)) continue;
    const p = personRows.get(a.personId);
    const own = contributions({ rkey: a.mapped.rkey, links: a.mapped.links, resource: a.mapped.resource }, a.mapped, a.extracted);
    const values = caseValues(registry, { birth_date: p?.birth_date ?? null, sex: p?.sex ?? null, deceased_date: p?.deceased_date ?? null },
      [{ form: '', instance: '', data: Object.fromEntries(own.map((c) => [c.variable, c.value])) }]);
    const refer = registry.refer.find((r) => holds(r.when(values)));
    if (refer) { count('referred', refer.to); notes.push([a.index, `${registry.id}: referred to ${refer.name.en}`]); continue; }
    if (!holds(registry.include(values))) { count('not-included'); notes.push([a.index, `${registry.id}: not included by the registry's inclusion rules`]); continue; }
    count('included');
    newCases.push({ anchorKey: a.mapped.rkey, personId: a.personId });
    anchors.push({ rkey: a.mapped.rkey, links: a.mapped.links, resource: a.mapped.resource, personId: a.personId });
  }
  const caseIds = await ensureCases(db, registry, newCases);
  for (const k of known) caseIds.set(k.anchor_key, { id: k.id, created: false });
  for (const a of anchorsIn) {
    const c = caseIds.get(a.mapped.rkey);
    if (c) notes.push([a.index, `${registry.id}: case ${c.id}${c.created ? ' created' : ' updated'}`]);
  }

  // Resources stored earlier that belong to a new case (they arrived before its anchor).
  const pool: Incoming[] = [...incoming];
  const created = anchors.filter((a) => caseIds.get(a.rkey)?.created);
  if (created.length) {
    const createdKeys = created.map((a) => a.rkey);
    const createdLinks = created.flatMap((a) => a.links);
    const inMessage = new Set(incoming.map((i) => i.mapped.rkey));
    const earlier = await db.query(
      `SELECT rkey, resource_type, resource, person_id FROM source_resource
       WHERE (links && $1 OR rkey = ANY($2) OR links && $2) AND NOT (rkey = ANY($3))`, [createdKeys, createdLinks, [...inMessage]]);
    for (const r of earlier.rows) {
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
    ? (await db.query('SELECT id FROM registry_case WHERE registry = $1 AND person_id = ANY($2)', [registry.id, recheckPersons])).rows.map((r) => r.id as number)
    : [];
  await applyUpdates(db, registry, updates, recheck);
  if (routing.size) {
    await db.query(
      `INSERT INTO routing_count (registry, day, decision, target, n)
       SELECT $1, $2, split_part(k, '|', 1), split_part(k, '|', 2), n FROM unnest($3::text[], $4::int[]) AS t(k, n)
       ON CONFLICT (registry, day, decision, target) DO UPDATE SET n = routing_count.n + EXCLUDED.n`,
      [registry.id, day, [...routing.keys()], [...routing.values()]]);
  }
  return { notes, cases: newCases.length, referred: [...routing.entries()].filter(([k]) => k.startsWith('referred')).reduce((s, [, n]) => s + n, 0) };
}
