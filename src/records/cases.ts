// Writes values into cases: merges new values into forms (a blank never overwrites a captured
// value), keeps provenance per value and a history row per change, re-evaluates the case
// (derived values, missing required values, rule findings) and writes everything set-based.
// Called only through the data-access door (`access/door.ts`).
import type { Registry } from '../registry/load.ts';
import type { Queryable } from '../db/pool.ts';
import { evaluateCase, formKey, type FormState, type PersonValues } from './evaluate.ts';

export type Provenance =
  | { kind: 'system'; sender: string; message: number; resource?: string }
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

/** Creates the cases for new anchors with every non-repeating form, and returns case ids by anchor key. */
export async function ensureCases(db: Queryable, registry: Registry, rows: Array<{ anchorKey: string; personId: number }>): Promise<Map<string, { id: number; created: boolean }>> {
  const result = new Map<string, { id: number; created: boolean }>();
  if (rows.length === 0) return result;
  const inserted = await db.query(
    `INSERT INTO registry_case (registry, person_id, anchor_key, registry_version)
     SELECT $1, p, a, $4 FROM unnest($2::bigint[], $3::text[]) AS t(p, a)
     ON CONFLICT (registry, anchor_key) DO NOTHING RETURNING id, anchor_key`,
    [registry.id, rows.map((r) => r.personId), rows.map((r) => r.anchorKey), registry.version]);
  for (const r of inserted.rows) result.set(r.anchor_key, { id: r.id, created: true });
  const missing = rows.filter((r) => !result.has(r.anchorKey)).map((r) => r.anchorKey);
  if (missing.length) {
    const existing = await db.query('SELECT id, anchor_key FROM registry_case WHERE registry = $1 AND anchor_key = ANY($2)', [registry.id, missing]);
    for (const r of existing.rows) result.set(r.anchor_key, { id: r.id, created: false });
  }
  const created = inserted.rows.map((r) => r.id as number);
  const plain = registry.forms.filter((f) => !f.repeating).map((f) => f.id);
  if (created.length) {
    await db.query(
      `INSERT INTO case_form (registry, case_id, form) SELECT $1, c, f FROM unnest($2::bigint[]) c CROSS JOIN unnest($3::text[]) f`,
      [registry.id, created, plain]);
  }
  return result;
}

/**
 * Applies value updates to the given cases and re-evaluates them. `recheck` names further cases to
 * re-evaluate without new values (e.g. after a death date arrived).
 */
export async function applyUpdates(db: Queryable, registry: Registry, updates: ValueUpdate[], recheck: number[] = [], at = new Date().toISOString()): Promise<WriteResult> {
  const caseIds = [...new Set([...updates.map((u) => u.caseId), ...recheck])];
  if (caseIds.length === 0) return { changedForms: 0, changedValues: 0, reopened: 0 };
  const [formsRes, personsRes] = await Promise.all([
    db.query<FormRow>('SELECT case_id, form, instance, status, data, provenance, missing, findings, version FROM case_form WHERE registry = $1 AND case_id = ANY($2)', [registry.id, caseIds]),
    db.query('SELECT c.id, p.birth_date, p.sex, p.deceased_date FROM registry_case c JOIN person p ON p.id = c.person_id WHERE c.registry = $1 AND c.id = ANY($2)', [registry.id, caseIds]),
  ]);
  const forms = new Map<string, FormRow & { changes: Record<string, [unknown, unknown]>; touched: boolean; source?: Provenance }>();
  const key = (c: number, f: string, i: string) => `${c}:${formKey(f, i)}`;
  for (const row of formsRes.rows) forms.set(key(row.case_id, row.form, row.instance), { ...row, changes: {}, touched: false });

  let changedValues = 0;
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
    row.changes[u.variable] = [old ?? null, u.value];
    row.source = u.provenance;
    row.touched = true;
    changedValues++;
  }

  const persons = new Map<number, PersonValues>(personsRes.rows.map((r) => [r.id, { birth_date: r.birth_date, sex: r.sex, deceased_date: r.deceased_date }]));
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
    const evaluation = evaluateCase(registry, person, rows.map((r): FormState => ({ form: r.form, instance: r.instance, data: r.data })));
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
  if (toWrite.length) {
    await db.query(
      `INSERT INTO case_form (registry, case_id, form, instance, status, data, provenance, missing, findings, version, updated_at)
       SELECT $1, r.case_id, r.form, r.instance, r.status, r.data, r.provenance, r.missing, r.findings, r.version, $3
       FROM jsonb_to_recordset($2::jsonb) AS r(case_id bigint, form text, instance text, status text, data jsonb, provenance jsonb, missing text[], findings jsonb, version int)
       ON CONFLICT (registry, case_id, form, instance) DO UPDATE SET
         status = EXCLUDED.status, data = EXCLUDED.data, provenance = EXCLUDED.provenance, missing = EXCLUDED.missing,
         findings = EXCLUDED.findings, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at`,
      [registry.id, JSON.stringify(toWrite), at]);
  }
  if (history.length) {
    await db.query(
      `INSERT INTO value_history (registry, case_id, form, instance, version, changed_at, changes, source)
       SELECT $1, h.case_id, h.form, h.instance, h.version, $3, h.changes, h.source
       FROM jsonb_to_recordset($2::jsonb) AS h(case_id bigint, form text, instance text, version int, changes jsonb, source jsonb)`,
      [registry.id, JSON.stringify(history), at]);
  }
  // The case belongs to the unit named by the registry's unit variable.
  const unitVar = registry.mapping.unitVariable;
  const unitUpdates = updates.filter((u) => u.variable === unitVar);
  if (unitUpdates.length) {
    await db.query(
      `UPDATE registry_case c SET unit_resh = u.unit, updated_at = $4 FROM unnest($2::bigint[], $3::text[]) AS u(id, unit)
       WHERE c.registry = $1 AND c.id = u.id AND c.unit_resh IS DISTINCT FROM u.unit`,
      [registry.id, unitUpdates.map((u) => u.caseId), unitUpdates.map((u) => String(u.value)), at]);
  }
  return { changedForms: toWrite.length, changedValues, reopened };
}
