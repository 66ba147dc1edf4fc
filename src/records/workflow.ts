// What registrars do with cases: the unit worklist, completing missing values, and the form
// status workflow draft → finalised → reopened. Every function takes a transaction from the door.
import type { PersonTx } from '../access/door.ts';
import type { Registry } from '../registry/load.ts';
import { coerceValue } from '../registry/values.ts';
import { applyUpdates, type ValueUpdate } from './cases.ts';
import { eventId } from './events.ts';
import { IDENTITY_REQUIRED } from './evaluate.ts';
import { lockPersons } from './locks.ts';
import { KvalregError, kindOfStatus, type ErrorKind } from '../errors.ts';

/**
 * An error a person or a system caused, with what to do about it. `message` is for the log and the
 * API's readers (English); `code` (with `params`) names the message for people, which the web app
 * shows from its catalogue in the reader's language (web/src/messages.ts).
 */
export class RecordError extends KvalregError {
  /** `status` is the error's kind, or (as records/ has long written it) the HTTP status of one. */
  constructor(
    message: string,
    status: ErrorKind | number = 'invalid',
    details: unknown[] = [],
    code?: string,
    params?: Record<string, string | number>,
  ) {
    super(typeof status === 'number' ? kindOfStatus(status) : status, message, { details, code, params });
  }
}

export const READ = ['unit-registrar', 'unit-reader', 'registry-admin', 'platform-admin'] as const;
const WRITE = ['unit-registrar', 'registry-admin', 'platform-admin'] as const;

/** One field's problem in a refused save: which variable, which rule, and a suggested value if there is one. */
export interface FieldProblem {
  variable: string;
  rule: string;
  message: string;
  suggestion?: string;
}

export interface WorklistItem {
  caseId: number;
  unit: string | null;
  createdAt: string;
  updatedAt: string;
  /** The case waits until its person's identity number is resolved (the finding says why). */
  waitingForIdentity: boolean;
  forms: Array<{ form: string; instance: string; status: string; missing: string[]; findings: unknown[] }>;
}

export async function worklist(
  tx: PersonTx,
  registry: Registry,
  opts: { unit?: string; limit?: number; offset?: number },
): Promise<{ total: number; items: WorklistItem[] }> {
  const scope = tx.unitsFor(registry.id, [...READ]);
  let units: string[] | null = opts.unit ? tx.units.descendants(opts.unit) : null;
  if (opts.unit) tx.requireUnit(registry.id, opts.unit, [...READ]);
  if (!units && scope) units = scope;
  const params: unknown[] = [registry.id, units, Math.min(opts.limit ?? 100, 1000), opts.offset ?? 0];
  const res = await tx.client.query(
    `WITH incomplete AS (
       SELECT DISTINCT f.case_id FROM case_form f JOIN registry_case c ON c.registry = f.registry AND c.id = f.case_id
       WHERE f.registry = $1 AND (cardinality(f.missing) > 0 OR jsonb_array_length(f.findings) > 0)
         AND ($2::text[] IS NULL OR c.unit_resh = ANY($2))
         -- an invalid registration (merged into another) needs no completion; one waiting for
         -- its person's identity number stays, with the reason (records/evaluate.ts)
         AND (c.invalid_reason IS NULL OR c.invalid_reason = '${IDENTITY_REQUIRED}'))
     SELECT c.id, c.person_id, c.unit_resh, c.created_at, c.updated_at, c.invalid_reason, count(*) OVER () AS total,
       jsonb_agg(jsonb_build_object('form', f.form, 'instance', f.instance, 'status', f.status, 'missing', f.missing, 'findings', f.findings) ORDER BY f.form, f.instance) AS forms
     FROM incomplete i JOIN registry_case c ON c.registry = $1 AND c.id = i.case_id
     JOIN case_form f ON f.registry = c.registry AND f.case_id = c.id AND (cardinality(f.missing) > 0 OR jsonb_array_length(f.findings) > 0)
     GROUP BY c.id, c.person_id, c.unit_resh, c.created_at, c.updated_at, c.invalid_reason
     ORDER BY c.created_at, c.id LIMIT $3 OFFSET $4`,
    params,
  );
  tx.audit({
    action: 'list',
    object: `${registry.id}/worklist${opts.unit ? `/${opts.unit}` : ''}`,
    personIds: res.rows.map((r) => r.person_id),
    unit: opts.unit ?? null,
    registry: registry.id,
  });
  return {
    total: res.rows[0]?.total ?? 0,
    items: res.rows.map((r) => ({
      caseId: r.id,
      unit: r.unit_resh,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
      waitingForIdentity: r.invalid_reason === IDENTITY_REQUIRED,
      forms: r.forms,
    })),
  };
}

