// Retractions: a sending system takes back what it sent, by marking a resource
// `entered-in-error` (FHIR's status for "should never have existed") or by deleting it. The
// values the resource contributed leave their forms (a finalised form reopens, as for any new
// source data), the history says why, a repeating-form instance that came from it is deleted, a
// case that grew from it stops counting (marked invalid, kept readable, left out of analytics,
// the worklist and extracts) and its routing decision says so. Another resource that carries a
// value for the same variable then gives it, as if the retracted one had never been sent.
import type { Queryable } from '../db/pool.ts';
import type { Registry } from '../registry/load.ts';
import { applyUpdates, type Provenance, type ValueUpdate } from './cases.ts';
import { formKey } from './evaluate.ts';

/** Why a case does not count: the resource it grew from was retracted by its sender. */
export const RETRACTED = 'entered-in-error';

/**
 * Is the resource withdrawn by its sender? Every accepted resource type but Condition has
 * `status` with the code `entered-in-error`; a Condition says it in `verificationStatus`.
 */
export function isRetracted(resource: Record<string, any>): boolean {
  if (resource.status === 'entered-in-error') return true;
  const coding = resource.verificationStatus?.coding;
  return Array.isArray(coding) && coding.some((c: any) => c?.code === 'entered-in-error');
}

export interface RetractionResult {
  removedValues: number;
  deletedInstances: number;
  withdrawnCases: number;
  reopened: number;
}

/**
 * Takes back, in `registry`, what the resources `rkeys` of `personId` contributed. The person is
 * already locked (records/locks.ts); the cases are locked here, in id order, before their forms
 * are read. `refill` gives the values the person's other resources still carry for the affected
 * cases (capture/relink.ts), applied where the variable is now empty.
 */
export async function retract(
  db: Queryable,
  registry: Registry,
  personId: number,
  rkeys: string[],
  source: Provenance & { kind: 'system' },
  refill: (caseIds: number[]) => Promise<ValueUpdate[]>,
): Promise<RetractionResult> {
  const result: RetractionResult = { removedValues: 0, deletedInstances: 0, withdrawnCases: 0, reopened: 0 };
  if (rkeys.length === 0) return result;
  const cases = (
    await db.query(
      `SELECT id, anchor_key, invalid_reason FROM registry_case WHERE registry = $1 AND person_id = $2 ORDER BY id FOR UPDATE`,
      [registry.id, personId],
    )
  ).rows;
  if (cases.length === 0) return result;
  const caseIds = cases.map((c) => Number(c.id));
  const retracted = new Set(rkeys);
  const at = new Date().toISOString();
  const history: unknown[] = [];

  // Whatever a registry decided about a retracted anchor, it is now the sender's retraction.
  await db.query(
    `UPDATE routing_decision SET decision = 'retracted', decided_at = now() WHERE registry = $1 AND anchor_key = ANY($2) AND decision <> 'retracted'`,
    [registry.id, rkeys],
  );
  // A case grown from a retracted resource stops counting; it stays readable, with what the
  // sender's other resources gave it.
  const withdrawn = cases.filter((c) => retracted.has(c.anchor_key) && c.invalid_reason !== RETRACTED);
  if (withdrawn.length) {
    await db.query(
      `UPDATE registry_case SET invalid_reason = $3, merged_into = NULL, updated_at = now() WHERE registry = $1 AND id = ANY($2)`,
      [registry.id, withdrawn.map((c) => c.id), RETRACTED],
    );
    result.withdrawnCases = withdrawn.length;
  }

  const forms = (
    await db.query(
      `SELECT case_id, form, instance, status, data, provenance, version FROM case_form WHERE registry = $1 AND case_id = ANY($2)`,
      [registry.id, caseIds],
    )
  ).rows;
  const removals: Array<{ caseId: number; form: string; instance: string; variable: string }> = [];
  for (const f of forms) {
    const caseWithdrawn = withdrawn.some((c) => Number(c.id) === Number(f.case_id));
    if (caseWithdrawn)
      history.push({
        case_id: f.case_id,
        form: f.form,
        instance: f.instance,
        version: f.version + 1,
        changes: { $case: [null, RETRACTED] },
        source,
      });
    if (retracted.has(f.instance)) {
      // The instance is the retracted resource's own (a repeating form): it goes, as a registrar's deletion would.
      await db.query('DELETE FROM case_form WHERE registry = $1 AND case_id = $2 AND form = $3 AND instance = $4', [
        registry.id,
        f.case_id,
        f.form,
        f.instance,
      ]);
      history.push({
        case_id: f.case_id,
        form: f.form,
        instance: f.instance,
        version: f.version + (caseWithdrawn ? 2 : 1),
        changes: { $status: [f.status, 'deleted'] },
        source,
      });
      result.deletedInstances++;
      continue;
    }
    for (const [variable, p] of Object.entries(f.provenance as Record<string, { kind?: string; resource?: string }>)) {
      if (p?.kind === 'system' && p.resource && retracted.has(p.resource))
        removals.push({ caseId: Number(f.case_id), form: f.form, instance: f.instance, variable });
    }
  }
  if (history.length) {
    await db.query(
      `INSERT INTO value_history (registry, case_id, form, instance, version, changed_at, changes, source)
      SELECT $1, h.case_id, h.form, h.instance, h.version, $3, h.changes, h.source
      FROM jsonb_to_recordset($2::jsonb) AS h(case_id bigint, form text, instance text, version int, changes jsonb, source jsonb)`,
      [registry.id, JSON.stringify(history), at],
    );
    // Keep form versions ahead of the history rows just written.
    await db.query(
      `UPDATE case_form f SET version = h.v FROM (SELECT case_id, form, instance, max(version) AS v FROM jsonb_to_recordset($2::jsonb)
        AS h(case_id bigint, form text, instance text, version int) GROUP BY 1, 2, 3) h
      WHERE f.registry = $1 AND f.case_id = h.case_id AND f.form = h.form AND f.instance = h.instance AND f.version < h.v`,
      [registry.id, JSON.stringify(history)],
    );
  }
  // The values go, and another resource's value for the same variable takes its place (one
  // history row per form: old value → the other resource's, or → nothing).
  const removedKeys = new Set(removals.map((r) => `${r.caseId}:${formKey(r.form, r.instance)}:${r.variable}`));
  const refills = removals.length
    ? (await refill(caseIds)).filter((u) => removedKeys.has(`${u.caseId}:${formKey(u.form, u.instance)}:${u.variable}`))
    : [];
  const write = await applyUpdates(db, registry, refills, {
    removals: removals.map((r) => ({ ...r, provenance: source })),
    at,
    recheck: caseIds,
  });
  result.removedValues = removals.length;
  result.reopened = write.reopened;
  return result;
}

/** Anchors sent again after their sender retracted them: their cases count again (their values come with the resend). */
export async function restoreRetracted(db: Queryable, registry: Registry, anchorKeys: string[]): Promise<number> {
  const rows = (
    await db.query(
      `UPDATE registry_case SET invalid_reason = NULL, updated_at = now() WHERE registry = $1 AND anchor_key = ANY($2) AND invalid_reason = $3 RETURNING anchor_key`,
      [registry.id, anchorKeys, RETRACTED],
    )
  ).rows;
  if (rows.length) {
    await db.query(`UPDATE routing_decision SET decision = 'included', decided_at = now() WHERE registry = $1 AND anchor_key = ANY($2)`, [
      registry.id,
      rows.map((r) => r.anchor_key),
    ]);
  }
  return rows.length;
}
