// A screening run as person-level work: the file holds identity numbers, and so does the list of
// kept admissions. Only registrars and admins of the registry may run it; the run is audited
// (one event per person already known to the platform among the kept admissions, so that they see
// it in innsyn, and one for the run itself); dropped admissions are returned without identity.
import type { PersonTx } from '../access/door.ts';
import { AccessDenied } from '../access/door.ts';
import { ninHash, type IdentityKeys } from '../identity/crypto.ts';
import type { Registry } from '../registry/load.ts';
import { readAdmissions, screen, ScreeningError, type ScreeningResult } from './run.ts';

export const SCREENING_ROLES = ['unit-registrar', 'registry-admin', 'platform-admin'] as const;

export async function runScreening(tx: PersonTx, registry: Registry, csv: string, keys: IdentityKeys, opts: { today?: Date } = {}): Promise<ScreeningResult> {
  if (!registry.screening) throw new ScreeningError(`the ${registry.id} registry declares no screening worklist (registries/${registry.id}/screening.yaml)`);
  const units = tx.unitsFor(registry.id, [...SCREENING_ROLES]);
  if (units !== null && units.length === 0) throw new AccessDenied(`screening for ${registry.id} needs a registrar or admin role in that registry`, null, `registry/${registry.id}/screening`);
  const result = screen(registry.screening, readAdmissions(registry.screening, csv, opts));
  const kept = result.outcomes.filter((o) => o.outcome === 'kept' && o.nationalId).map((o) => ninHash(keys, o.nationalId!));
  const known = kept.length
    ? (await tx.client.query('SELECT id FROM person WHERE nin_hash = ANY($1::bytea[])', [kept])).rows.map((r) => Number(r.id))
    : [];
  tx.audit({ action: 'screening', object: `registry/${registry.id}/screening`, personIds: known });
  return result;
}