export async function getCase(tx: PersonTx, registry: Registry, caseId: number) {
  const c = (
    await tx.client.query(
      `SELECT c.id, c.person_id, c.unit_resh, c.registry_version, c.created_at, c.updated_at, c.event_key, c.invalid_reason, c.merged_into, p.birth_date, p.sex, p.deceased_date
     FROM registry_case c JOIN person p ON p.id = c.person_id WHERE c.registry = $1 AND c.id = $2`,
      [registry.id, caseId],
    )
  ).rows[0];
  if (!c) {
    // Row-level security hides other units' cases: tell "not yours" (refused, audited) from "none".
    const owner = (await tx.client.query('SELECT unit, person_id FROM kvalreg_case_unit($1, $2)', [registry.id, caseId])).rows[0];
    if (owner?.person_id)
      tx.requireUnit(registry.id, owner.unit, [...READ], { object: `${registry.id}/case/${caseId}`, personId: owner.person_id });
    throw new RecordError(`Case ${caseId} does not exist in ${registry.id}.`, 404);
  }
  tx.requireUnit(registry.id, c.unit_resh, [...READ], { object: `${registry.id}/case/${caseId}`, personId: c.person_id });
  tx.audit({ action: 'read', object: `${registry.id}/case/${caseId}`, personIds: [c.person_id], unit: c.unit_resh, registry: registry.id });
  const forms = (
    await tx.client.query(
      'SELECT form, instance, status, data, provenance, missing, findings, version, updated_at FROM case_form WHERE registry = $1 AND case_id = $2 ORDER BY form, instance',
      [registry.id, caseId],
    )
  ).rows;
  return {
    id: c.id,
    unit: c.unit_resh,
    registryVersion: c.registry_version,
    createdAt: c.created_at,
    updatedAt: c.updated_at,
    person: { birthDate: c.birth_date, sex: c.sex, deceasedDate: c.deceased_date },
    // Waiting for the person's identity number (registry.yaml `requires`): out of the statistics until resolved.
    waitingForIdentity: c.invalid_reason === IDENTITY_REQUIRED,
    // The event the case belongs to (registries declaring `event`): its id as people read it, and
    // whether this registration counts (an invalid one is kept, visible, and left out of statistics).
    ...(registry.event
      ? {
          event: {
            label: registry.event.def.label,
            id: eventId(c.event_key),
            invalidReason: c.invalid_reason,
            mergedInto: c.merged_into === null ? null : Number(c.merged_into),
          },
        }
      : {}),
    forms,
  };
}

export async function history(tx: PersonTx, registry: Registry, caseId: number) {
  await getCase(tx, registry, caseId);
  return (
    await tx.client.query(
      'SELECT form, instance, version, changed_at, changes, source FROM value_history WHERE registry = $1 AND case_id = $2 ORDER BY changed_at, form, instance, version',
      [registry.id, caseId],
    )
  ).rows;
}

