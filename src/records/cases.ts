// Writes values into cases: merges new values into forms (a blank never overwrites a captured
// value), keeps provenance per value and a history row per change, re-evaluates the case
// (derived values, missing required values, rule findings) and writes everything set-based.
// Called only through the data-access door (`access/door.ts`).
import { prepared } from '../db/pool.ts';
import type { Registry } from '../registry/load.ts';
import type { Queryable } from '../db/pool.ts';
import { evaluateCase, formKey, IDENTITY_REQUIRED, waitsForIdentity, type FormState, type PersonValues } from './evaluate.ts';

export type Provenance =
  // mergedFrom: copied from a case merged into this one (records/events.ts), with its own provenance
  // repair: filled in later by `kvalreg capture relink` (capture/relink.ts), from this message's resource
  | { kind: 'system'; sender: string; message: number; resource?: string; mergedFrom?: number; repair?: 'relink' }
  | { kind: 'user'; user: string; role?: string };

export interface ValueUpdate {
  caseId: number;
  form: string;
  instance: string;
  variable: string;
  value: string | number | boolean;
  provenance: Provenance;
}

interface FormRow {
  case_id: number; form: string; instance: string; status: string;
  data: Record<string, unknown>; provenance: Record<string, unknown>;
  missing: string[]; findings: unknown[]; version: number;
}

export interface WriteResult { changedForms: number; changedValues: number; reopened: number }

/** Creates the cases for new anchors and returns case ids by anchor key (their forms are written by applyUpdates). */
export async function ensureCases(db: Queryable, registry: Registry, rows: Array<{ anchorKey: string; personId: number }>): Promise<Map<string, { id: number; created: boolean }>> {
  const result = new Map<string, { id: number; created: boolean }>();
  if (rows.length === 0) return result;
  const inserted = await prepared(db, 'rec1', `INSERT INTO registry_case (registry, person_id, anchor_key, registry_version)
     SELECT $1, p, a, $4 FROM unnest($2::bigint[], $3::text[]) AS t(p, a)
     ON CONFLICT (registry, anchor_key) DO NOTHING RETURNING id, anchor_key`,
    [registry.id, rows.map((r) => r.personId), rows.map((r) => r.anchorKey), registry.version]);
  for (const r of inserted.rows) result.set(r.anchor_key, { id: r.id, created: true });
  const missing = rows.filter((r) => !result.has(r.anchorKey)).map((r) => r.anchorKey);
  if (missing.length) {
    const existing = await prepared(db, 'rec2', 'SELECT id, anchor_key FROM registry_case WHERE registry = $1 AND anchor_key = ANY($2)', [registry.id, missing]);
    for (const r of existing.rows) result.set(r.anchor_key, { id: r.id, created: false });
  }
  return result;
}

/** A value taken back by its source (records/retraction.ts): removed from the form, the history says by whom. */
export interface ValueRemoval { caseId: number; form: string; instance: string; variable: string; provenance: Provenance }

export interface ApplyOptions {
  /** Values to remove before the updates are applied. */
  removals?: ValueRemoval[];
  /** Cases to re-evaluate without new values (e.g. after a death date arrived). */
  recheck?: number[];
  /** Cases created in this transaction: they have no forms yet, so none are read. */
  created?: Set<number>;
  at?: string;
}

