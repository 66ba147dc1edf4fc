// Registrations per month for a unit (with its sub-units): how many cases, how many complete (no
// form with missing values or broken rules) and how many fully finalised, and the forms by status.
// Counts only; read through the door in the caller's own context, so row-level security limits
// them to the units the caller may see.
import type { PersonTx } from '../access/door.ts';
import type { Registry } from '../registry/load.ts';
import { READ } from './workflow.ts';

export interface MonthSummary {
  month: string; // YYYY-MM, by the registry's case date (e.g. of injury), else when the case was registered (Oslo time)
  cases: number;
  complete: number;
  finalised: number;
  forms: { draft: number; finalised: number; reopened: number };
}

export async function registrationSummary(
  tx: PersonTx,
  registry: Registry,
  opts: { unit?: string; year: string },
): Promise<MonthSummary[]> {
  const scope = tx.unitsFor(registry.id, [...READ]);
  if (opts.unit) tx.requireUnit(registry.id, opts.unit, [...READ]);
  const units = opts.unit ? tx.units.descendants(opts.unit) : scope;
  // By the registry's case date (e.g. the date of injury) where it declares one and the case has
  // it; otherwise by when the case was registered.
  const dateVar = registry.meta.caseDate;
  const entry = dateVar ? registry.variables.get(dateVar) : undefined;
  const day =
    entry && !entry.form.repeating
      ? `coalesce((SELECT ${entry.def.type === 'datetime' ? `((d.data->>'${dateVar}')::timestamptz AT TIME ZONE 'Europe/Oslo')::date` : `(d.data->>'${dateVar}')::date`}
         FROM case_form d WHERE d.registry = c.registry AND d.case_id = c.id AND d.form = '${entry.form.id}' AND d.instance = ''), (c.created_at AT TIME ZONE 'Europe/Oslo')::date)`
      : `(c.created_at AT TIME ZONE 'Europe/Oslo')::date`;
  const res = await tx.client.query(
    `WITH dated AS (SELECT c.*, ${day} AS day FROM registry_case c WHERE c.registry = $1 AND ($2::text[] IS NULL OR c.unit_resh = ANY($2)) AND c.invalid_reason IS NULL),
     cases AS (
       SELECT c.id, to_char(c.day, 'YYYY-MM') AS month,
         bool_and(cardinality(f.missing) = 0 AND jsonb_array_length(f.findings) = 0) AS complete,
         bool_and(f.status = 'finalised') AS finalised,
         count(*) FILTER (WHERE f.status = 'draft')::int AS draft, count(*) FILTER (WHERE f.status = 'finalised')::int AS fin,
         count(*) FILTER (WHERE f.status = 'reopened')::int AS reopened
       FROM dated c JOIN case_form f ON f.registry = c.registry AND f.case_id = c.id
       WHERE c.day >= ($3 || '-01-01')::date AND c.day < (($3::int + 1) || '-01-01')::date
       GROUP BY c.id, month)
     SELECT month, count(*)::int AS cases, count(*) FILTER (WHERE complete)::int AS complete, count(*) FILTER (WHERE finalised)::int AS finalised,
       sum(draft)::int AS draft, sum(fin)::int AS fin, sum(reopened)::int AS reopened
     FROM cases GROUP BY month ORDER BY month`,
    [registry.id, units, opts.year],
  );
  tx.audit({
    action: 'summary',
    object: `${registry.id}/registrations/${opts.year}${opts.unit ? `/${opts.unit}` : ''}`,
    personIds: [],
    unit: opts.unit ?? null,
    registry: registry.id,
  });
  return res.rows.map((r) => ({
    month: r.month,
    cases: r.cases,
    complete: r.complete,
    finalised: r.finalised,
    forms: { draft: r.draft, finalised: r.fin, reopened: r.reopened },
  }));
}
