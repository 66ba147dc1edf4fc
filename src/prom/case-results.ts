// The PROM results of cases as a registry's `prom` derived variables read them (records/evaluate.ts):
// each of the registry's own items with the scores of its answer. Read where those variables are
// computed: the analytics rows (analytics/refresh.ts) and research extracts (research/extract.ts).
// A clinic's own follow-up (party: clinic) is the treating unit's, never the registry's: its items
// are not read here, so an instrument only the clinic asked never reaches a registry's data.
import type { Queryable } from '../db/pool.ts';
import type { PromResult } from '../records/evaluate.ts';
import type { Registry } from '../registry/load.ts';

/** The registry's PROM items of these cases, with the scores of their answers, by case id (none when the codebook has no `prom` variable). */
export async function promResultsOf(db: Queryable, registry: Registry, caseIds: number[]): Promise<Map<number, PromResult[]>> {
  const out = new Map<number, PromResult[]>();
  if (!caseIds.length || !registry.derived.some((d) => d.prom)) return out;
  const { rows } = await db.query(
    `SELECT i.case_id, i.schedule, i.timepoint, i.instrument, i.status, r.scores, r.answered_at
     FROM prom_item i LEFT JOIN prom_response r ON r.id = i.response_id AND r.status = 'completed'
     WHERE i.registry = $1 AND i.case_id = ANY($2::bigint[]) AND i.party = 'registry'
     -- in schedule order: of two schedules asking the same at one time point, the first counts (analytics/sql-rows.ts alike)
     ORDER BY i.case_id, i.schedule`,
    [registry.id, caseIds],
  );
  for (const r of rows) {
    const list = out.get(Number(r.case_id)) ?? [];
    list.push({
      schedule: r.schedule,
      timepoint: r.timepoint,
      instrument: r.instrument,
      status: r.status,
      scores: r.scores ?? null,
      answeredAt: r.answered_at ? new Date(r.answered_at).toISOString() : null,
    });
    out.set(Number(r.case_id), list);
  }
  return out;
}