/** Applies value updates to the given cases and re-evaluates them, writing in one statement. */
export async function applyUpdates(db: Queryable, registry: Registry, updates: ValueUpdate[], opts: ApplyOptions = {}): Promise<WriteResult> {
  const at = opts.at ?? new Date().toISOString();
  const created = opts.created ?? new Set<number>();
  const removals = opts.removals ?? [];
  const caseIds = [...new Set([...updates.map((u) => u.caseId), ...removals.map((r) => r.caseId), ...(opts.recheck ?? [])])];
  if (caseIds.length === 0) return { changedForms: 0, changedValues: 0, reopened: 0 };
  const existingIds = caseIds.filter((id) => !created.has(id));
  // Lock the cases (in id order, as every writer does) before reading their forms: two messages,
  // or a message and a registrar, updating one case must not each write back a stale copy.
  const personsRes = await prepared(db, 'rec-lock',
    'SELECT c.id, c.invalid_reason, p.birth_date, p.sex, p.deceased_date, p.nin_kind FROM registry_case c JOIN person p ON p.id = c.person_id WHERE c.registry = $1 AND c.id = ANY($2) ORDER BY c.id FOR UPDATE OF c',
    [registry.id, caseIds]);
  const formsRes = existingIds.length
    ? await prepared(db, 'rec-forms', 'SELECT case_id, form, instance, status, data, provenance, missing, findings, version FROM case_form WHERE registry = $1 AND case_id = ANY($2)', [registry.id, existingIds])
    : { rows: [] as FormRow[] };
  const forms = new Map<string, FormRow & { changes: Record<string, [unknown, unknown]>; touched: boolean; source?: Provenance }>();
  const key = (c: number, f: string, i: string) => `${c}:${formKey(f, i)}`;
  for (const row of formsRes.rows as FormRow[]) forms.set(key(row.case_id, row.form, row.instance), { ...row, changes: {}, touched: false });
  // A new case gets every non-repeating form, so that what is missing shows on the worklist.
  for (const id of caseIds) {
    if (!created.has(id)) continue;
    for (const f of registry.forms) {
      if (!f.repeating) forms.set(key(id, f.id, ''), { case_id: id, form: f.id, instance: '', status: 'draft', data: {}, provenance: {}, missing: [], findings: [], version: 0, changes: {}, touched: true });
    }
  }

  let changedValues = 0;
  for (const r of removals) {
    const row = forms.get(key(r.caseId, r.form, r.instance));
    if (!row || !(r.variable in row.data)) continue;
    const { [r.variable]: old, ...data } = row.data;
    const { [r.variable]: _, ...provenance } = row.provenance;
    row.data = data;
    row.provenance = provenance;
    row.changes[r.variable] = [old ?? null, null];
    row.source = r.provenance;
    row.touched = true;
    changedValues++;
  }
  for (const u of updates) {
    const k = key(u.caseId, u.form, u.instance);
    let row = forms.get(k);
    if (!row) {
      row = { case_id: u.caseId, form: u.form, instance: u.instance, status: 'draft', data: {}, provenance: {}, missing: [], findings: [], version: 0, changes: {}, touched: true };
      forms.set(k, row);
    }
    const old = row.data[u.variable];
    if (old === u.value) continue;
    row.data = { ...row.data, [u.variable]: u.value };
    row.provenance = { ...row.provenance, [u.variable]: { ...u.provenance, at } };
    // Against the value before this write (a removal just before may have taken it).
    row.changes[u.variable] = [u.variable in row.changes ? row.changes[u.variable][0] : old ?? null, u.value];
    row.source = u.provenance;
    row.touched = true;
    changedValues++;
  }

  const persons = new Map<number, PersonValues>();
  const identityKinds = new Map<number, string>();
  // A case waits while its person lacks the identity number the registry requires (evaluate.ts):
  // marked here, and unmarked when the identity is resolved; another reason is left as it is.
  const waiting: Array<{ id: number; reason: string | null }> = [];
  for (const r of personsRes.rows) {
    persons.set(r.id, { birth_date: r.birth_date, sex: r.sex, deceased_date: r.deceased_date });
    identityKinds.set(r.id, r.nin_kind);
    const waits = waitsForIdentity(registry, r.nin_kind);
    if (waits && r.invalid_reason === null) waiting.push({ id: r.id, reason: IDENTITY_REQUIRED });
    if (!waits && r.invalid_reason === IDENTITY_REQUIRED) waiting.push({ id: r.id, reason: null });
  }
  const byCase = new Map<number, Array<typeof forms extends Map<string, infer V> ? V : never>>();
  for (const row of forms.values()) {
    const list = byCase.get(row.case_id) ?? [];
    list.push(row);
    byCase.set(row.case_id, list);
  }
  let reopened = 0;
  const toWrite: unknown[] = [];
  const history: unknown[] = [];
  for (const [caseId, rows] of byCase) {
    const person = persons.get(caseId) ?? { birth_date: null, sex: null, deceased_date: null };
    const evaluation = evaluateCase(registry, person, rows.map((r): FormState => ({ form: r.form, instance: r.instance, data: r.data })), identityKinds.get(caseId));
    for (const row of rows) {
      const ev = evaluation.forms.get(formKey(row.form, row.instance)) ?? { missing: [], findings: [] };
      const evalChanged = JSON.stringify(ev.missing) !== JSON.stringify(row.missing) || JSON.stringify(ev.findings) !== JSON.stringify(row.findings);
      const dataChanged = Object.keys(row.changes).length > 0;
      if (!dataChanged && !evalChanged && !row.touched) continue;
      if (dataChanged) {
        // New source data for a finalised form reopens it: a registrar must look again and re-finalise.
        if (row.status === 'finalised' && row.source?.kind === 'system') {
          row.changes.$status = ['finalised', 'reopened'];
          row.status = 'reopened';
          reopened++;
        }
        row.version += 1;
        history.push({ case_id: caseId, form: row.form, instance: row.instance, version: row.version, changes: row.changes, source: row.source });
      } else if (row.version === 0) {
        row.version = 1;
      }
      toWrite.push({ case_id: caseId, form: row.form, instance: row.instance, status: row.status, data: row.data, provenance: row.provenance, missing: ev.missing, findings: ev.findings, version: row.version });
    }
  }
  // The case belongs to the unit named by the registry's unit variable.
  const unitVar = registry.mapping.unitVariable;
  const units = updates.filter((u) => u.variable === unitVar).map((u) => ({ id: u.caseId, unit: String(u.value) }));
  if (toWrite.length || history.length || units.length) {
    // Forms, history and the case's unit in one statement: one round trip per case update.
    await prepared(db, 'rec-write',
      `WITH forms AS (
         INSERT INTO case_form (registry, case_id, form, instance, status, data, provenance, missing, findings, version, updated_at)
         SELECT $1, r.case_id, r.form, r.instance, r.status, r.data, r.provenance, r.missing, r.findings, r.version, $5
         FROM jsonb_to_recordset($2::jsonb) AS r(case_id bigint, form text, instance text, status text, data jsonb, provenance jsonb, missing text[], findings jsonb, version int)
         ON CONFLICT (registry, case_id, form, instance) DO UPDATE SET
           status = EXCLUDED.status, data = EXCLUDED.data, provenance = EXCLUDED.provenance, missing = EXCLUDED.missing,
           findings = EXCLUDED.findings, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
         RETURNING 1),
       history AS (
         INSERT INTO value_history (registry, case_id, form, instance, version, changed_at, changes, source)
         SELECT $1, h.case_id, h.form, h.instance, h.version, $5, h.changes, h.source
         FROM jsonb_to_recordset($3::jsonb) AS h(case_id bigint, form text, instance text, version int, changes jsonb, source jsonb)
         RETURNING 1),
       units AS (
         UPDATE registry_case c SET unit_resh = u.unit, updated_at = $5 FROM jsonb_to_recordset($4::jsonb) AS u(id bigint, unit text)
         WHERE c.registry = $1 AND c.id = u.id AND c.unit_resh IS DISTINCT FROM u.unit
         RETURNING 1)
       SELECT (SELECT count(*) FROM forms) AS forms, (SELECT count(*) FROM history) AS history, (SELECT count(*) FROM units) AS units`,
      [registry.id, JSON.stringify(toWrite), JSON.stringify(history), JSON.stringify(units), at]);
  }
  if (waiting.length) {
    await db.query(`UPDATE registry_case c SET invalid_reason = w.reason, updated_at = $3 FROM jsonb_to_recordset($2::jsonb) AS w(id bigint, reason text)
      WHERE c.registry = $1 AND c.id = w.id`, [registry.id, JSON.stringify(waiting), at]);
  }
  return { changedForms: toWrite.length, changedValues, reopened };
}
