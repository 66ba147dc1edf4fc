// Bearer tokens for sending systems and API users. Only a SHA-256 of each token is stored.
// (OpenID Connect login and OAuth2 client credentials build on the same Caller model.)
import crypto from 'node:crypto';
import type { Queryable } from '../db/pool.ts';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { Caller, Grant } from './caller.ts';

export async function createToken(db: Queryable, t: { name: string; kind: 'system' | 'user'; sender?: string; grants?: Grant[]; personHash?: Buffer }): Promise<string> {
  const token = `kvr_${crypto.randomBytes(24).toString('base64url')}`;
  await db.query('INSERT INTO api_token (token_sha256, name, kind, sender, grants, nin_hash) VALUES ($1, $2, $3, $4, $5, $6)',
    [sha(token), t.name, t.kind, t.sender ?? null, JSON.stringify(t.grants ?? []), t.personHash ?? null]);
  return token;
}

function sha(token: string): Buffer { return crypto.createHash('sha256').update(token).digest(); }

export interface OAuthSettings { issuer: string; jwksUrl: string; audience: string; scope: string }

export class TokenAuthenticator {
  private readonly cache = new Map<string, { caller: Caller; until: number }>();
  private readonly jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  constructor(private readonly db: Queryable, private readonly oauth?: OAuthSettings, private readonly ttlMs = 60_000) {
    this.jwks = oauth ? createRemoteJWKSet(new URL(oauth.jwksUrl)) : undefined;
  }

  /** Tokens that failed recently: answered without a database look-up (guessing must stay cheap for us). */
  private readonly refused = new Map<string, number>();

  async authenticate(header: string | undefined): Promise<Caller | null> {
    const m = /^Bearer\s+(\S{1,4096})$/i.exec(header ?? '');
    if (!m) return null;
    const hit = this.cache.get(m[1]);
    if (hit && Date.now() < hit.until) return hit.caller;
    const refusedUntil = this.refused.get(m[1]);
    if (refusedUntil && Date.now() < refusedUntil) return null;
    const caller = this.jwks && m[1].split('.').length === 3 ? await this.fromJwt(m[1]) : await this.fromTable(m[1]);
    if (!caller) remember(this.refused, m[1], Date.now() + 30_000);
    return caller;
  }

  private async fromTable(token: string): Promise<Caller | null> {
    const row = (await this.db.query("SELECT name, kind, sender, grants, encode(nin_hash, 'hex') AS person_hash FROM api_token WHERE token_sha256 = $1", [sha(token)])).rows[0];
    if (!row) return null;
    const caller: Caller = row.kind === 'system'
      ? { kind: 'system', sender: row.sender, name: row.name }
      : { kind: 'user', user: row.name, name: row.name, grants: row.grants, ...(row.person_hash ? { personHash: row.person_hash } : {}) };
    remember(this.cache, token, { caller, until: Date.now() + this.ttlMs });
    return caller;
  }

  /** An OAuth2 client-credentials access token: signed by the issuer, for us, with our scope, from a registered client. */
  private async fromJwt(token: string): Promise<Caller | null> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.jwks!, {
        issuer: this.oauth!.issuer, audience: this.oauth!.audience,
        algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'], requiredClaims: ['exp', 'iat'],
      }));
    } catch {
      return null; // wrong signature, issuer, audience, or expired: the caller gets 401
    }
    const scopes = String(payload.scope ?? '').split(' ');
    if (!scopes.includes(this.oauth!.scope)) return null;
    if (typeof payload.client_id !== 'string') return null;
    const clientId = payload.client_id;
    const row = (await this.db.query('SELECT name, sender, registries FROM api_client WHERE client_id = $1', [clientId])).rows[0];
    if (!row) return null;
    const caller: Caller = { kind: 'system', sender: row.sender, name: row.name, ...(row.registries.length ? { registries: row.registries } : {}) };
    // Cached no longer than the token is valid.
    remember(this.cache, token, { caller, until: Math.min(Date.now() + this.ttlMs, (payload.exp ?? 0) * 1000) });
    return caller;
  }
}

export async function registerClient(db: Queryable, c: { clientId: string; name: string; sender: string; orgnr?: string; registries?: string[] }): Promise<void> {
  await db.query(
    `INSERT INTO api_client (client_id, name, sender, orgnr, registries) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (client_id) DO UPDATE SET name = EXCLUDED.name, sender = EXCLUDED.sender, orgnr = EXCLUDED.orgnr, registries = EXCLUDED.registries`,
    [c.clientId, c.name, c.sender, c.orgnr ?? null, c.registries ?? []]);
}

/** A bounded cache: past its size, the oldest entries go. */
function remember<V>(map: Map<string, V>, key: string, value: V, max = 10_000): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) for (const k of map.keys()) { map.delete(k); if (map.size <= max) break; }
}
