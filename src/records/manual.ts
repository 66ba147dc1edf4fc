// A registration typed in by hand, for a unit whose systems do not send yet: the same codebook, the
// same typing and checks of every value, the same inclusion and referral rules and event identity as
// a captured case (capture/routing.ts), provenance "user", anchored as `manual:<uuid>`; a patient who
// opted out is refused. And adding an instance of a repeating form (an injury) to any case by hand.
//
// It runs in the platform's own door transaction, because a new registration must find the person
// and the events of every unit (as capture does) — the caller's right to register for the unit is
// checked first, and the audit trail names the caller as the one who did it.
import crypto from 'node:crypto';
import type { Caller } from '../access/caller.ts';
import { callerLabel } from '../access/caller.ts';
import type { PersonTx } from '../access/door.ts';
import { AUX_SYSTEM, identityFromIdentifier, NIN_SYSTEMS, type Identity, type IdentityOptions } from '../capture/identity.ts';
import { livePersons } from './persons.ts';
import type { Issue } from '../capture/outcome.ts';
import { storeNames } from '../capture/patient-name.ts';
import { inclusionDecision } from '../capture/routing.ts';
import { encryptNin, type IdentityKeys } from '../identity/crypto.ts';
import type { Registry } from '../registry/load.ts';
import { coerceValue } from '../registry/values.ts';
import { applyUpdates, ensureCases, type ValueUpdate } from './cases.ts';
import { caseValues } from './evaluate.ts';
import { assignEvents } from './events.ts';
import { lockPersons } from './locks.ts';
import { RecordError, type FieldProblem } from './workflow.ts';

const WRITE = ['unit-registrar', 'registry-admin', 'platform-admin'] as const;

export interface ManualInput {
  nin: unknown;
  name?: unknown;
  unit: unknown;
  values?: Record<string, unknown>;
}

/** The identity number as typed (spaces allowed), or a refusal the registrar can act on. */
export function identityOf(keys: IdentityKeys, raw: unknown, opts: IdentityOptions = {}): Identity {
  const value = String(raw ?? '').replace(/[\s.-]/g, '');
  const systems = value.startsWith('AUX-') ? [AUX_SYSTEM] : Object.keys(NIN_SYSTEMS);
  for (const system of systems) {
    const issues: Issue[] = [];
    const identity = identityFromIdentifier(keys, system, value, 'nin', issues, opts);
    if (identity) return identity;
  }
  throw new RecordError(
    'The identity number is not valid (fødselsnummer, D-number, H-number or an auxiliary number from the registry).',
    422,
    [{ variable: 'nin', rule: 'nin', message: 'not a valid identity number' }],
    'nin.invalid',
  );
}

/** Typed, checked values of the registry's non-repeating forms; every problem named per field. */
function typedValues(
  registry: Registry,
  values: Record<string, unknown>,
): Array<{ variable: string; form: string; value: string | number | boolean }> {
  const out: Array<{ variable: string; form: string; value: string | number | boolean }> = [];
  const problems: FieldProblem[] = [];
  for (const [variable, raw] of Object.entries(values)) {
    if (raw === null || raw === undefined || raw === '') continue;
    const entry = registry.variables.get(variable);
    if (!entry || entry.form.repeating) {
      problems.push({ variable, rule: 'unknown-variable', message: `${variable}: not a variable of a form every case has` });
      continue;
    }
    const c = coerceValue(registry, variable, raw);
    if (!c.ok) {
      problems.push({
        variable,
        rule: c.rule,
        message: `${variable}: ${c.problem}`,
        ...(c.suggestion ? { suggestion: c.suggestion } : {}),
      });
      continue;
    }
    out.push({ variable, form: entry.form.id, value: c.value });
  }
  if (problems.length)
    throw new RecordError(`Nothing was saved: ${problems.map((p) => p.message).join('; ')}.`, 422, problems, 'form.notSaved');
  return out;
}

/**
 * Starts a case by hand. `callerTx` is the caller's own transaction (for the check of the unit);
 * the work is done in `tx`, the platform's, so that it sees the person and events across units.
 */
