// Who is logged in by a browser: the session cookie's names, the CSRF header a state-changing
// request on a session must carry, and what the request learns while its caller is established
// (app.ts). The login routes themselves are in routes/auth.ts.
import type { FastifyRequest } from 'fastify';
import type { ResolvedSession } from '../auth/sessions.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set when the caller was authenticated by a session cookie (not a bearer token). */
    session?: { id: string; resolved: ResolvedSession };
    /** Why a session cookie did not authenticate, to say so in the 401. */
    sessionProblem?: 'expired' | 'unknown';
    /** Why a bearer token did not authenticate ("expired on …", "revoked"), to say so in the 401. */
    tokenProblem?: string;
    /** Why a token presented with (or needing) DPoP was refused: the whole message for the caller. */
    tokenRefusal?: string;
  }
}

export interface CookieNames {
  session: string;
  flow: string;
}

export function cookieNames(secure: boolean): CookieNames {
  // The __Host- prefix (Secure, Path=/, no Domain) stops sibling hosts from planting cookies.
  return secure
    ? { session: '__Host-kvalreg_session', flow: '__Host-kvalreg_login' }
    : { session: 'kvalreg_session', flow: 'kvalreg_login' };
}

export const CSRF_HEADER = 'x-csrf-token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
export const needsCsrf = (req: FastifyRequest) => !!req.session && !SAFE_METHODS.has(req.method);

/**
 * Subjects from the patients' provider are kept apart from personnel's: the same `sub` at two
 * providers is two people, and a patient login never picks up grants given to a HelseID subject.
 */
export const PATIENT_SUBJECT_PREFIX = 'patient:';
