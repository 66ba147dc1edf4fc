// The one door to person-level data. Every read and write of persons, cases, forms, history,
// captured resources and raw messages goes through `PersonData.transaction`, which takes the
// caller and the purpose, runs the work in one transaction with the caller set as session context
// (`kvalreg.caller`, for row-level security policies), and checks unit scope. Routes never query
// those tables themselves.
import type { Pool, Client } from '../db/pool.ts';
import { callerLabel, type Caller, type Grant, type Role } from './caller.ts';
import type { UnitTree } from '../units/tree.ts';
import { writeEvents, writeEventsSql, type AuditEvent } from '../audit/trail.ts';
import { KvalregError } from '../errors.ts';

export class AccessDenied extends KvalregError {
  constructor(
    message: string,
    readonly unit: string | null = null,
    readonly object: string | null = null,
    readonly personId: number | null = null,
    readonly registry: string | null = null,
  ) {
    super('forbidden', message);
  }
}

/** What a transaction did to person-level data, for the audit trail. */
export interface AuditNote {
  action: string;
  object: string;
  personIds?: number[];
  unit?: string | null;
  /** The registry the work concerns (what a registry admin sees in the audit API); none when it spans registries. */
  registry?: string | null;
  /** Who the work is done for, when not the caller: captured data is the sending system's doing. */
  actor?: { label: string; role: string };
}

export interface PersonTx {
  client: Client;
  caller: Caller;
  purpose: string;
  units: UnitTree;
  /** Throws AccessDenied unless the caller may act on `unit` of `registry` in one of `roles`; `target` names what was tried, for the audit trail. */
  requireUnit(registry: string, unit: string | null, roles: Role[], target?: { object: string; personId: number | null }): void;
  /** The units (with sub-units) where the caller holds one of `roles` in `registry`; null = all. */
  unitsFor(registry: string, roles: Role[]): string[] | null;
  /** Records what was read or changed; written to the audit trail in this transaction. */
  audit(note: AuditNote): void;
  /**
   * The statements that open the transaction, when the work sends them itself in front of its
   * first query (`TransactionOptions.beginWithFirstQuery`: one round trip less); '' once taken, and
   * always '' otherwise. The text ends with "; ", ready to be followed by a statement.
   */
  begin(): string;
  /**
   * Statements run in the round trip that commits, before the audit events and COMMIT (simple
   * protocol: values inline as literals). An error in them rolls the transaction back, and a
   * deadlock or serialization failure runs the work again, like an error in the work itself.
   */
  atCommit(sql: string): void;
}

export interface TransactionOptions {
  readOnly?: boolean;
  /** The client's address, for the audit trail. */
  client?: string;
  /** The work sends the opening statements itself, with its first query (`tx.begin()`). */
  beginWithFirstQuery?: boolean;
  /**
   * A share of work shared out under a lock (db/share-out.ts): the platform's own work, run on the
   * connections kept for shares, so that it never waits for a connection that a transaction
   * waiting for the coordinator's lock holds.
   */
  share?: boolean;
}

export class PersonData {
  /**
   * `pool`: the owner's connections, for work that may see everything. `appPool`: the application's
   * own login (kvalreg_app_login), for work under row-level security; without it, that work
   * switches role on the owner's connections. `sharePool`: the owner's connections for shares
   * (`TransactionOptions.share`); without it, shares take from `pool`.
   */
  constructor(
    private readonly pool: Pool,
    private readonly units: UnitTree,
    private readonly appPool?: Pool,
    private readonly sharePool?: Pool,
  ) {}