export async function startManualCase(
  tx: PersonTx,
  caller: Caller,
  registry: Registry,
  input: ManualInput,
  keys: IdentityKeys,
  user: string,
  identityOpts: IdentityOptions = {},
): Promise<{ caseId: number; created: true }> {
  const identity = identityOf(keys, input.nin, identityOpts);
  const unit = String(input.unit ?? '');
  if (!tx.units.has(unit))
    throw new RecordError(
      `Unknown unit "${unit}".`,
      422,
      [{ variable: registry.mapping.unitVariable, rule: 'unit-unknown', message: 'unknown unit' }],
      'form.notSaved',
    );
  // The caller's right to register for the unit, as in their own transaction.
  const scope = scopeFor(caller, registry.id, tx);
  if (scope !== null && !scope.includes(unit)) {
    throw new RecordError(
      `You do not register for unit ${unit}.`,
      422,
      [{ variable: registry.mapping.unitVariable, rule: 'unit-not-yours', message: 'not a unit you register for' }],
      'form.notSaved',
    );
  }
  const values = typedValues(registry, { ...(input.values ?? {}), [registry.mapping.unitVariable]: unit });
  const name = typeof input.name === 'string' && input.name.trim() ? input.name.trim().replace(/\s+/g, ' ').slice(0, 200) : null;

  // The person first (records/locks.ts); a patient who opted out is never registered.
  await lockPersons(tx.client, [identity.hash]);
  if ((await tx.client.query('SELECT 1 FROM reservation WHERE nin_hash = $1', [identity.hash])).rows.length) {
    throw new RecordError(
      'The patient has opted out of the medical quality registries; nothing about them may be stored.',
      403,
      [],
      'patient.reserved',
    );
  }
  // The person the number names now: their own, or the one it was merged into (records/persons.ts).
  const live = (await livePersons(tx.client, [identity.hash])).get(identity.hash.toString('hex'));
  let person = live
    ? (await tx.client.query('SELECT id, birth_date, sex, deceased_date FROM person WHERE id = $1', [live.id])).rows[0]
    : undefined;
  // The same decision capture makes, on the values typed in (with the person's).
  const personValues = {
    birth_date: person?.birth_date ?? identity.birthDate,
    sex: person?.sex ?? identity.sex,
    deceased_date: person?.deceased_date ?? null,
  };
  const decided = inclusionDecision(
    registry,
    caseValues(registry, personValues, [{ form: '', instance: '', data: Object.fromEntries(values.map((v) => [v.variable, v.value])) }]),
  );
  if (decided.decision === 'referred')
    throw new RecordError(`This case belongs to ${decided.name.en}, not to ${registry.id}.`, 422, [], 'manual.referred', {
      target: decided.name.nb,
    });
  if (decided.decision === 'not-included')
    throw new RecordError(
      `${registry.id} does not include this case by its inclusion rules; check the values.`,
      422,
      [],
      'manual.notIncluded',
    );
  if (!person) {
    person = (
      await tx.client.query(
        'INSERT INTO person (nin_hash, nin_enc, nin_kind, birth_date, sex) VALUES ($1, $2, $3, $4, $5) RETURNING id, birth_date, sex, deceased_date',
        [identity.hash, encryptNin(keys, identity.nin), identity.kind, identity.birthDate, identity.sex],
      )
    ).rows[0];
  }
  const personId = Number(person.id);
  if (name) await storeNames(tx.client, keys, [{ personId, name }]);
  const anchorKey = `manual:${crypto.randomUUID()}`;
  const caseId = (await ensureCases(tx.client, registry, [{ anchorKey, personId }])).get(anchorKey)!.id;
  const updates: ValueUpdate[] = values.map((v) => ({
    caseId,
    form: v.form,
    instance: '',
    variable: v.variable,
    value: v.value,
    provenance: { kind: 'user', user },
  }));
  await applyUpdates(tx.client, registry, updates, { created: new Set([caseId]), recheck: [caseId] });
  await tx.client.query(
    `INSERT INTO routing_decision (registry, anchor_key, person_id, decision, target) VALUES ($1, $2, $3, 'included', '')`,
    [registry.id, anchorKey, personId],
  );
  await assignEvents(tx.client, keys, registry, [personId]);
  tx.audit({
    action: 'create',
    object: `${registry.id}/case/${caseId}`,
    personIds: [personId],
    unit,
    registry: registry.id,
    actor: { label: callerLabel(caller), role: roleOf(caller) },
  });
  return { caseId, created: true };
}

