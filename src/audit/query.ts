// Reading the audit trail, for registry admins: filtered by user, person, unit, registry, time,
// action and outcome; paged by id, or streamed in full from a PostgreSQL cursor so that a million
// events never sit in memory. Runs in a door transaction: the admin of one registry works under
// row-level security and sees that registry's events only; reading the trail is itself audited.
import { stringify } from 'csv-stringify/sync';
import type { Caller } from '../access/caller.ts';
import type { PersonTx } from '../access/door.ts';
import { AccessDenied } from '../access/door.ts';
import type { UnitTree } from '../units/tree.ts';
import { KvalregError } from '../errors.ts';

export interface AuditFilter {
  actor?: string;
  personId?: number;
  /** The keyed hash of a national identity number (never the number itself past this point). */
  personHash?: Buffer;
  unit?: string;
  /** Include the unit's sub-units (default true). */
  subUnits?: boolean;
  registry?: string;
  action?: string;
  outcome?: 'ok' | 'denied';
  from?: string;
  to?: string;
  /** Cursor: events with a greater id. */
  after?: number;
  limit?: number;
}

const FILTER_KEYS = ['actor', 'personId', 'unit', 'subUnits', 'registry', 'action', 'outcome', 'from', 'to', 'after', 'limit', 'format'];

/** Reads a filter from query parameters or a JSON body; names what is wrong and how to say it. */
export function parseAuditFilter(raw: Record<string, unknown>, extraKeys: string[] = []): AuditFilter {
  const unknown = Object.keys(raw).filter((k) => !FILTER_KEYS.includes(k) && !extraKeys.includes(k));
  if (unknown.length)
    throw new KvalregError(
      'invalid',
      `Unknown audit filter ${unknown.map((k) => `"${k}"`).join(', ')}; filters are ${[...FILTER_KEYS, ...extraKeys].join(', ')}.`,
    );
  const str = (k: string): string | undefined => {
    const v = raw[k];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string' && typeof v !== 'number') throw new KvalregError('invalid', `${k} must be a single value.`);
    return String(v);
  };
  const int = (k: string, min: number): number | undefined => {
    const v = str(k);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min)
      throw new KvalregError('invalid', `${k} must be a whole number of ${min} or more, not "${v}".`);
    return n;
  };
  const time = (k: string): string | undefined => {
    const v = str(k);
    if (v === undefined) return undefined;
    if (!/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(v) || Number.isNaN(Date.parse(v))) {
      throw new KvalregError(
        'invalid',
        `${k} must be a date (2025-01-31) or a time with its offset (2025-01-31T12:00:00+01:00), not "${v}".`,
      );
    }
    return v;
  };
  const outcome = str('outcome');
  if (outcome !== undefined && outcome !== 'ok' && outcome !== 'denied') throw new KvalregError('invalid', 'outcome must be ok or denied.');
  const subUnits = str('subUnits');
  if (subUnits !== undefined && subUnits !== 'true' && subUnits !== 'false')
    throw new KvalregError('invalid', 'subUnits must be true or false.');
  const limit = int('limit', 1);
  if (limit !== undefined && limit > 1000)
    throw new KvalregError(
      'invalid',
      'limit is at most 1000 per page; page on with "after", or ask for format=ndjson or csv to stream everything.',
    );
  const f: AuditFilter = {
    actor: str('actor'),
    personId: int('personId', 1),
    unit: str('unit'),
    subUnits: subUnits === undefined ? true : subUnits === 'true',
    registry: str('registry'),
    action: str('action'),
    outcome: outcome as AuditFilter['outcome'],
    from: time('from'),
    to: time('to'),
    after: int('after', 0),
    limit,
  };
  if (f.from && f.to && Date.parse(f.from) > Date.parse(f.to))
    throw new KvalregError('invalid', 'from is after to; give the earlier time as from.');
  return f;
}

/** The registries whose events the caller may read; null = every registry (and events spanning registries). */
export function auditScope(caller: Caller): string[] | null {
  if (caller.kind === 'platform') return null;
  if (caller.kind !== 'user') return [];
  const admin = caller.grants.filter((g) => g.role === 'registry-admin' || g.role === 'platform-admin');
  if (admin.some((g) => g.registry === '*')) return null;
  return [...new Set(admin.map((g) => g.registry))];
}

export interface AuditRow {
  id: number;
  seq: number | null;
  at: string;
  actor: string;
  role: string | null;
  unit: string | null;
  registry: string | null;
  personId: number | null;
  action: string;
  object: string;
  purpose: string;
  outcome: string;
  client: string | null;
}

const SELECT = `SELECT id, seq, at, actor, role, unit, registry, person_id AS "personId", action, object, purpose, outcome, client FROM audit_event`;

