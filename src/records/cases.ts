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

export interface FormRow {
  case_id: number;
  form: string;
  instance: string;
  status: string;
  data: Record<string, unknown>;
  provenance: Record<string, unknown>;
  missing: string[];
  findings: unknown[];
  version: number;
}

export interface WriteResult {
  changedForms: number;
  changedValues: number;
  reopened: number;
}

/** Creates the cases for new anchors and returns case ids by anchor key (their forms are written by applyUpdates). */
export async function ensureCases(
  db: Queryable,
  registry: Registry,
  rows: Array<{ anchorKey: string; personId: number }>,
): Promise<Map<string, { id: number; created: boolean }>> {
  const result = new Map<string, { id: number; created: boolean }>();
  if (rows.length === 0) return result;
  const inserted = await prepared(
    db,
    'rec1',
    `INSERT INTO registry_case (registry, person_id, anchor_key, registry_version)
     SELECT $1, p, a, $4 FROM unnest($2::bigint[], $3::text[]) AS t(p, a)
     ON CONFLICT (registry, anchor_key) DO NOTHING RETURNING id, anchor_key`,
    [registry.id, rows.map((r) => r.personId), rows.map((r) => r.anchorKey), registry.version],
  );
  for (const r of inserted.rows) result.set(r.anchor_key, { id: r.id, created: true });
  const missing = rows.filter((r) => !result.has(r.anchorKey)).map((r) => r.anchorKey);
  if (missing.length) {
    const existing = await prepared(db, 'rec2', 'SELECT id, anchor_key FROM registry_case WHERE registry = $1 AND anchor_key = ANY($2)', [
      registry.id,
      missing,
    ]);
    for (const r of existing.rows) result.set(r.anchor_key, { id: r.id, created: false });
  }
  return result;
}

/** A value taken back by its source (records/retraction.ts): removed from the form, the history says by whom. */
export interface ValueRemoval {
  caseId: number;
  form: string;
  instance: string;
  variable: string;
  provenance: Provenance;
}

export interface ApplyOptions {
  /** Values to remove before the updates are applied. */
  removals?: ValueRemoval[];
  /** Cases to re-evaluate without new values (e.g. after a death date arrived). */
  recheck?: number[];
  /** Cases created in this transaction: they have no forms yet, so none are read. */
  created?: Set<number>;
  at?: string;
}

/** What a case's evaluation needs besides its forms, as read (locked) from the database. */
export interface CaseState {
  id: number;
  person: PersonValues;
  /** The kind of the person's identity number (a registry may require one). */
  identityKind: string | undefined;
  invalidReason: string | null;
  unit: string | null;
}

/** The rows one application of updates writes (see applyUpdates). */
export interface FormWrites {
  forms: Array<{
    case_id: number;
    form: string;
    instance: string;
    status: string;
    data: Record<string, unknown>;
    provenance: Record<string, unknown>;
    missing: string[];
    findings: unknown[];
    version: number;
  }>;
  history: Array<{
    case_id: number;
    form: string;
    instance: string;
    version: number;
    changes: Record<string, [unknown, unknown]>;
    source: Provenance | undefined;
  }>;
  /** The case's unit, named by the registry's unit variable. */
  units: Array<{ id: number; unit: string }>;
  /** Cases that start or stop waiting for the identity number the registry requires. */
  waiting: Array<{ id: number; reason: string | null }>;
}

type WorkRow = FormRow & { changes: Record<string, [unknown, unknown]>; touched: boolean; source?: Provenance };

/**
 * Cases of one registry held in memory, locked and read once: value updates are merged into their
 * forms (a blank never overwrites a value), each case is re-evaluated, and the rows to write are
 * collected. `applyUpdates` reads the cases and writes what one application decides; the capture
 * pipeline reads every case a message concerns in one round trip, applies everything the message
 * brings (and what event identity then copies), and writes it all in one statement.
 */
export class CaseWorkspace {
  private readonly states = new Map<number, CaseState>();
  private readonly stored = new Map<number, Map<string, FormRow>>();
  private readonly fresh = new Set<number>();

  constructor(readonly registry: Registry) {}

  /** A case as read, locked, from the database, with its forms. */
  load(state: CaseState, forms: FormRow[]): void {
    this.states.set(state.id, { ...state });
    this.stored.set(state.id, new Map(forms.map((f) => [formKey(f.form, f.instance), { ...f, case_id: state.id }])));
  }

  /** A case created in this transaction: it gets every non-repeating form when it is first applied. */
  create(state: CaseState): void {
    this.states.set(state.id, { ...state });
    this.stored.set(state.id, new Map());
    this.fresh.add(state.id);
  }

