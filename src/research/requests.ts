// A researcher's request for an extract, and the registry's decision on it. The request holds the
// extract's definition, checked against the codebook when it is made (variables known, no direct
// identifiers), so the researcher learns at once what cannot be delivered; approving it delivers the
// extract (research/extract.ts: pseudonymised, recorded, audited) and links the delivery to the
// request, which the researcher follows until it is delivered or rejected with a reason.
import type { Queryable } from '../db/pool.ts';
import type { Registry } from '../registry/load.ts';
import { checkDefinition, type ExtractDefinition } from './extract.ts';
import { KvalregError } from '../errors.ts';

export interface ExtractRequest {
  id: number;
  registry: string;
  requestedBy: string;
  requesterName: string | null;
  project: string;
  approvalRef: string;
  purpose: string;
  definition: ExtractDefinition;
  status: 'submitted' | 'approved' | 'rejected' | 'delivered' | 'withdrawn';
  decidedBy: string | null;
  decidedAt: string | null;
  decisionNote: string | null;
  deliveryId: number | null;
  createdAt: string;
  delivery: { rows: number; sha256: string; deliveredAt: string } | null;
}

export interface RequestInput {
  project?: unknown;
  approvalRef?: unknown;
  purpose?: unknown;
  expires?: unknown;
  variables?: unknown;
  from?: unknown;
  to?: unknown;
  dates?: unknown;
}

function text(v: unknown, field: string, max: number): string {
  if (typeof v !== 'string' || !v.trim())
    throw new KvalregError('unprocessable', `${field} is required.`, {
      details: [{ variable: field, rule: 'required', message: `${field} is required` }],
      code: 'form.notSaved',
    });
  return v.trim().slice(0, max);
}

/** The definition the request asks for, checked now: the same check a delivery makes. */
export function requestDefinition(registry: Registry, input: RequestInput): ExtractDefinition {
  const period =
    registry.meta.caseDate && (input.from || input.to)
      ? { variable: registry.meta.caseDate, from: String(input.from ?? '1900-01-01'), to: String(input.to ?? '2999-12-31') }
      : undefined;
  return checkDefinition(registry, {
    project: text(input.project, 'project', 100),
    approvalRef: text(input.approvalRef, 'approvalRef', 200),
    expires: String(input.expires ?? ''),
    variables: Array.isArray(input.variables) ? input.variables.map(String) : [],
    ...(period ? { period } : {}),
    dates: input.dates ?? 'shift',
  });
}

const row = (r: any): ExtractRequest => ({
  id: Number(r.id),
  registry: r.registry,
  requestedBy: r.requested_by,
  requesterName: r.requester_name,
  project: r.project,
  approvalRef: r.approval_ref,
  purpose: r.purpose,
  definition: r.definition,
  status: r.status,
  decidedBy: r.decided_by,
  decidedAt: r.decided_at ? new Date(r.decided_at).toISOString() : null,
  decisionNote: r.decision_note,
  deliveryId: r.delivery_id === null ? null : Number(r.delivery_id),
  createdAt: new Date(r.created_at).toISOString(),
  delivery:
    r.row_count === null || r.row_count === undefined
      ? null
      : { rows: r.row_count, sha256: r.sha256, deliveredAt: new Date(r.delivered_at).toISOString() },
});
const SELECT = `SELECT q.*, d.row_count, d.sha256, d.delivered_at FROM extract_request q LEFT JOIN extract_delivery d ON d.id = q.delivery_id`;

export async function createRequest(
  db: Queryable,
  registry: Registry,
  input: RequestInput,
  by: { label: string; name: string | null },
): Promise<ExtractRequest> {
  const def = requestDefinition(registry, input);
  const purpose = text(input.purpose, 'purpose', 2000);
  const r = (
    await db.query(
      `INSERT INTO extract_request (registry, requested_by, requester_name, project, approval_ref, purpose, definition) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
      [registry.id, by.label, by.name, def.project, def.approvalRef, purpose, def],
    )
  ).rows[0];
  return (await findRequest(db, Number(r.id)))!;
}

export async function findRequest(db: Queryable, id: number): Promise<ExtractRequest | null> {
  const r = (await db.query(`${SELECT} WHERE q.id = $1`, [id])).rows[0];
  return r ? row(r) : null;
}

/** A researcher's own requests, or (registries given) every request to those registries. */
export async function listRequests(db: Queryable, filter: { requestedBy?: string; registries?: string[] }): Promise<ExtractRequest[]> {
  const rows = (
    await db.query(
      `${SELECT} WHERE ($1::text IS NULL OR q.requested_by = $1) AND ($2::text[] IS NULL OR q.registry = ANY($2)) ORDER BY q.id DESC LIMIT 500`,
      [filter.requestedBy ?? null, filter.registries ?? null],
    )
  ).rows;
  return rows.map(row);
}

export async function decide(
  db: Queryable,
  id: number,
  decision: { status: 'rejected' | 'delivered' | 'withdrawn'; by: string; note?: string | null; deliveryId?: number },
): Promise<ExtractRequest> {
  const res = await db.query(
    `UPDATE extract_request SET status = $2, decided_by = $3, decided_at = now(), decision_note = $4, delivery_id = $5, updated_at = now()
     WHERE id = $1 AND status = 'submitted' RETURNING id`,
    [id, decision.status, decision.by, decision.note ?? null, decision.deliveryId ?? null],
  );
  if (!res.rowCount) throw new KvalregError('conflict', `Request ${id} has already been decided.`, { code: 'conflict' });
  return (await findRequest(db, id))!;
}