  /**
   * Runs `fn` in one transaction as `caller`. A transaction the database aborts for a deadlock or a
   * serialization failure (or that `fn` aborts with a RetryableConflict) is run again from the
   * start, a few times, after a short random pause: such a failure is a race lost, not an error,
   * and `fn` only ever acts inside the transaction, so running it again is safe.
   */
  async transaction<T>(caller: Caller, purpose: string, fn: (tx: PersonTx) => Promise<T>, opts: TransactionOptions = {}): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.attempt(caller, purpose, fn, opts);
      } catch (err) {
        if (attempt >= MAX_ATTEMPTS || !isRetryable(err)) throw err;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
      }
    }
  }

  private async attempt<T>(caller: Caller, purpose: string, fn: (tx: PersonTx) => Promise<T>, opts: TransactionOptions): Promise<T> {
    const { scope, grants } = rowScope(caller, this.units);
    if (opts.share && scope !== 'all') throw new Error(`${purpose}: only the platform's own work is shared out`);
    const client = await (opts.share ? (this.sharePool ?? this.pool) : scope === 'all' ? this.pool : (this.appPool ?? this.pool)).connect();
    const notes: AuditNote[] = [];
    try {
      // One round trip: begin, become the application role (row-level security applies to it), and
      // set who is asking, why, and what they may see, for the rest of the transaction.
      // Work that may see everything (the platform's own tasks, capture by sending systems,
      // admins) gains nothing from the policies but would lose its index look-ups: under RLS only
      // leakproof operators can drive an index, and the array overlap that links captured
      // resources is not one. Everyone else works as the application role, under row security.
      const role = scope === 'all' ? '' : 'SET LOCAL ROLE kvalreg_app; ';
      // A patient sees their own person: found by the keyed hash (an owner function that gives only the id).
      const own =
        caller.kind === 'user' && caller.personHash
          ? `SELECT set_config('kvalreg.person', coalesce(kvalreg_person_id_by_hash(decode(${client.escapeLiteral(caller.personHash)}, 'hex'))::text, ''), true); `
          : '';
      const opening =
        `BEGIN${opts.readOnly ? ' READ ONLY' : ''}; ${own}${role}` +
        `SELECT set_config('kvalreg.caller', ${client.escapeLiteral(callerLabel(caller))}, true), ` +
        `set_config('kvalreg.purpose', ${client.escapeLiteral(purpose)}, true), ` +
        `set_config('kvalreg.scope', ${client.escapeLiteral(scope)}, true), set_config('kvalreg.grants', ${client.escapeLiteral(grants)}, true); `;
      let begun = !opts.beginWithFirstQuery;
      if (begun) await client.query(opening);
      const atCommit: string[] = [];
      const units = this.units;
      const tx: PersonTx = {
        client,
        caller,
        purpose,
        units,
        unitsFor: (registry, roles) => scopeOf(caller, registry, roles, units),
        requireUnit: (registry, unit, roles, target) => {
          const scope = scopeOf(caller, registry, roles, units);
          if (scope === null) return;
          if (unit && scope.includes(unit)) return;
          throw new AccessDenied(
            `${callerLabel(caller)} has no ${roles.join('/')} access to unit ${unit ?? '(none)'} in ${registry}`,
            unit,
            target?.object ?? registry,
            target?.personId ?? null,
            registry === '*' ? null : registry,
          );
        },
        audit: (note) => {
          notes.push(note);
        },
        begin: () => {
          if (begun) return '';
          begun = true;
          return opening;
        },
        atCommit: (sql) => {
          atCommit.push(sql);
        },
      };
      const result = await fn(tx);
      // The trail is written in the same transaction: no change without its record, and no record of a change that did not happen.
      // Read-only transactions write it just after, with the result in hand. Whatever the work left
      // for the commit, the events and COMMIT go in one round trip.
      const last = [
        ...atCommit,
        ...(opts.readOnly ? [] : [writeEventsSql(events(caller, purpose, notes, 'ok', opts.client), (v) => client.escapeLiteral(v))]),
        'COMMIT',
      ];
      await client.query(tx.begin() + last.filter(Boolean).join('; '));
      if (opts.readOnly) await writeEvents(client, events(caller, purpose, notes, 'ok', opts.client));
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      // A refused attempt is itself an event worth keeping.
      if (err instanceof AccessDenied) {
        await writeEvents(
          client,
          events(
            caller,
            purpose,
            [
              {
                action: purpose,
                object: err.object ?? purpose,
                unit: err.unit,
                registry: err.registry,
                personIds: err.personId ? [err.personId] : [],
              },
            ],
            'denied',
            opts.client,
          ),
        ).catch((e) => {
          console.error(`kvalreg: could not record a refused attempt in the audit trail: ${(e as Error).message}`);
        });
      }
      throw err;
    } finally {
      client.release();
    }
  }
}

const MAX_ATTEMPTS = 8;
/** deadlock_detected, serialization_failure: PostgreSQL aborted the transaction to break a race. */
const RETRYABLE = new Set(['40P01', '40001']);
function isRetryable(err: unknown): boolean {
  return typeof err === 'object' && err !== null && RETRYABLE.has(String((err as { code?: unknown }).code));
}

/**
 * The platform's own tasks act on all units; users within their grants. A sending system reaches
 * person-level data only through the capture pipeline, never through the registrars' operations:
 * its scope there is empty.
 */
function scopeOf(caller: Caller, registry: string, roles: Role[], units: UnitTree): string[] | null {
  if (caller.kind === 'platform') return null;
  if (caller.kind === 'system') return [];
  const grants: Grant[] = caller.grants.filter((g) => (g.registry === registry || g.registry === '*') && roles.includes(g.role));
  if (grants.some((g) => g.role === 'platform-admin' || g.role === 'registry-admin')) return null; // grants are already filtered to this registry (or '*')
  return [...new Set(grants.flatMap((g) => units.descendants(g.unit)))];
}

function roleOf(caller: Caller): string {
  if (caller.kind === 'user') return [...new Set(caller.grants.map((g) => g.role))].join(',');
  return caller.kind;
}

/** One event per person touched (or one without a person, e.g. an empty list or a refusal). */
function events(caller: Caller, purpose: string, notes: AuditNote[], outcome: 'ok' | 'denied', client: string | undefined): AuditEvent[] {
  const base = { actor: callerLabel(caller), role: roleOf(caller), purpose, outcome, client: client ?? null };
  return notes.flatMap((n) => {
    const persons = n.personIds && n.personIds.length ? [...new Set(n.personIds)] : [null];
    const who = n.actor ? { actor: n.actor.label, role: n.actor.role } : {};
    return persons.map((personId) => ({
      ...base,
      ...who,
      unit: n.unit ?? null,
      registry: n.registry ?? null,
      personId,
      action: n.action,
      object: n.object,
    }));
  });
}

/**
 * What row-level security lets the caller see: everything for the platform's own work, for
 * sending systems (capture must find earlier data to route and link) and for admins; for unit
 * users, their grants' units with sub-units, per registry ('*' = every registry).
 */
function rowScope(caller: Caller, units: UnitTree): { scope: 'all' | 'units'; grants: string } {
  if (caller.kind !== 'user') return { scope: 'all', grants: '' };
  // Everything only for an admin of every registry; the admin of one registry sees all of that one.
  if (caller.grants.some((g) => g.registry === '*' && (g.role === 'platform-admin' || g.role === 'registry-admin')))
    return { scope: 'all', grants: '' };
  const pairs = new Set<string>();
  for (const g of caller.grants) {
    if (g.role === 'platform-admin' || g.role === 'registry-admin') {
      pairs.add(`${g.registry}:*`);
      continue;
    }
    if (g.role !== 'unit-registrar' && g.role !== 'unit-reader') continue;
    for (const u of units.descendants(g.unit)) pairs.add(`${g.registry}:${u}`);
  }
  return { scope: 'units', grants: [...pairs].join(',') };
}
