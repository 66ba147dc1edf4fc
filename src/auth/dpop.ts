// DPoP (RFC 9449): an access token bound to a key its holder proves, request by request, to hold.
// HelseID issues such tokens; a token copied from a log or a proxy is then worth nothing without
// the client's private key. This module checks one proof for one request; the token side (the
// `cnf.jkt` binding) is checked by tokens.ts. Signatures and thumbprints are jose's.
import crypto from 'node:crypto';
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, jwtVerify, type JWK } from 'jose';
import { KvalregError } from '../errors.ts';

/** The request a proof must be for: its method and its URL as the client addressed it (the public URL). */
export interface DpopRequest {
  method: string;
  url: string;
}

/** How far a proof's `iat` may lie from our clock (seconds): proofs are made for one request, now. */
const MAX_SKEW_SECONDS = 60;
/** Asymmetric algorithms only (RFC 9449 §4.2: `none` and MACs are not allowed). */
const ALGORITHMS = ['ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'RS256', 'RS384', 'RS512', 'EdDSA'];

export class DpopError extends KvalregError {
  constructor(message: string) {
    super('unauthenticated', message);
  }
}

/**
 * Checks DPoP proofs; remembers each proof's `jti` for as long as the proof could be accepted, so a
 * proof captured with its token cannot be sent again (RFC 9449 §11.1). The memory is per process:
 * behind several server processes a replay to another process within the skew window is not caught
 * here, the binding to the key still is.
 */
export class DpopVerifier {
  private readonly seen = new Map<string, number>();

  /** The proof's key thumbprint, when `proof` is a valid proof of `accessToken` for `request`; otherwise throws why not. */
  async verify(proof: string | undefined, accessToken: string, request: DpopRequest): Promise<string> {
    if (!proof) throw new DpopError('the DPoP header with a proof is missing');
    if (proof.split('.').length !== 3) throw new DpopError('the DPoP header is not a signed JWT');
    let header;
    try {
      header = decodeProtectedHeader(proof);
    } catch {
      throw new DpopError("the DPoP proof's header cannot be read");
    }
    const jwk = header.jwk as JWK | undefined;
    if (header.typ !== 'dpop+jwt') throw new DpopError("the DPoP proof's typ is not dpop+jwt");
    if (!jwk || typeof jwk !== 'object') throw new DpopError('the DPoP proof carries no public key (jwk)');
    if ('d' in jwk || 'p' in jwk || 'k' in jwk) throw new DpopError("the DPoP proof's jwk must be a public key");
    let payload;
    try {
      ({ payload } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: ALGORITHMS }));
    } catch (err) {
      throw new DpopError(`the DPoP proof's signature does not verify (${(err as Error).message})`);
    }
    const now = Math.floor(Date.now() / 1000);
    if (typeof payload.iat !== 'number' || Math.abs(now - payload.iat) > MAX_SKEW_SECONDS)
      throw new DpopError(`the DPoP proof's iat is missing or more than ${MAX_SKEW_SECONDS} seconds from now`);
    if (payload.htm !== request.method) throw new DpopError(`the DPoP proof is for ${String(payload.htm)}, not ${request.method}`);
    if (typeof payload.htu !== 'string' || normalise(payload.htu) !== normalise(request.url))
      throw new DpopError(`the DPoP proof is for ${String(payload.htu)}, not ${normalise(request.url)}`);
    const ath = crypto.createHash('sha256').update(accessToken).digest('base64url');
    if (payload.ath !== ath) throw new DpopError('the DPoP proof is not for this access token (ath)');
    if (typeof payload.jti !== 'string' || !payload.jti) throw new DpopError('the DPoP proof has no jti');
    this.forgetOld(now);
    const key = `${await calculateJwkThumbprint(jwk)}:${payload.jti}`;
    if (this.seen.has(key)) throw new DpopError('the DPoP proof was used before: make a new proof for every request');
    this.seen.set(key, now + 2 * MAX_SKEW_SECONDS);
    return calculateJwkThumbprint(jwk);
  }

  private forgetOld(now: number): void {
    if (this.seen.size < 1000) return;
    for (const [k, until] of this.seen) if (until < now) this.seen.delete(k);
    // A flood of distinct valid proofs (they cost the sender a signature each) is bounded too.
    if (this.seen.size > 100_000)
      for (const k of this.seen.keys()) {
        this.seen.delete(k);
        if (this.seen.size <= 100_000) break;
      }
  }
}

/** The URL without query and fragment, scheme and host in lower case, default port dropped (RFC 9449 §4.3, RFC 3986 §6.2.2–3). */
function normalise(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return url;
  }
}