  has(id: number): boolean {
    return this.states.has(id);
  }
  state(id: number): CaseState | undefined {
    return this.states.get(id);
  }
  /** The case's forms as they now stand (with what was applied). */
  forms(id: number): FormRow[] {
    return [...(this.stored.get(id)?.values() ?? [])];
  }
  setInvalidReason(id: number, reason: string | null): void {
    const s = this.states.get(id);
    if (s) s.invalidReason = reason;
  }

  /** Applies value updates (after `removals`) to the cases and re-evaluates them and `recheck`. */
  apply(updates: ValueUpdate[], opts: Omit<ApplyOptions, 'created'> = {}): FormWrites & WriteResult {
    const registry = this.registry;
    const at = opts.at ?? new Date().toISOString();
    const removals = opts.removals ?? [];
    const out: FormWrites & WriteResult = {
      forms: [],
      history: [],
      units: [],
      waiting: [],
      changedForms: 0,
      changedValues: 0,
      reopened: 0,
    };
    const caseIds = [...new Set([...updates.map((u) => u.caseId), ...removals.map((r) => r.caseId), ...(opts.recheck ?? [])])];
    if (caseIds.length === 0) return out;
    const forms = new Map<string, WorkRow>();
    const key = (c: number, f: string, i: string) => `${c}:${formKey(f, i)}`;
    for (const id of caseIds)
      for (const row of this.stored.get(id)?.values() ?? [])
        forms.set(key(id, row.form, row.instance), { ...row, changes: {}, touched: false });
    // A new case gets every non-repeating form, so that what is missing shows on the worklist.
    for (const id of caseIds) {
      if (!this.fresh.delete(id)) continue;
      for (const f of registry.forms) {
        if (!f.repeating)
          forms.set(key(id, f.id, ''), {
            case_id: id,
            form: f.id,
            instance: '',
            status: 'draft',
            data: {},
            provenance: {},
            missing: [],
            findings: [],
            version: 0,
            changes: {},
            touched: true,
          });
      }
    }

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
      out.changedValues++;
    }
    for (const u of updates) {
      const k = key(u.caseId, u.form, u.instance);
      let row = forms.get(k);
      if (!row) {
        row = {
          case_id: u.caseId,
          form: u.form,
          instance: u.instance,
          status: 'draft',
          data: {},
          provenance: {},
          missing: [],
          findings: [],
          version: 0,
          changes: {},
          touched: true,
        };
        forms.set(k, row);
      }
      const old = row.data[u.variable];
      if (old === u.value) continue;
      row.data = { ...row.data, [u.variable]: u.value };
      row.provenance = { ...row.provenance, [u.variable]: { ...u.provenance, at } };
      // Against the value before this write (a removal just before may have taken it).
      row.changes[u.variable] = [u.variable in row.changes ? row.changes[u.variable][0] : (old ?? null), u.value];
      row.source = u.provenance;
      row.touched = true;
      out.changedValues++;
    }

    // A case waits while its person lacks the identity number the registry requires (evaluate.ts):
    // marked here, and unmarked when the identity is resolved; another reason is left as it is.
    for (const id of caseIds) {
      const s = this.states.get(id);
      if (!s) continue;
      const waits = waitsForIdentity(registry, s.identityKind);
      if (waits && s.invalidReason === null) out.waiting.push({ id, reason: IDENTITY_REQUIRED });
      if (!waits && s.invalidReason === IDENTITY_REQUIRED) out.waiting.push({ id, reason: null });
    }
    const byCase = new Map<number, WorkRow[]>();
    for (const row of forms.values()) byCase.set(row.case_id, [...(byCase.get(row.case_id) ?? []), row]);
    for (const [caseId, rows] of byCase) {
      const s = this.states.get(caseId);
      const person = s?.person ?? { birth_date: null, sex: null, deceased_date: null };
      const evaluation = evaluateCase(
        registry,
        person,
        rows.map((r): FormState => ({ form: r.form, instance: r.instance, data: r.data })),
        s?.identityKind,
      );
      for (const row of rows) {
        const ev = evaluation.forms.get(formKey(row.form, row.instance)) ?? { missing: [], findings: [] };
        const evalChanged =
          JSON.stringify(ev.missing) !== JSON.stringify(row.missing) || JSON.stringify(ev.findings) !== JSON.stringify(row.findings);
        const dataChanged = Object.keys(row.changes).length > 0;
        if (!dataChanged && !evalChanged && !row.touched) continue;
        if (dataChanged) {
          // New source data for a finalised form reopens it: a registrar must look again and re-finalise.
          if (row.status === 'finalised' && row.source?.kind === 'system') {
            row.changes.$status = ['finalised', 'reopened'];
            row.status = 'reopened';
            out.reopened++;
          }
          row.version += 1;
          out.history.push({
            case_id: caseId,
            form: row.form,
            instance: row.instance,
            version: row.version,
            changes: row.changes,
            source: row.source,
          });
        } else if (row.version === 0) {
          row.version = 1;
        }
        const written = {
          case_id: caseId,
          form: row.form,
          instance: row.instance,
          status: row.status,
          data: row.data,
          provenance: row.provenance,
          missing: ev.missing,
          findings: ev.findings,
          version: row.version,
        };
        out.forms.push(written);
        this.stored.get(caseId)?.set(formKey(row.form, row.instance), written);
      }
    }
    out.changedForms = out.forms.length;
    // The case belongs to the unit named by the registry's unit variable.
    const unitVar = registry.mapping.unitVariable;
    out.units = updates.filter((u) => u.variable === unitVar).map((u) => ({ id: u.caseId, unit: String(u.value) }));
    for (const u of out.units) {
      const s = this.states.get(u.id);
      if (s) s.unit = u.unit;
    }
    for (const w of out.waiting) this.setInvalidReason(w.id, w.reason);
    return out;
  }
}