async function lockForm(tx: PersonTx, registry: Registry, caseId: number, form: string, instance: string) {
  // The person, then the case, then the form: the lock order every writer keeps (records/locks.ts).
  const person = (
    await tx.client.query(
      'SELECT p.nin_hash FROM registry_case c JOIN person p ON p.id = c.person_id WHERE c.registry = $1 AND c.id = $2',
      [registry.id, caseId],
    )
  ).rows[0];
  if (person) await lockPersons(tx.client, [person.nin_hash]);
  await tx.client.query('SELECT 1 FROM registry_case WHERE registry = $1 AND id = $2 FOR UPDATE', [registry.id, caseId]);
  const row = (
    await tx.client.query(
      `SELECT f.status, f.version, c.unit_resh, c.person_id FROM case_form f JOIN registry_case c ON c.registry = f.registry AND c.id = f.case_id
     WHERE f.registry = $1 AND f.case_id = $2 AND f.form = $3 AND f.instance = $4 FOR UPDATE OF f`,
      [registry.id, caseId, form, instance],
    )
  ).rows[0];
  if (!row) {
    const owner = (await tx.client.query('SELECT unit, person_id FROM kvalreg_case_unit($1, $2)', [registry.id, caseId])).rows[0];
    if (owner?.person_id)
      tx.requireUnit(registry.id, owner.unit, [...WRITE], { object: `${registry.id}/case/${caseId}/${form}`, personId: owner.person_id });
    throw new RecordError(`Case ${caseId} has no form "${form}"${instance ? ` instance ${instance}` : ''} in ${registry.id}.`, 404);
  }
  tx.requireUnit(registry.id, row.unit_resh, [...WRITE], { object: `${registry.id}/case/${caseId}/${form}`, personId: row.person_id });
  return row as { status: string; version: number; unit_resh: string; person_id: number };
}

/**
 * Completes a form: sets only the named variables. A blank is not a value: to remove a wrong
 * value, name it in `clear` with a reason.
 */
export async function completeForm(
  tx: PersonTx,
  registry: Registry,
  caseId: number,
  form: string,
  instance: string,
  values: Record<string, unknown>,
  user: string,
) {
  const formDef = registry.forms.find((f) => f.id === form);
  if (!formDef)
    throw new RecordError(`"${form}" is not a form of ${registry.id}; forms: ${registry.forms.map((f) => f.id).join(', ')}.`, 404);
  const row = await lockForm(tx, registry, caseId, form, instance);
  if (row.status === 'finalised') throw new RecordError('The form is finalised. Reopen it before changing it.', 409);
  const problems: string[] = [];
  const updates: ValueUpdate[] = [];
  // Each problem names its variable and rule, so the web app can say in the reader's language which
  // field is wrong and why (and offer a suggested code).
  const details: FieldProblem[] = [];
  for (const [variable, raw] of Object.entries(values)) {
    if (!formDef.variables.some((v) => v.id === variable)) {
      problems.push(`${variable}: not a variable of form ${form}`);
      details.push({ variable, rule: 'unknown-variable', message: problems.at(-1)! });
      continue;
    }
    if (raw === null || raw === undefined || raw === '') {
      problems.push(`${variable}: a blank does not overwrite a value; leave it out, or clear it explicitly`);
      details.push({ variable, rule: 'blank', message: problems.at(-1)! });
      continue;
    }
    const c = coerceValue(registry, variable, raw);
    if (!c.ok) {
      problems.push(`${variable}: ${c.problem}`);
      details.push({ variable, rule: c.rule, message: problems.at(-1)!, ...(c.suggestion ? { suggestion: c.suggestion } : {}) });
      continue;
    }
    if (variable === registry.mapping.unitVariable) {
      // The treating unit decides whose case it is: only a unit the registrar may register for
      // (row-level security would refuse anything else, as an error nobody could read).
      const unit = String(c.value);
      if (!tx.units.has(unit)) {
        problems.push(`${variable}: ${unit} is not a known unit`);
        details.push({ variable, rule: 'unit-unknown', message: problems.at(-1)! });
        continue;
      }
      const scope = tx.unitsFor(registry.id, [...WRITE]);
      if (scope !== null && !scope.includes(unit)) {
        problems.push(`${variable}: you do not register for unit ${unit}; a case can be moved only to a unit you register for`);
        details.push({ variable, rule: 'unit-not-yours', message: problems.at(-1)! });
        continue;
      }
    }
    updates.push({ caseId, form, instance, variable, value: c.value, provenance: { kind: 'user', user } });
  }
  if (problems.length) throw new RecordError(`Nothing was saved: ${problems.join('; ')}.`, 422, details, 'form.notSaved');
  await applyUpdates(tx.client, registry, updates);
  tx.audit({
    action: 'update',
    object: `${registry.id}/case/${caseId}/${form}${instance ? `/${instance}` : ''}`,
    personIds: [row.person_id],
    unit: row.unit_resh,
    registry: registry.id,
  });
  return getCase(tx, registry, caseId);
}

