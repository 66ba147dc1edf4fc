// Bearer tokens for sending systems and API users. Only a SHA-256 of each token is stored.
// (OpenID Connect login and OAuth2 client credentials build on the same Caller model.)
import crypto from 'node:crypto';
import type { Queryable } from '../db/pool.ts';
import type { Caller, Grant } from './caller.ts';

export async function createToken(db: Queryable, t: { name: string; kind: 'system' | 'user'; sender?: string; grants?: Grant[]; personHash?: Buffer }): Promise<string> {
  const token = `kvr_${crypto.randomBytes(24).toString('base64url')}`;
  await db.query('INSERT INTO api_token (token_sha256, name, kind, sender, grants, nin_hash) VALUES ($1, $2, $3, $4, $5, $6)',
    [sha(token), t.name, t.kind, t.sender ?? null, JSON.stringify(t.grants ?? []), t.personHash ?? null]);
  return token;
}

function sha(token: string): Buffer { return crypto.createHash('sha256').update(token).digest(); }

export class TokenAuthenticator {
  private readonly cache = new Map<string, { caller: Caller; at: number }>();
  constructor(private readonly db: Queryable, private readonly ttlMs = 60_000) {}

  async authenticate(header: string | undefined): Promise<Caller | null> {
    const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
    if (!m) return null;
    const hit = this.cache.get(m[1]);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.caller;
    const row = (await this.db.query("SELECT name, kind, sender, grants, encode(nin_hash, 'hex') AS person_hash FROM api_token WHERE token_sha256 = $1", [sha(m[1])])).rows[0];
    if (!row) return null;
    const caller: Caller = row.kind === 'system'
      ? { kind: 'system', sender: row.sender, name: row.name }
      : { kind: 'user', user: row.name, name: row.name, grants: row.grants, ...(row.person_hash ? { personHash: row.person_hash } : {}) };
    this.cache.set(m[1], { caller, at: Date.now() });
    return caller;
  }
}
