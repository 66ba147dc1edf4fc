// The people who log in and what they may do, for the platform admin's page: every person with
// their grants and last login, and changing a person's grants (the same rule as `kvalreg user`).
import type { Queryable } from '../db/pool.ts';
import { ROLES, type Grant } from './caller.ts';
import { setUser } from '../auth/sessions.ts';

export interface UserView {
  subject: string;
  name: string;
  patient: boolean;
  lastLoginAt: string | null;
  grants: Grant[];
}

export async function listUsers(db: Queryable): Promise<UserView[]> {
  const rows = (
    await db.query(
      `SELECT u.subject, u.name, u.pid_hash IS NOT NULL AS patient, u.last_login_at,
       coalesce(jsonb_agg(jsonb_build_object('registry', g.registry, 'role', g.role, 'unit', g.unit) ORDER BY g.registry, g.role, g.unit) FILTER (WHERE g.subject IS NOT NULL), '[]') AS grants
     FROM app_user u LEFT JOIN user_grant g ON g.subject = u.subject GROUP BY u.subject ORDER BY u.name`,
    )
  ).rows;
  return rows.map((r) => ({
    subject: r.subject,
    name: r.name,
    patient: r.patient,
    lastLoginAt: r.last_login_at ? new Date(r.last_login_at).toISOString() : null,
    grants: r.grants,
  }));
}

/** Replaces a person's grants; names what is wrong with any of them. */
export async function setGrants(
  db: Queryable,
  subject: string,
  grants: unknown,
  known: { registries: string[]; units: (resh: string) => boolean },
): Promise<string[]> {
  const problems: string[] = [];
  const list: Grant[] = [];
  if (!Array.isArray(grants)) return ['give {"grants": [{"registry", "role", "unit"}, ...]}'];
  for (const [i, g] of grants.entries()) {
    const { registry, role, unit } = (g ?? {}) as Record<string, unknown>;
    if (typeof registry !== 'string' || (registry !== '*' && !known.registries.includes(registry)))
      problems.push(`grants[${i}].registry: "${String(registry)}" is not a registry (or *)`);
    if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role) || role === 'patient')
      problems.push(`grants[${i}].role: "${String(role)}" cannot be granted`);
    if (typeof unit !== 'string' || !known.units(unit)) problems.push(`grants[${i}].unit: "${String(unit)}" is not a unit`);
    if (!problems.length) list.push({ registry: registry as string, role: role as Grant['role'], unit: unit as string });
  }
  if (problems.length) return problems;
  const name = (await db.query('SELECT name FROM app_user WHERE subject = $1', [subject])).rows[0]?.name;
  if (!name) return [`no person with subject "${subject}"`];
  await setUser(db, { subject, name, grants: list });
  // Sessions carry the grant chosen at login: a removed grant must not live on in one.
  await db.query('DELETE FROM user_session WHERE subject = $1', [subject]);
  return [];
}
