// Finding a patient by identity number, and the patient's cases in every registry the caller may
// see: how a registrar coming from a paper form or another system gets to the right registration.
// Within the caller's units only (row-level security hides the rest; nothing says whether the person
// exists elsewhere), and audited as a search of that person.
import type { PersonTx } from '../access/door.ts';
import type { IdentityKeys } from '../identity/crypto.ts';
import type { Registry } from '../registry/load.ts';
import type { Text } from '../registry/schema.ts';
import { caseHeaders, type CaseHeader } from './case-header.ts';
import { READ } from './workflow.ts';

export interface PatientCase {
  registry: string;
  registryTitle: Text;
  caseId: number;
  unit: string | null;
  createdAt: string;
  forms: { total: number; finalised: number; missing: number };
  header: CaseHeader | null;
  invalid: boolean;
}
export interface PatientView {
  personId: number;
  person: CaseHeader['person'] | null;
  cases: PatientCase[];
}

/** The person with this keyed hash, if the caller may see any of their cases. */
export async function personByHash(tx: PersonTx, hash: Buffer): Promise<number | null> {
  const row = (await tx.client.query('SELECT id FROM person WHERE nin_hash = $1', [hash])).rows[0];
  return row ? Number(row.id) : null;
}

/** The person's cases in the given registries, within the caller's units, newest first, each with its header. */
export async function patientView(
  tx: PersonTx,
  registries: Registry[],
  personId: number,
  keys: IdentityKeys,
  opts: { unitName(resh: string): Text | null; purpose: 'search' | 'read' },
): Promise<PatientView | null> {
  const cases: PatientCase[] = [];
  for (const registry of registries) {
    const scope = tx.unitsFor(registry.id, [...READ]);
    if (scope !== null && scope.length === 0) continue;
    const rows = (
      await tx.client.query(
        `SELECT c.id, c.unit_resh, c.created_at, c.invalid_reason IS NOT NULL AS invalid,
         count(f.*)::int AS total, count(f.*) FILTER (WHERE f.status = 'finalised')::int AS finalised,
         coalesce(sum(cardinality(f.missing) + jsonb_array_length(f.findings)), 0)::int AS missing
       FROM registry_case c LEFT JOIN case_form f ON f.registry = c.registry AND f.case_id = c.id
       WHERE c.registry = $1 AND c.person_id = $2 AND ($3::text[] IS NULL OR c.unit_resh = ANY($3))
       GROUP BY c.registry, c.id ORDER BY c.created_at DESC`,
        [registry.id, personId, scope],
      )
    ).rows;
    if (!rows.length) continue;
    const headers = await caseHeaders(
      tx,
      registry,
      rows.map((r) => Number(r.id)),
      keys,
      opts,
    );
    for (const r of rows) {
      cases.push({
        registry: registry.id,
        registryTitle: registry.meta.title,
        caseId: Number(r.id),
        unit: r.unit_resh,
        createdAt: new Date(r.created_at).toISOString(),
        forms: { total: r.total, finalised: r.finalised, missing: r.missing },
        header: headers.get(Number(r.id)) ?? null,
        invalid: r.invalid,
      });
    }
    tx.audit({ action: opts.purpose, object: `${registry.id}/patient`, personIds: [personId], unit: null, registry: registry.id });
  }
  if (!cases.length) return null;
  return { personId, person: cases.find((c) => c.header)?.header?.person ?? null, cases };
}
