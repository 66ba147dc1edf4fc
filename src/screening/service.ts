// A screening run as person-level work: the file holds identity numbers, and so does the list of
// kept admissions. Only registrars and admins of the registry may run it; the run is audited
// (one event per person already known to the platform among the kept admissions, so that they see
// it in innsyn, and one for the run itself); dropped admissions are returned without identity.
import type { PersonTx } from '../access/door.ts';
import { AccessDenied } from '../access/door.ts';
import { ninHash, type IdentityKeys } from '../identity/crypto.ts';
import type { Registry } from '../registry/load.ts';
import { readAdmissions, screen, ScreeningError, type ReadOptions, type ScreeningResult } from './run.ts';

export const SCREENING_ROLES = ['unit-registrar', 'registry-admin', 'platform-admin'] as const;

export async function runScreening(
  tx: PersonTx,
  registry: Registry,
  csv: string,
  keys: IdentityKeys,
  opts: ReadOptions = {},
): Promise<ScreeningResult> {
  if (!registry.screening)
    throw new ScreeningError(`the ${registry.id} registry declares no screening worklist (registries/${registry.id}/screening.yaml)`);
  const units = tx.unitsFor(registry.id, [...SCREENING_ROLES]);
  if (units !== null && units.length === 0)
    throw new AccessDenied(
      `screening for ${registry.id} needs a registrar or admin role in that registry`,
      null,
      `registry/${registry.id}/screening`,
    );
  const result = screen(registry.screening, readAdmissions(registry.screening, csv, opts));
  const kept = result.outcomes.filter((o) => o.outcome === 'kept' && o.nationalId).map((o) => ninHash(keys, o.nationalId!));
  // Known to the platform under the number, or under the person it was merged into
  // (records/persons.ts): through the owner function that gives only the id, as under row-level security.
  const known = kept.length
    ? (await tx.client.query('SELECT DISTINCT kvalreg_person_id_by_hash(h) AS id FROM unnest($1::bytea[]) AS h', [kept])).rows
        .filter((r) => r.id !== null)
        .map((r) => Number(r.id))
    : [];
  tx.audit({ action: 'screening', object: `registry/${registry.id}/screening`, personIds: known });
  return result;
}
