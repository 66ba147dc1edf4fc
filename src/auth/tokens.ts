// Bearer tokens for sending systems and API users. Only a SHA-256 of each token is stored.
// (OpenID Connect login and OAuth2 client credentials build on the same Caller model.)
import crypto from 'node:crypto';
import type { Queryable } from '../db/pool.ts';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { Caller, Grant } from '../access/caller.ts';
import { DpopError, DpopVerifier, type DpopRequest } from './dpop.ts';

/** How long a token lives when its issuer does not say: a sending system's token is rotated yearly, a person's quarterly. */
export const DEFAULT_TOKEN_DAYS = { system: 365, user: 90 } as const;
/** No token lives longer than this: a token that outlives its holder's role is a door left open. */
export const MAX_TOKEN_DAYS = 5 * 365;

export async function createToken(
  db: Queryable,
  t: { name: string; kind: 'system' | 'user'; sender?: string; grants?: Grant[]; personHash?: Buffer; expiresAt?: Date },
): Promise<string> {
  const token = `kvr_${crypto.randomBytes(24).toString('base64url')}`;
  const expiresAt = t.expiresAt ?? new Date(Date.now() + DEFAULT_TOKEN_DAYS[t.kind] * 86_400_000);
  await db.query(
    'INSERT INTO api_token (token_sha256, name, kind, sender, grants, nin_hash, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
    [sha(token), t.name, t.kind, t.sender ?? null, JSON.stringify(t.grants ?? []), t.personHash ?? null, expiresAt],
  );
  return token;
}

/** Revokes tokens at once (by the token itself, or every live token with a name); returns the names revoked. */
export async function revokeTokens(db: Queryable, by: { token: string } | { name: string }): Promise<string[]> {
  const res =
    'token' in by
      ? await db.query('UPDATE api_token SET revoked_at = now() WHERE token_sha256 = $1 AND revoked_at IS NULL RETURNING name', [
          sha(by.token),
        ])
      : await db.query('UPDATE api_token SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL RETURNING name', [by.name]);
  return res.rows.map((r) => r.name as string);
}

export interface TokenInfo {
  name: string;
  kind: string;
  sender: string | null;
  createdAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
}

/** Every token issued: who it is for and whether it still works (never the token). */
export async function listTokens(db: Queryable): Promise<TokenInfo[]> {
  const res = await db.query('SELECT name, kind, sender, created_at, expires_at, revoked_at FROM api_token ORDER BY created_at');
  return res.rows.map((r) => ({
    name: r.name,
    kind: r.kind,
    sender: r.sender,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
  }));
}

function sha(token: string): Buffer {
  return crypto.createHash('sha256').update(token).digest();
}

export interface OAuthSettings {
  issuer: string;
  jwksUrl: string;
  audience: string;
  scope: string;
  /** Refuse the issuer's access tokens that are not DPoP-bound (HelseID's profile for sending systems). */
  requireDpop?: boolean;
}

/** What a request presents: its Authorization header, its DPoP proof, and the request the proof must be for. */
export interface Presented {
  authorization: string | undefined;
  dpop?: string | undefined;
  request?: DpopRequest;
}

/** Why a bearer token did not authenticate, when the caller should be told (they hold the token). */
export type TokenProblem = 'expired' | 'revoked' | 'dpop';
export type TokenCheck =
  { caller: Caller; problem?: undefined } | { caller: null; problem?: TokenProblem; expiredAt?: Date; message?: string };

export class TokenAuthenticator {
  /**
   * Verified OAuth2 access tokens (a signature check costs more than a look-up): until they expire.
   * The client behind one is still looked up on every request, like a table token, so that a
   * client removed, or a token revoked, stops working at once.
   */
  private readonly verified = new Map<string, { clientId: string; until: number; jkt: string | undefined }>();
  private readonly dpop = new DpopVerifier();
  private readonly jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  constructor(
    private readonly db: Queryable,
    private readonly oauth?: OAuthSettings,
  ) {
    this.jwks = oauth ? createRemoteJWKSet(new URL(oauth.jwksUrl)) : undefined;
  }

  /** Tokens that matched nothing recently: answered without a database look-up (guessing must stay cheap for us). */
  private readonly refused = new Map<string, number>();

  async authenticate(header: string | undefined): Promise<Caller | null> {
    return (await this.check(header)).caller;
  }

  /**
   * The caller a token stands for, or why it does not stand for one. `Authorization: Bearer` or
   * `Authorization: DPoP` (RFC 9449): a DPoP-bound token counts only under the DPoP scheme with a
   * fresh proof, for this request, by the key it is bound to.
   */
  async check(presented: string | undefined | Presented): Promise<TokenCheck> {
    const p: Presented = typeof presented === 'object' ? presented : { authorization: presented };
    const m = /^(Bearer|DPoP)\s+(\S{1,4096})$/i.exec(p.authorization ?? '');
    if (!m) return { caller: null };
    const scheme = m[1].toLowerCase() === 'dpop' ? 'dpop' : 'bearer';
    const token = m[2];
    const refusedUntil = this.refused.get(token);
    if (refusedUntil && Date.now() < refusedUntil) return { caller: null };
    if (scheme === 'dpop' && !(this.jwks && token.split('.').length === 3)) {
      return {
        caller: null,
        problem: 'dpop',
        message:
          'Only the access tokens of the configured issuer can be DPoP-bound; send a token issued by the registry as "Authorization: Bearer <token>".',
      };
    }
    const found = this.jwks && token.split('.').length === 3 ? await this.fromJwt(token, scheme, p) : await this.fromTable(token);
    // Only unknown tokens are remembered: an expired or revoked one stays a database look-up, so
    // that it can be told why.
    if (!found.caller && !found.problem) remember(this.refused, token, Date.now() + 30_000);
    return found;
  }