async function whereClause(tx: PersonTx, f: AuditFilter, units: UnitTree): Promise<{ sql: string; params: unknown[] }> {
  const scope = auditScope(tx.caller);
  if (scope !== null && f.registry && !scope.includes(f.registry)) {
    throw new AccessDenied(
      `You are an admin of ${scope.join(', ') || 'no registry'}, not of ${f.registry}: its audit trail is not yours to read.`,
      null,
      'audit',
      null,
      f.registry,
    );
  }
  const where: string[] = [];
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  if (scope !== null) where.push(`registry = ANY(${p(scope)}::text[])`);
  if (f.registry) where.push(`registry = ${p(f.registry)}`);
  if (f.actor) where.push(`actor = ${p(f.actor)}`);
  if (f.personHash) {
    // The person by the keyed hash of their number: through an owner function that reveals only
    // the id, so that it works under row-level security and for persons no longer registered.
    const id = (await tx.client.query('SELECT kvalreg_person_id_by_hash($1) AS id', [f.personHash])).rows[0].id;
    // Whether a number is registered at all is for admins of every registry to learn; the admin of
    // one registry just finds no events (their registry has none about the person either way).
    if (id === null && scope === null)
      throw new KvalregError(
        'not-found',
        'No person with this identity number has been registered, so the audit trail has no events about them.',
      );
    f.personId = id === null ? -1 : Number(id);
  }
  // [identity] A person's events include those recorded under an id merged into theirs (records/persons.ts).
  if (f.personId !== undefined) where.push(`person_id = ANY(kvalreg_person_ids(${p(f.personId)}))`);
  if (f.unit) {
    const list = f.subUnits ? units.descendants(f.unit) : [f.unit];
    where.push(`unit = ANY(${p(list.length ? list : [f.unit])}::text[])`);
  }
  if (f.action) where.push(`action = ${p(f.action)}`);
  if (f.outcome) where.push(`outcome = ${p(f.outcome)}`);
  if (f.from) where.push(`at >= ${p(f.from)}::timestamptz`);
  if (f.to) where.push(`at <= ${p(f.to)}::timestamptz`);
  if (f.after !== undefined) where.push(`id > ${p(f.after)}`);
  return { sql: where.length ? ` WHERE ${where.join(' AND ')}` : '', params };
}

function describe(f: AuditFilter): string {
  const parts = Object.entries({ ...f, personHash: undefined, subUnits: undefined })
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  return `audit${parts.length ? `?${parts.join('&')}` : ''}`;
}

function note(tx: PersonTx, f: AuditFilter): void {
  // Reading the trail is a look at who was treated where: audited, against the person when one
  // was asked for. A search across persons is one event (not one per person in the result).
  const scope = auditScope(tx.caller);
  tx.audit({
    action: 'audit:read',
    object: describe(f),
    personIds: f.personId && f.personId > 0 ? [f.personId] : [],
    registry: f.registry ?? (scope?.length === 1 ? scope[0] : null),
  });
}

/** One page, oldest first; `next` is the cursor for the following page. */
export async function auditPage(tx: PersonTx, f: AuditFilter, units: UnitTree): Promise<{ events: AuditRow[]; next: number | null }> {
  const limit = f.limit ?? 100;
  const { sql, params } = await whereClause(tx, f, units);
  const events = (await tx.client.query(`${SELECT}${sql} ORDER BY id LIMIT ${limit}`, params)).rows as AuditRow[];
  note(tx, f);
  return { events, next: events.length === limit ? events[events.length - 1].id : null };
}

export const CSV_COLUMNS = [
  'id',
  'seq',
  'at',
  'actor',
  'role',
  'unit',
  'registry',
  'personId',
  'action',
  'object',
  'purpose',
  'outcome',
  'client',
] as const;

/**
 * Every matching event, from a server-side cursor in batches: `write` is awaited per batch, so a
 * slow reader holds the cursor back instead of filling memory. `ready` is called once the filter
 * has been checked, before the first row: errors before it are the caller's to answer.
 */
export async function streamAudit(
  tx: PersonTx,
  f: AuditFilter,
  units: UnitTree,
  format: 'ndjson' | 'csv',
  ready: () => void,
  write: (chunk: string) => Promise<void>,
  batch = 2000,
): Promise<number> {
  const { sql, params } = await whereClause(tx, f, units);
  await tx.client.query(
    `DECLARE audit_stream NO SCROLL CURSOR FOR ${SELECT}${sql} ORDER BY id${f.limit ? ` LIMIT ${f.limit}` : ''}`,
    params,
  );
  note(tx, f);
  ready();
  let n = 0;
  if (format === 'csv') await write(stringify([[...CSV_COLUMNS]]));
  for (;;) {
    const rows = (await tx.client.query(`FETCH ${batch} FROM audit_stream`)).rows as AuditRow[];
    if (rows.length === 0) break;
    n += rows.length;
    await write(
      format === 'csv'
        ? stringify(
            rows.map((r) => ({ ...r, at: new Date(r.at).toISOString() })),
            { columns: [...CSV_COLUMNS] },
          )
        : rows.map((r) => JSON.stringify(r)).join('\n') + '\n',
    );
    if (rows.length < batch) break;
  }
  await tx.client.query('CLOSE audit_stream');
  return n;
}