/** A new instance of a repeating form (an injury), with the values given (possibly none yet). */
export async function addInstance(
  tx: PersonTx,
  registry: Registry,
  caseId: number,
  form: string,
  values: Record<string, unknown>,
  user: string,
): Promise<string> {
  // Whose case it is first (a refusal says nothing about the case's forms); then the person and the case (records/locks.ts).
  const row = (
    await tx.client.query(
      'SELECT c.unit_resh, c.person_id, p.nin_hash FROM registry_case c JOIN person p ON p.id = c.person_id WHERE c.registry = $1 AND c.id = $2',
      [registry.id, caseId],
    )
  ).rows[0];
  if (!row) {
    const owner = (await tx.client.query('SELECT unit, person_id FROM kvalreg_case_unit($1, $2)', [registry.id, caseId])).rows[0];
    if (owner?.person_id)
      tx.requireUnit(registry.id, owner.unit, [...WRITE], { object: `${registry.id}/case/${caseId}/${form}`, personId: owner.person_id });
    throw new RecordError(`Case ${caseId} does not exist in ${registry.id}.`, 404, [], 'case.notFound');
  }
  tx.requireUnit(registry.id, row.unit_resh, [...WRITE], {
    object: `${registry.id}/case/${caseId}/${form}`,
    personId: Number(row.person_id),
  });
  const def = registry.forms.find((f) => f.id === form);
  if (!def) throw new RecordError(`"${form}" is not a form of ${registry.id}.`, 404, [], 'not.found');
  if (!def.repeating) throw new RecordError(`"${form}" is not a repeating form: every case has exactly one.`, 409, [], 'conflict');
  await lockPersons(tx.client, [row.nin_hash]);
  await tx.client.query('SELECT 1 FROM registry_case WHERE registry = $1 AND id = $2 FOR UPDATE', [registry.id, caseId]);
  const problems: FieldProblem[] = [];
  const instance = `manual:${crypto.randomUUID()}`;
  const updates: ValueUpdate[] = [];
  for (const [variable, raw] of Object.entries(values ?? {})) {
    if (raw === null || raw === undefined || raw === '') continue;
    if (!def.variables.some((v) => v.id === variable)) {
      problems.push({ variable, rule: 'unknown-variable', message: `${variable}: not a variable of form ${form}` });
      continue;
    }
    const c = coerceValue(registry, variable, raw);
    if (!c.ok) {
      problems.push({
        variable,
        rule: c.rule,
        message: `${variable}: ${c.problem}`,
        ...(c.suggestion ? { suggestion: c.suggestion } : {}),
      });
      continue;
    }
    updates.push({ caseId, form, instance, variable, value: c.value, provenance: { kind: 'user', user } });
  }
  if (problems.length)
    throw new RecordError(`Nothing was saved: ${problems.map((p) => p.message).join('; ')}.`, 422, problems, 'form.notSaved');
  if (updates.length === 0) {
    // An empty instance, to be filled in on the case page; the history says who added it.
    await tx.client.query(
      `INSERT INTO case_form (registry, case_id, form, instance, status, data, provenance, missing, findings, version) VALUES ($1, $2, $3, $4, 'draft', '{}', '{}', '{}', '[]', 1)`,
      [registry.id, caseId, form, instance],
    );
    await tx.client.query(
      'INSERT INTO value_history (registry, case_id, form, instance, version, changes, source) VALUES ($1, $2, $3, $4, 1, $5, $6)',
      [registry.id, caseId, form, instance, { $status: [null, 'draft'] }, { kind: 'user', user }],
    );
  }
  await applyUpdates(tx.client, registry, updates, { recheck: [caseId] });
  tx.audit({
    action: 'create',
    object: `${registry.id}/case/${caseId}/${form}/${instance}`,
    personIds: [Number(row.person_id)],
    unit: row.unit_resh,
    registry: registry.id,
  });
  return instance;
}

/** The units the caller registers for in the registry (null: all); the same rule as the door's. */
function scopeFor(caller: Caller, registry: string, tx: PersonTx): string[] | null {
  if (caller.kind !== 'user') return [];
  const grants = caller.grants.filter(
    (g) => (g.registry === registry || g.registry === '*') && (WRITE as readonly string[]).includes(g.role),
  );
  if (grants.some((g) => g.role === 'registry-admin' || g.role === 'platform-admin')) return null;
  return [...new Set(grants.flatMap((g) => tx.units.descendants(g.unit)))];
}

function roleOf(caller: Caller): string {
  return caller.kind === 'user' ? [...new Set(caller.grants.map((g) => g.role))].join(',') : caller.kind;
}