  /**
   * A token issued by `kvalreg token`: looked up on every request (one primary-key read, as a
   * browser session is), so that expiry and revocation hold at once in every server process.
   */
  private async fromTable(token: string): Promise<TokenCheck> {
    const row = (
      await this.db.query(
        `SELECT name, kind, sender, grants, encode(nin_hash, 'hex') AS person_hash, expires_at, revoked_at IS NOT NULL AS revoked, expires_at <= now() AS expired
       FROM api_token WHERE token_sha256 = $1`,
        [sha(token)],
      )
    ).rows[0];
    if (!row) return { caller: null };
    if (row.revoked) return { caller: null, problem: 'revoked' };
    if (row.expired) return { caller: null, problem: 'expired', expiredAt: row.expires_at };
    const caller: Caller =
      row.kind === 'system'
        ? { kind: 'system', sender: row.sender, name: row.name }
        : { kind: 'user', user: row.name, name: row.name, grants: row.grants, ...(row.person_hash ? { personHash: row.person_hash } : {}) };
    return { caller };
  }

  /** An OAuth2 client-credentials access token: signed by the issuer, for us, with our scope, from a registered client. */
  private async fromJwt(token: string, scheme: 'bearer' | 'dpop', presented: Presented): Promise<TokenCheck> {
    let clientId: string;
    let jkt: string | undefined;
    const known = this.verified.get(token);
    if (known && Date.now() < known.until) {
      ({ clientId, jkt } = known);
    } else {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, this.jwks!, {
          issuer: this.oauth!.issuer,
          audience: this.oauth!.audience,
          algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'],
          requiredClaims: ['exp', 'iat'],
        }));
      } catch {
        this.verified.delete(token);
        return { caller: null }; // wrong signature, issuer, audience, or expired: the caller gets 401
      }
      // RFC 9068 has scope as a space-separated string; HelseID sends a JSON array. Both are read.
      const scopes = Array.isArray(payload.scope) ? payload.scope.map(String) : String(payload.scope ?? '').split(' ');
      if (!scopes.includes(this.oauth!.scope)) return { caller: null };
      if (typeof payload.client_id !== 'string') return { caller: null };
      clientId = payload.client_id;
      const cnf = payload.cnf as { jkt?: unknown } | undefined;
      jkt = typeof cnf?.jkt === 'string' ? cnf.jkt : undefined;
      // Remembered no longer than the token is valid.
      remember(this.verified, token, { clientId, jkt, until: (payload.exp ?? 0) * 1000 });
    }
    // The binding is checked on every request: a cached token is no excuse for a missing proof.
    if (jkt) {
      if (scheme !== 'dpop')
        return {
          caller: null,
          problem: 'dpop',
          message:
            'This access token is DPoP-bound: send it as "Authorization: DPoP <token>" with a DPoP proof made for this request (RFC 9449).',
        };
      try {
        const thumbprint = await this.dpop.verify(presented.dpop, token, presented.request ?? { method: '', url: '' });
        if (thumbprint !== jkt)
          return {
            caller: null,
            problem: 'dpop',
            message: 'The DPoP proof is signed by another key than the one the access token is bound to.',
          };
      } catch (err) {
        if (err instanceof DpopError) return { caller: null, problem: 'dpop', message: `The DPoP proof was refused: ${err.message}.` };
        throw err;
      }
    } else if (scheme === 'dpop') {
      return { caller: null, problem: 'dpop', message: 'This access token is not DPoP-bound: send it as "Authorization: Bearer <token>".' };
    } else if (this.oauth!.requireDpop) {
      return {
        caller: null,
        problem: 'dpop',
        message:
          'This platform accepts only DPoP-bound access tokens from its issuer: ask for the token with a DPoP proof (RFC 9449) and send it as "Authorization: DPoP <token>".',
      };
    }
    const row = (await this.db.query('SELECT name, sender, registries FROM api_client WHERE client_id = $1', [clientId])).rows[0];
    if (!row) return { caller: null };
    return {
      caller: { kind: 'system', sender: row.sender, name: row.name, ...(row.registries.length ? { registries: row.registries } : {}) },
    };
  }
}

export async function registerClient(
  db: Queryable,
  c: { clientId: string; name: string; sender: string; orgnr?: string; registries?: string[] },
): Promise<void> {
  await db.query(
    `INSERT INTO api_client (client_id, name, sender, orgnr, registries) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (client_id) DO UPDATE SET name = EXCLUDED.name, sender = EXCLUDED.sender, orgnr = EXCLUDED.orgnr, registries = EXCLUDED.registries`,
    [c.clientId, c.name, c.sender, c.orgnr ?? null, c.registries ?? []],
  );
}

/** A bounded cache: past its size, the oldest entries go. */
function remember<V>(map: Map<string, V>, key: string, value: V, max = 10_000): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > max)
    for (const k of map.keys()) {
      map.delete(k);
      if (map.size <= max) break;
    }
}
