// Finalising many complete registrations at once, after the registrar has reviewed the list: the
// thousands of automatically captured registrations that need nothing from a person still need
// someone to vouch for them before they count in the quality-assured dataset. Each case is
// finalised as a registrar would finalise its forms one by one — only forms with nothing missing and
// no broken rule, the same lock order as every writer (persons, then cases in id order, then their
// forms), a history row per form and an audit event per person — and a case that changed since the
// review (no longer complete) is left as it is and reported.
import type { PersonTx } from '../access/door.ts';
import type { Registry } from '../registry/load.ts';
import { lockPersons } from './locks.ts';
import { RecordError } from './workflow.ts';

const WRITE = ['unit-registrar', 'registry-admin', 'platform-admin'] as const;
/** Cases per request: one transaction, short enough not to hold a hospital's capture for long. */
export const BULK_MAX = 500;

export interface BulkResult {
  finalisedCases: number[];
  finalisedForms: number;
  skipped: Array<{ caseId: number; reason: 'not-found' | 'not-complete' | 'already-finalised' | 'invalid' }>;
}

export async function bulkFinalise(tx: PersonTx, registry: Registry, caseIds: number[], user: string): Promise<BulkResult> {
  const ids = [...new Set(caseIds)].sort((a, b) => a - b);
  if (ids.length === 0) throw new RecordError('Give {"caseIds": [...]} with the cases to finalise.', 400, [], 'request.invalid');
  if (ids.length > BULK_MAX)
    throw new RecordError(`At most ${BULK_MAX} cases per request; send the rest in further requests.`, 400, [], 'request.invalid');
  // The persons first, in key order (records/locks.ts), then the cases in id order.
  const persons = (
    await tx.client.query(
      'SELECT DISTINCT p.nin_hash FROM registry_case c JOIN person p ON p.id = c.person_id WHERE c.registry = $1 AND c.id = ANY($2::bigint[])',
      [registry.id, ids],
    )
  ).rows;
  await lockPersons(
    tx.client,
    persons.map((r) => r.nin_hash as Buffer),
  );
  const cases = (
    await tx.client.query(
      'SELECT id, unit_resh, person_id, invalid_reason FROM registry_case WHERE registry = $1 AND id = ANY($2::bigint[]) ORDER BY id FOR UPDATE',
      [registry.id, ids],
    )
  ).rows;
  const found = new Map(cases.map((c) => [Number(c.id), c]));
  // A case hidden from the caller: another unit's (refused and audited, like opening it) or none.
  for (const id of ids.filter((x) => !found.has(x))) {
    const owner = (await tx.client.query('SELECT unit, person_id FROM kvalreg_case_unit($1, $2)', [registry.id, id])).rows[0];
    if (owner?.person_id)
      tx.requireUnit(registry.id, owner.unit, [...WRITE], { object: `${registry.id}/case/${id}`, personId: Number(owner.person_id) });
  }
  for (const c of cases)
    tx.requireUnit(registry.id, c.unit_resh, [...WRITE], { object: `${registry.id}/case/${c.id}`, personId: Number(c.person_id) });
  const forms = (
    await tx.client.query(
      `SELECT case_id, form, instance, status, version, cardinality(missing) = 0 AND NOT findings @> '[{"severity": "error"}]' AS complete
     FROM case_form WHERE registry = $1 AND case_id = ANY($2::bigint[]) ORDER BY case_id, form, instance FOR UPDATE`,
      [registry.id, ids],
    )
  ).rows;
  const result: BulkResult = { finalisedCases: [], finalisedForms: 0, skipped: [] };
  const toFinalise: Array<{ case_id: number; form: string; instance: string; status: string; version: number }> = [];
  for (const id of ids) {
    const c = found.get(id);
    if (!c) {
      result.skipped.push({ caseId: id, reason: 'not-found' });
      continue;
    }
    if (c.invalid_reason) {
      result.skipped.push({ caseId: id, reason: 'invalid' });
      continue;
    }
    const own = forms.filter((f) => Number(f.case_id) === id);
    if (own.some((f) => !f.complete)) {
      result.skipped.push({ caseId: id, reason: 'not-complete' });
      continue;
    }
    const open = own.filter((f) => f.status !== 'finalised');
    if (open.length === 0) {
      result.skipped.push({ caseId: id, reason: 'already-finalised' });
      continue;
    }
    toFinalise.push(...open.map((f) => ({ case_id: id, form: f.form, instance: f.instance, status: f.status, version: f.version })));
    result.finalisedCases.push(id);
  }
  if (toFinalise.length) {
    // The forms, their history (with the status before, as a one-by-one finalise writes it), one statement.
    await tx.client.query(
      `WITH f AS (SELECT * FROM jsonb_to_recordset($2::jsonb) AS f(case_id bigint, form text, instance text, status text, version int)),
       upd AS (UPDATE case_form c SET status = 'finalised', version = c.version + 1, updated_at = now() FROM f
               WHERE c.registry = $1 AND c.case_id = f.case_id AND c.form = f.form AND c.instance = f.instance RETURNING 1)
       INSERT INTO value_history (registry, case_id, form, instance, version, changes, source)
       SELECT $1, f.case_id, f.form, f.instance, f.version + 1, jsonb_build_object('$status', jsonb_build_array(f.status, 'finalised')), $3::jsonb FROM f`,
      [registry.id, JSON.stringify(toFinalise), JSON.stringify({ kind: 'user', user, bulk: true })],
    );
    result.finalisedForms = toFinalise.length;
  }
  for (const id of result.finalisedCases) {
    const c = found.get(id)!;
    tx.audit({
      action: 'finalise',
      object: `${registry.id}/case/${id}`,
      personIds: [Number(c.person_id)],
      unit: c.unit_resh,
      registry: registry.id,
    });
  }
  return result;
}

/** How much of a year's registrations is finalised (by the case date): what the annual report from the quality-assured dataset rests on. */
export async function finalisedShare(
  tx: PersonTx,
  table: string,
  dayColumn: string,
  year: string,
): Promise<{ cases: number; finalised: number }> {
  const r = (
    await tx.client.query(
      `SELECT count(*)::int AS cases, count(*) FILTER (WHERE finalised)::int AS finalised FROM ${table} a WHERE ${dayColumn} >= $1::date AND ${dayColumn} < $2::date`,
      [`${year}-01-01`, `${Number(year) + 1}-01-01`],
    )
  ).rows[0];
  return { cases: r.cases, finalised: r.finalised };
}
