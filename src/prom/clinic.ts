// The clinic as a party to collect once (seed 004 §1.5). A schedule declared `party: clinic` in a
// registry's prom.yaml is the treating unit's own follow-up questionnaire: the scheduler puts its
// items in the patient's one invitation beside the registries' (each instrument asked once), and
// this module gives the unit what it is entitled to: the answers to its own items, for its own
// patients. An instrument only a registry asked is not listed here (the registry's purpose is
// secondary use; the unit has no claim to it through this door), and a registry never reads the
// clinic's items (prom/case-results.ts, results.ts).
import type { PersonTx } from '../access/door.ts';
import type { Registry } from '../registry/load.ts';
import { KvalregError } from '../errors.ts';

const READ = ['unit-registrar', 'unit-reader', 'registry-admin', 'platform-admin'] as const;

export interface ClinicAnswer {
  caseId: number;
  unit: string;
  schedule: string;
  timepoint: string;
  instrument: string;
  status: string;
  dueDate: string;
  answeredAt: string | null;
  /** The scores of the answer (null until answered). */
  scores: Record<string, unknown> | null;
  answers: Record<string, unknown> | null;
  /** Who answered and how (patient, proxy, paper, another system). */
  source: string | null;
}

/** The clinic's own items at the caller's units (or one unit and those under it), newest due first, with their answers. */
export async function clinicAnswers(
  tx: PersonTx,
  registry: Registry,
  opts: { unit?: string; status?: string; limit?: number; offset?: number },
): Promise<{ total: number; items: ClinicAnswer[] }> {
  const statuses = ['pending', 'invited', 'answered', 'expired', 'cancelled'];
  if (opts.status !== undefined && !statuses.includes(opts.status))
    throw new KvalregError('invalid', `status is one of ${statuses.join(', ')}.`);
  if (opts.unit) tx.requireUnit(registry.id, opts.unit, [...READ]);
  const scope = tx.unitsFor(registry.id, [...READ]);
  const units = opts.unit ? tx.units.descendants(opts.unit) : scope;
  const { rows } = await tx.client.query(
    `SELECT i.case_id, c.unit_resh, i.person_id, i.schedule, i.timepoint, i.instrument, i.status, i.due_date::text AS due,
            r.answered_at, r.scores, r.answers, r.provenance->>'kind' AS source, count(*) OVER () AS total
     FROM prom_item i
     JOIN registry_case c ON c.registry = i.registry AND c.id = i.case_id
     LEFT JOIN prom_response r ON r.id = i.response_id AND r.status = 'completed'
     WHERE i.registry = $1 AND i.party = 'clinic' AND ($2::text[] IS NULL OR c.unit_resh = ANY ($2)) AND ($3::text IS NULL OR i.status = $3)
     ORDER BY i.due_date DESC, i.case_id DESC, i.timepoint, i.instrument LIMIT $4 OFFSET $5`,
    [registry.id, units, opts.status ?? null, Math.min(opts.limit ?? 100, 500), opts.offset ?? 0],
  );
  tx.audit({
    action: 'list',
    object: `${registry.id}/prom/clinic${opts.unit ? `/${opts.unit}` : ''}`,
    personIds: [...new Set(rows.map((r) => Number(r.person_id)))],
    unit: opts.unit ?? null,
    registry: registry.id,
  });
  return {
    total: Number(rows[0]?.total ?? 0),
    items: rows.map((r) => ({
      caseId: Number(r.case_id),
      unit: r.unit_resh,
      schedule: r.schedule,
      timepoint: r.timepoint,
      instrument: r.instrument,
      status: r.status,
      dueDate: r.due,
      answeredAt: r.answered_at ? new Date(r.answered_at).toISOString() : null,
      scores: r.scores ?? null,
      answers: r.answers ?? null,
      source: r.source ?? null,
    })),
  };
}
