// Repair of links lost before capture was made safe under concurrency: two messages about one
// patient processed at the same moment could each miss the other's uncommitted resource, so a
// resource captured and acknowledged (a Procedure) never reached its case. Resending does not help
// (unchanged content is a no-op) and reprocessing answers with the stored outcome. This walks
// every person's captured resources again, as the pipeline would link them now, and fills the
// values that never reached a case — only those: a variable that ever had a value in a form
// (in its history) is left as it is, so a registrar's correction or clearing is never undone.
import type { PersonData } from '../access/door.ts';
import type { Registry } from '../registry/load.ts';
import { applyUpdates, type ValueUpdate } from '../records/cases.ts';
import { lockPersonsById } from '../records/locks.ts';
import { formKey } from '../records/evaluate.ts';
import { anchorRefs, contributions, extractValues, toMapped } from './mapper.ts';

export interface RelinkResult {
  persons: number;
  cases: number;
  restored: number;
  byVariable: Record<string, number>;
}

/** Relinks every person (or those given) in each registry; one transaction per person, so it can run beside capture. */
export async function relink(
  data: PersonData,
  registries: Registry[],
  opts: { personIds?: number[]; dryRun?: boolean; onProgress?: (done: number, total: number) => void } = {},
): Promise<RelinkResult> {
  const platform = { kind: 'platform' as const, task: 'capture-relink' };
  const ids =
    opts.personIds ??
    (await data.transaction(
      platform,
      'capture:relink',
      async (tx) =>
        (await tx.client.query('SELECT DISTINCT person_id FROM registry_case ORDER BY person_id')).rows.map((r) => Number(r.person_id)),
      { readOnly: true },
    ));
  const total: RelinkResult = { persons: 0, cases: 0, restored: 0, byVariable: {} };
  for (const personId of ids) {
    const dry = new Error('dry run');
    try {
      await data.transaction(platform, 'capture:relink', async (tx) => {
        await lockPersonsById(tx.client, [personId]);
        let touched = false;
        for (const registry of registries) {
          const updates = await missingLinks(tx.client, registry, personId);
          if (updates.length === 0) continue;
          touched = true;
          total.cases += new Set(updates.map((u) => u.caseId)).size;
          total.restored += updates.length;
          for (const u of updates)
            total.byVariable[`${registry.id}.${u.variable}`] = (total.byVariable[`${registry.id}.${u.variable}`] ?? 0) + 1;
          if (!opts.dryRun) await applyUpdates(tx.client, registry, updates);
        }
        if (touched) tx.audit({ action: 'relink', object: `person/${personId}`, personIds: [personId] });
        if (opts.dryRun) throw dry;
      });
    } catch (err) {
      if (err !== dry) throw err;
    }
    total.persons++;
    opts.onProgress?.(total.persons, ids.length);
  }
  return total;
}

type Db = Parameters<typeof applyUpdates>[0];

/** The values a person's captured resources carry for their cases in `registry` that never reached them. */
async function missingLinks(db: Db, registry: Registry, personId: number): Promise<ValueUpdate[]> {
  const all = await linkedValues(db, registry, personId);
  if (all.length === 0) return [];
  const caseIds = [...new Set(all.map((u) => u.caseId))];
  const present = new Set<string>();
  // A variable counts as having reached a form if it has a value now or ever had one.
  for (const f of (
    await db.query('SELECT case_id, form, instance, data FROM case_form WHERE registry = $1 AND case_id = ANY($2)', [registry.id, caseIds])
  ).rows) {
    for (const v of Object.keys(f.data)) present.add(`${f.case_id}:${formKey(f.form, f.instance)}:${v}`);
  }
  for (const h of (
    await db.query('SELECT case_id, form, instance, changes FROM value_history WHERE registry = $1 AND case_id = ANY($2)', [
      registry.id,
      caseIds,
    ])
  ).rows) {
    for (const v of Object.keys(h.changes ?? {})) present.add(`${h.case_id}:${formKey(h.form, h.instance)}:${v}`);
    // A deleted repeating instance stays deleted.
    if (h.changes?.$status?.[1] === 'deleted') present.add(`${h.case_id}:${formKey(h.form, h.instance)}:*`);
  }
  const updates: ValueUpdate[] = [];
  for (const u of all) {
    const form = `${u.caseId}:${formKey(u.form, u.instance)}`;
    if (present.has(`${form}:${u.variable}`) || present.has(`${form}:*`)) continue;
    present.add(`${form}:${u.variable}`);
    updates.push({ ...u, provenance: { ...u.provenance, repair: 'relink' } as ValueUpdate['provenance'] });
  }
  return updates;
}

/**
 * Every value the person's captured resources (retracted ones give none) carry for their valid
 * cases in `registry`, linked as the pipeline links them, each with its resource's message as
 * provenance. Used to repair lost links and to refill a variable after a retraction.
 */
export async function linkedValues(db: Db, registry: Registry, personId: number): Promise<ValueUpdate[]> {
  const cases = (
    await db.query(
      `SELECT c.id, c.anchor_key, s.resource FROM registry_case c JOIN source_resource s ON s.rkey = c.anchor_key
     WHERE c.registry = $1 AND c.person_id = $2 AND c.invalid_reason IS NULL ORDER BY c.id`,
      [registry.id, personId],
    )
  ).rows;
  if (cases.length === 0) return [];
  const resources = (
    await db.query(
      'SELECT rkey, resource_type, resource, sender, message_id FROM source_resource WHERE person_id = $1 ORDER BY message_id, rkey',
      [personId],
    )
  ).rows;
  const mapped = resources.map((r) => {
    const m = toMapped(r.rkey, r.resource_type, r.resource);
    return { m, extracted: extractValues(registry, m, []), sender: r.sender as string, message: Number(r.message_id) };
  });
  const out: ValueUpdate[] = [];
  for (const c of cases) {
    const anchor = { rkey: c.anchor_key as string, resource: c.resource, refs: anchorRefs(registry, c.resource) };
    for (const r of mapped) {
      if (r.extracted.length === 0) continue;
      for (const x of contributions(anchor, r.m, r.extracted)) {
        out.push({
          caseId: Number(c.id),
          form: x.form,
          instance: x.instance,
          variable: x.variable,
          value: x.value,
          provenance: { kind: 'system', sender: r.sender, message: r.message, resource: x.resourceKey },
        });
      }
    }
  }
  return out;
}
