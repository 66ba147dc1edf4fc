// People and their browser sessions. Who a person is comes from the identity provider; what they
// may do comes from our own user store (grants per registry, role and unit, keyed by subject). A
// session resolves to the same Caller as a bearer token, carrying only the grant the person has
// chosen as active, so every route and the data-access door treat both alike.
//
// Only the SHA-256 of a session id is stored. Sessions expire when idle and at an absolute limit.
// The CSRF token of a session is an HMAC of its id with a key derived from the platform's keys:
// nothing to store, and it cannot be computed without the (HttpOnly) session id.
import crypto from 'node:crypto';
import type { Queryable } from '../db/pool.ts';
import type { IdentityKeys } from '../identity/crypto.ts';
import { openText, sealText } from '../identity/crypto.ts';
import { ROLES, type Caller, type Grant, type Role } from '../access/caller.ts';

/** A patient's grant: every registry, the nation as unit; RLS binds them to their own person. */
export const PATIENT_GRANT: Grant = { registry: '*', role: 'patient', unit: '1' };
const STAFF_ROLES: readonly Role[] = ROLES.filter((r) => r !== 'patient');
const rank = (r: Role) => STAFF_ROLES.indexOf(r);

export interface SessionUser {
  subject: string;
  name: string;
  pidHash: Buffer | null;
  grants: Grant[];
}

export interface ResolvedSession {
  caller: Caller & { kind: 'user' };
  user: SessionUser;
  active: Grant;
  /** Every grant the person may switch to (staff grants, and the patient role with a pid). */
  grants: Grant[];
  csrfToken: string;
  expiresAt: Date;
}

export type SessionLookup = { ok: true; session: ResolvedSession } | { ok: false; reason: 'unknown' | 'expired' };

const sha = (s: string) => crypto.createHash('sha256').update(s).digest();
const sameGrant = (a: Grant, b: Grant) => a.registry === b.registry && a.role === b.role && a.unit === b.unit;

export function isStaffRole(role: string): role is Role {
  return (STAFF_ROLES as readonly string[]).includes(role);
}

/** The grants a person may use: their staff grants, and with a national identity number, the patient role. */
export function availableGrants(user: Pick<SessionUser, 'grants' | 'pidHash'>): Grant[] {
  return [...user.grants, ...(user.pidHash ? [PATIENT_GRANT] : [])];
}

export class Sessions {
  private readonly csrfKey: Buffer;
  constructor(
    private readonly db: Queryable,
    private readonly keys: IdentityKeys,
    readonly settings: { idleMinutes: number; maxHours: number },
  ) {
    this.csrfKey = Buffer.from(crypto.hkdfSync('sha256', keys.hashKey, Buffer.alloc(0), 'kvalreg session csrf', 32));
  }

  /** Records who logged in (name and pid hash may change at the provider) and returns them with their grants. */
  async upsertUser(subject: string, name: string, pidHash: Buffer | null): Promise<SessionUser> {
    await this.db.query(
      `INSERT INTO app_user (subject, name, pid_hash, last_login_at) VALUES ($1, $2, $3, now())
       ON CONFLICT (subject) DO UPDATE SET name = EXCLUDED.name, pid_hash = EXCLUDED.pid_hash, last_login_at = now()`,
      [subject, name, pidHash],
    );
    return { subject, name, pidHash, grants: await this.grantsOf(subject) };
  }

  async grantsOf(subject: string): Promise<Grant[]> {
    const rows = (
      await this.db.query('SELECT registry, role, unit FROM user_grant WHERE subject = $1 ORDER BY role, registry, unit', [subject])
    ).rows;
    // Order: the most capable role first, so a new session starts in it.
    return rows.map((r) => ({ registry: r.registry, role: r.role as Role, unit: r.unit })).sort((a, b) => rank(a.role) - rank(b.role));
  }

  /** Starts a session; returns the session id for the cookie (never stored). */
  async create(user: SessionUser, active: Grant, idToken: string | undefined, client: string | null): Promise<string> {
    const id = crypto.randomBytes(32).toString('base64url');
    await this.db.query(
      `INSERT INTO user_session (id_sha256, subject, active_registry, active_role, active_unit, id_token_enc, client, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(hours => $8))`,
      [
        sha(id),
        user.subject,
        active.registry,
        active.role,
        active.unit,
        idToken ? sealText(this.keys, idToken) : null,
        client,
        this.settings.maxHours,
      ],
    );
    // Old sessions are removed as new ones start: no timer needed.
    await this.db.query('DELETE FROM user_session WHERE expires_at < now() OR last_seen_at < now() - make_interval(mins => $1)', [
      this.settings.idleMinutes,
    ]);
    return id;
  }