const TRANSITIONS: Record<string, Record<string, string>> = {
  finalise: { draft: 'finalised', reopened: 'finalised' },
  reopen: { finalised: 'reopened' },
};

export async function changeStatus(
  tx: PersonTx,
  registry: Registry,
  caseId: number,
  form: string,
  instance: string,
  action: 'finalise' | 'reopen',
  user: string,
) {
  const row = await lockForm(tx, registry, caseId, form, instance);
  const next = TRANSITIONS[action][row.status];
  if (!next) throw new RecordError(`A ${row.status} form cannot be ${action === 'finalise' ? 'finalised' : 'reopened'}.`, 409);
  if (action === 'finalise') {
    const f = (
      await tx.client.query(
        'SELECT missing, findings FROM case_form WHERE registry = $1 AND case_id = $2 AND form = $3 AND instance = $4',
        [registry.id, caseId, form, instance],
      )
    ).rows[0];
    const errors = (f.findings as Array<{ severity: string }>).filter((x) => x.severity === 'error');
    if (f.missing.length || errors.length) {
      throw new RecordError(
        `The form cannot be finalised: ${f.missing.length ? `missing ${f.missing.join(', ')}` : ''}${f.missing.length && errors.length ? '; ' : ''}${errors.length ? `${errors.length} rule violation(s)` : ''}.`,
        422,
        [...f.missing, ...errors],
      );
    }
  }
  await tx.client.query(
    'UPDATE case_form SET status = $5, version = version + 1, updated_at = now() WHERE registry = $1 AND case_id = $2 AND form = $3 AND instance = $4',
    [registry.id, caseId, form, instance, next],
  );
  await tx.client.query(
    `INSERT INTO value_history (registry, case_id, form, instance, version, changes, source) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [registry.id, caseId, form, instance, row.version + 1, { $status: [row.status, next] }, { kind: 'user', user }],
  );
  tx.audit({
    action: action,
    object: `${registry.id}/case/${caseId}/${form}${instance ? `/${instance}` : ''}`,
    personIds: [row.person_id],
    unit: row.unit_resh,
    registry: registry.id,
  });
  return getCase(tx, registry, caseId);
}

/** Deletes a repeating form instance. A finalised form must be reopened first. */
export async function deleteForm(tx: PersonTx, registry: Registry, caseId: number, form: string, instance: string, user: string) {
  const row = await lockForm(tx, registry, caseId, form, instance);
  const def = registry.forms.find((f) => f.id === form);
  if (!def?.repeating) throw new RecordError(`Only instances of repeating forms can be deleted; "${form}" is part of every case.`, 409);
  if (row.status === 'finalised') throw new RecordError('The form is finalised. Reopen it before deleting it.', 409);
  await tx.client.query('DELETE FROM case_form WHERE registry = $1 AND case_id = $2 AND form = $3 AND instance = $4', [
    registry.id,
    caseId,
    form,
    instance,
  ]);
  // The deletion is itself history: the form's earlier values stay, with who deleted it.
  const version = (
    await tx.client.query(
      'SELECT coalesce(max(version), 0) + 1 AS v FROM value_history WHERE registry = $1 AND case_id = $2 AND form = $3 AND instance = $4',
      [registry.id, caseId, form, instance],
    )
  ).rows[0].v;
  await tx.client.query(
    'INSERT INTO value_history (registry, case_id, form, instance, version, changes, source) VALUES ($1, $2, $3, $4, $5, $6, $7)',
    [registry.id, caseId, form, instance, version, { $status: [row.status, 'deleted'] }, { kind: 'user', user }],
  );
  tx.audit({
    action: 'delete',
    object: `${registry.id}/case/${caseId}/${form}/${instance}`,
    personIds: [row.person_id],
    unit: row.unit_resh,
    registry: registry.id,
  });
}
