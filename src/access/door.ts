// The one door to person-level data. Every read and write of persons, cases, forms, history,
// captured resources and raw messages goes through `PersonData.transaction`, which takes the
// caller and the purpose, runs the work in one transaction with the caller set as session context
// (`kvalreg.caller`, for row-level security policies), and checks unit scope. Routes never query
// those tables themselves.
import type { Pool, Client } from '../db/pool.ts';
import { callerLabel, type Caller, type Grant, type Role } from './caller.ts';
import type { UnitTree } from '../units/tree.ts';

export class AccessDenied extends Error {
  constructor(message: string) { super(message); }
}

export interface PersonTx {
  client: Client;
  caller: Caller;
  purpose: string;
  units: UnitTree;
  /** Throws AccessDenied unless the caller may act on `unit` of `registry` in one of `roles`. */
  requireUnit(registry: string, unit: string | null, roles: Role[]): void;
  /** The units (with sub-units) where the caller holds one of `roles` in `registry`; null = all. */
  unitsFor(registry: string, roles: Role[]): string[] | null;
}

export class PersonData {
  constructor(private readonly pool: Pool, private readonly units: UnitTree) {}

  async transaction<T>(caller: Caller, purpose: string, fn: (tx: PersonTx) => Promise<T>, opts: { readOnly?: boolean } = {}): Promise<T> {
    const client = await this.pool.connect();
    try {
      // One round trip: begin, and set who is asking and why for the rest of the transaction.
      await client.query(`BEGIN${opts.readOnly ? ' READ ONLY' : ''}; SELECT set_config('kvalreg.caller', ${client.escapeLiteral(callerLabel(caller))}, true), ` +
        `set_config('kvalreg.purpose', ${client.escapeLiteral(purpose)}, true)`);
      const units = this.units;
      const tx: PersonTx = {
        client, caller, purpose, units,
        unitsFor: (registry, roles) => scopeOf(caller, registry, roles, units),
        requireUnit: (registry, unit, roles) => {
          const scope = scopeOf(caller, registry, roles, units);
          if (scope === null) return;
          if (unit && scope.includes(unit)) return;
          throw new AccessDenied(`${callerLabel(caller)} has no ${roles.join('/')} access to unit ${unit ?? '(none)'} in ${registry}`);
        },
      };
      const result = await fn(tx);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }
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
  if (grants.some((g) => g.role === 'platform-admin' || g.role === 'registry-admin')) return null;
  return [...new Set(grants.flatMap((g) => units.descendants(g.unit)))];
}