/** Applies value updates to the given cases and re-evaluates them, writing in one statement. */
export async function applyUpdates(
  db: Queryable,
  registry: Registry,
  updates: ValueUpdate[],
  opts: ApplyOptions = {},
): Promise<WriteResult> {
  const at = opts.at ?? new Date().toISOString();
  const created = opts.created ?? new Set<number>();
  const removals = opts.removals ?? [];
  const caseIds = [...new Set([...updates.map((u) => u.caseId), ...removals.map((r) => r.caseId), ...(opts.recheck ?? [])])];
  if (caseIds.length === 0) return { changedForms: 0, changedValues: 0, reopened: 0 };
  const existingIds = caseIds.filter((id) => !created.has(id));
  // Lock the cases (in id order, as every writer does) before reading their forms: two messages,
  // or a message and a registrar, updating one case must not each write back a stale copy.
  const personsRes = await prepared(
    db,
    'rec-lock',
    'SELECT c.id, c.invalid_reason, c.unit_resh, p.birth_date, p.sex, p.deceased_date, p.nin_kind FROM registry_case c JOIN person p ON p.id = c.person_id WHERE c.registry = $1 AND c.id = ANY($2) ORDER BY c.id FOR UPDATE OF c',
    [registry.id, caseIds],
  );
  const formsRes = existingIds.length
    ? await prepared(
        db,
        'rec-forms',
        'SELECT case_id, form, instance, status, data, provenance, missing, findings, version FROM case_form WHERE registry = $1 AND case_id = ANY($2)',
        [registry.id, existingIds],
      )
    : { rows: [] as FormRow[] };
  const workspace = new CaseWorkspace(registry);
  const byCase = new Map<number, FormRow[]>();
  for (const row of formsRes.rows as FormRow[]) byCase.set(Number(row.case_id), [...(byCase.get(Number(row.case_id)) ?? []), row]);
  for (const r of personsRes.rows) {
    const state: CaseState = {
      id: Number(r.id),
      person: { birth_date: r.birth_date, sex: r.sex, deceased_date: r.deceased_date },
      identityKind: r.nin_kind,
      invalidReason: r.invalid_reason,
      unit: r.unit_resh,
    };
    if (created.has(state.id)) workspace.create(state);
    else workspace.load(state, byCase.get(state.id) ?? []);
  }
  const w = workspace.apply(updates, { removals, recheck: opts.recheck, at });
  await writeForms(db, registry, w, at);
  return { changedForms: w.changedForms, changedValues: w.changedValues, reopened: w.reopened };
}

/** Writes what an application of updates decided: forms, history and the case's unit in one statement. */
async function writeForms(db: Queryable, registry: Registry, w: FormWrites, at: string): Promise<void> {
  if (w.forms.length || w.history.length || w.units.length) {
    // Forms, history and the case's unit in one statement: one round trip per case update.
    await prepared(
      db,
      'rec-write',
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
      [registry.id, JSON.stringify(w.forms), JSON.stringify(w.history), JSON.stringify(w.units), at],
    );
  }
  if (w.waiting.length) {
    await db.query(
      `UPDATE registry_case c SET invalid_reason = w.reason, updated_at = $3 FROM jsonb_to_recordset($2::jsonb) AS w(id bigint, reason text)
      WHERE c.registry = $1 AND c.id = w.id`,
      [registry.id, JSON.stringify(w.waiting), at],
    );
  }
}