  async resolve(id: string): Promise<SessionLookup> {
    if (!/^[A-Za-z0-9_-]{20,100}$/.test(id)) return { ok: false, reason: 'unknown' };
    const row = (
      await this.db.query(
        `SELECT s.subject, s.active_registry, s.active_role, s.active_unit, s.expires_at,
              s.expires_at > now() AND s.last_seen_at > now() - make_interval(mins => $2) AS live,
              s.last_seen_at < now() - interval '30 seconds' AS stale, u.name, u.pid_hash
       FROM user_session s JOIN app_user u USING (subject) WHERE s.id_sha256 = $1`,
        [sha(id), this.settings.idleMinutes],
      )
    ).rows[0];
    if (!row) return { ok: false, reason: 'unknown' };
    if (!row.live) {
      await this.db.query('DELETE FROM user_session WHERE id_sha256 = $1', [sha(id)]);
      return { ok: false, reason: 'expired' };
    }
    // Idle expiry counts from the last request; written at most twice a minute.
    if (row.stale) await this.db.query('UPDATE user_session SET last_seen_at = now() WHERE id_sha256 = $1', [sha(id)]);
    const user: SessionUser = { subject: row.subject, name: row.name, pidHash: row.pid_hash, grants: await this.grantsOf(row.subject) };
    const grants = availableGrants(user);
    const stored: Grant = { registry: row.active_registry, role: row.active_role, unit: row.active_unit };
    // A grant withdrawn since the session started is no longer usable: fall back to another, or end.
    const active = grants.find((g) => sameGrant(g, stored)) ?? grants[0];
    if (!active) {
      await this.db.query('DELETE FROM user_session WHERE id_sha256 = $1', [sha(id)]);
      return { ok: false, reason: 'expired' };
    }
    const caller: Caller & { kind: 'user' } = {
      kind: 'user',
      user: row.subject,
      name: row.name,
      grants: [active],
      ...(active.role === 'patient' && row.pid_hash ? { personHash: (row.pid_hash as Buffer).toString('hex') } : {}),
    };
    return { ok: true, session: { caller, user, active, grants, csrfToken: this.csrfToken(id), expiresAt: row.expires_at } };
  }

  csrfToken(id: string): string {
    return crypto.createHmac('sha256', this.csrfKey).update(id).digest('base64url');
  }

  checkCsrf(id: string, token: string | undefined): boolean {
    if (!token) return false;
    const want = Buffer.from(this.csrfToken(id));
    const got = Buffer.from(token);
    return got.length === want.length && crypto.timingSafeEqual(got, want);
  }

  /** Makes one of the person's grants the active one; false when it is not theirs. */
  async switchTo(id: string, grant: Grant, grants: Grant[]): Promise<boolean> {
    if (!grants.some((g) => sameGrant(g, grant))) return false;
    await this.db.query('UPDATE user_session SET active_registry = $2, active_role = $3, active_unit = $4 WHERE id_sha256 = $1', [
      sha(id),
      grant.registry,
      grant.role,
      grant.unit,
    ]);
    return true;
  }

  /** Ends the session; returns the provider's ID token (for RP-initiated logout), if one was kept. */
  async end(id: string): Promise<{ ended: boolean; idToken?: string }> {
    const row = (await this.db.query('DELETE FROM user_session WHERE id_sha256 = $1 RETURNING id_token_enc', [sha(id)])).rows[0];
    if (!row) return { ended: false };
    return { ended: true, ...(row.id_token_enc ? { idToken: openText(this.keys, row.id_token_enc) } : {}) };
  }

  // ---- login flows in progress ----

  async startFlow(f: { state: string; nonce: string; codeVerifier: string; returnTo: string }): Promise<string> {
    const id = crypto.randomBytes(24).toString('base64url');
    await this.db.query('DELETE FROM login_flow WHERE expires_at < now()');
    await this.db.query(
      `INSERT INTO login_flow (id_sha256, state, nonce, code_verifier, return_to, expires_at) VALUES ($1, $2, $3, $4, $5, now() + interval '10 minutes')`,
      [sha(id), f.state, f.nonce, f.codeVerifier, f.returnTo],
    );
    return id;
  }

  /** The flow of this cookie, used once: it is removed as it is read. */
  async takeFlow(id: string | undefined): Promise<{ state: string; nonce: string; codeVerifier: string; returnTo: string } | null> {
    if (!id) return null;
    const row = (
      await this.db.query(
        'DELETE FROM login_flow WHERE id_sha256 = $1 AND expires_at > now() RETURNING state, nonce, code_verifier, return_to',
        [sha(id)],
      )
    ).rows[0];
    return row ? { state: row.state, nonce: row.nonce, codeVerifier: row.code_verifier, returnTo: row.return_to } : null;
  }
}

// ---- the user store, for administration (CLI) and the demo ----

export function parseGrant(spec: string): Grant {
  const [registry, role, unit, ...rest] = spec.split(':');
  if (!registry || !role || !unit || rest.length)
    throw new Error(`grant "${spec}" must be registry:role:unit, e.g. <registry id>:unit-registrar:<RESH id> ('*' as registry for all)`);
  if (!isStaffRole(role))
    throw new Error(
      `grant "${spec}": unknown role "${role}"; roles: ${STAFF_ROLES.join(', ')} (patients get their role from the pid claim at login)`,
    );
  return { registry, role, unit };
}

/** Creates or updates a user and replaces their grants. */
export async function setUser(db: Queryable, u: { subject: string; name: string; grants: Grant[] }): Promise<void> {
  for (const g of u.grants)
    if (!isStaffRole(g.role)) throw new Error(`role "${g.role}" cannot be granted; roles: ${STAFF_ROLES.join(', ')}`);
  await db.query('INSERT INTO app_user (subject, name) VALUES ($1, $2) ON CONFLICT (subject) DO UPDATE SET name = EXCLUDED.name', [
    u.subject,
    u.name,
  ]);
  await db.query('DELETE FROM user_grant WHERE subject = $1', [u.subject]);
  for (const g of u.grants) {
    await db.query('INSERT INTO user_grant (subject, registry, role, unit) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [
      u.subject,
      g.registry,
      g.role,
      g.unit,
    ]);
  }
}
