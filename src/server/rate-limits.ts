// Which budget a request spends. The web app's own files and page views are never refused (a page
// that cannot load cannot say why); open data read without credentials has a generous budget per
// address, since a whole hospital may reach the platform from one address; anything else without
// valid credentials (a wrong token, a protected route) keeps the strict budget that makes guessing
// tokens slow; valid credentials have a budget per caller.
import type { FastifyRequest } from 'fastify';
import { callerLabel } from '../access/caller.ts';
import type { Config } from '../config.ts';

const WEB_ROUTES = new Set(['/', '/*', '/assets/*']);

/** The app's files and pages: not counted. */
export function isWebAppRequest(req: FastifyRequest): boolean {
  return (
    (req.method === 'GET' || req.method === 'HEAD') &&
    WEB_ROUTES.has(req.routeOptions.url ?? '') &&
    !req.url.startsWith('/api') &&
    !req.url.startsWith('/fhir') &&
    !req.url.startsWith('/auth')
  );
}

/** A read of open data without credentials. */
function isPublicRead(req: FastifyRequest): boolean {
  const access = req.routeOptions.config?.access;
  return (req.method === 'GET' || req.method === 'HEAD') && !req.headers.authorization && !!access && 'public' in access;
}

export function rateLimitKey(req: FastifyRequest): string {
  if (req.caller) return `caller:${callerLabel(req.caller)}`;
  return isPublicRead(req) ? `read:${req.ip}` : `ip:${req.ip}`;
}

export function rateLimitMax(
  config: Pick<Config, 'rateLimitPerMinute' | 'anonymousRateLimitPerMinute' | 'publicRateLimitPerMinute'>,
  key: string,
): number {
  const max = key.startsWith('caller:')
    ? config.rateLimitPerMinute
    : key.startsWith('read:')
      ? config.publicRateLimitPerMinute
      : config.anonymousRateLimitPerMinute;
  return max || 1e12;
}

/** The answer to a request over its budget, in both languages, with when to try again. */
export function rateLimitMessage(max: number, after: string): string {
  return `For mange forespørsler: høyst ${max} i minuttet. Vent litt og prøv igjen (om ${after}). / Too many requests: at most ${max} a minute. Retry after ${after}.`;
}
